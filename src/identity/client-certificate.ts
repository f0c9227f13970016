/**
 * Host identity from a client certificate (a Red Hat Subscription Manager consumer certificate,
 * subject CN = host UUID), either from our own TLS connection or — only when the request comes
 * from a configured trusted proxy — from the `X-RHSM-SSL-Client-Cert` / `SSL_CLIENT_CERT` header
 * a TLS-terminating Apache or nginx sets (nginx: `$ssl_client_escaped_cert`; Node refuses
 * tab-folded header values). A certificate that does not verify against server.tls.clientCa
 * (or server.proxyClientCa for headers), or is outside its validity period, identifies nobody.
 */
import { X509Certificate } from 'node:crypto';
import type { BlockList } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { FastifyRequest } from 'fastify';
import { isTrustedPeer } from '../http/trusted-peer.js';

export const CERTIFICATE_HEADERS = ['x-rhsm-ssl-client-cert', 'ssl_client_cert', 'ssl-client-cert'] as const;

const HOST_UUID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export type CertificateOutcome = { kind: 'none' } | { kind: 'host'; uuid: string } | { kind: 'ignored'; reason: string };

const NONE: CertificateOutcome = { kind: 'none' };

export interface ClientCertificateOptions {
  /** The TLS listener verifies certificates against this itself (server.tls.clientCa). */
  readonly socketClientCa: Buffer | undefined;
  /** Certificates in trusted proxies' headers must chain to this, when set. */
  readonly headerClientCa: Buffer | undefined;
  readonly trustedProxies: BlockList;
  readonly hasTrustedProxies: boolean;
}

export function createCertificateReader(options: ClientCertificateOptions) {
  const caCertificates = options.headerClientCa === undefined ? [] : splitPem(options.headerClientCa.toString('utf8')).map((pem) => new X509Certificate(pem));
  // A TLS connection's certificate cannot change, so it is read once per connection.
  const perSocket = new WeakMap<object, CertificateOutcome>();

  function fromSocket(socket: Partial<TLSSocket>): CertificateOutcome {
    if (socket.encrypted !== true || typeof socket.getPeerCertificate !== 'function') return NONE;
    const cached = perSocket.get(socket);
    if (cached !== undefined) return cached;
    const peer = socket.getPeerCertificate();
    let outcome: CertificateOutcome;
    if (peer === null || peer === undefined || Object.keys(peer).length === 0) outcome = NONE;
    else if (socket.authorized !== true) outcome = { kind: 'ignored', reason: String(socket.authorizationError ?? 'not verified') };
    else outcome = hostOf(firstValue(peer.subject?.CN));
    perSocket.set(socket, outcome);
    return outcome;
  }

  function fromHeader(value: string, now: Date): CertificateOutcome {
    const pem = normalisePem(value);
    if (pem === undefined) return NONE;
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(pem);
    } catch {
      return { kind: 'ignored', reason: 'certificate header is not a parsable certificate' };
    }
    if (new Date(certificate.validFrom) > now || new Date(certificate.validTo) < now) return { kind: 'ignored', reason: 'certificate outside its validity period' };
    if (caCertificates.length > 0 && !caCertificates.some((ca) => certificate.checkIssued(ca) && certificate.verify(ca.publicKey))) {
      return { kind: 'ignored', reason: 'certificate not issued by the configured client CA' };
    }
    return hostOf(commonNameOf(certificate.subject));
  }

  return function readClientCertificate(request: FastifyRequest, now: Date): CertificateOutcome {
    const direct = fromSocket(request.raw.socket as Partial<TLSSocket>);
    if (direct.kind !== 'none') return direct;
    if (!options.hasTrustedProxies) return NONE;
    const header = CERTIFICATE_HEADERS.map((name) => request.headers[name]).find((value) => typeof value === 'string' && value !== '');
    if (typeof header !== 'string') return NONE;
    // Only the connection's own peer address counts here, never X-Forwarded-For.
    if (!isTrustedPeer(request.raw.socket.remoteAddress, options.trustedProxies)) return { kind: 'ignored', reason: 'certificate header from an untrusted address' };
    return fromHeader(header, now);
  };
}


function hostOf(cn: string | undefined): CertificateOutcome {
  if (cn === undefined) return { kind: 'ignored', reason: 'certificate has no subject CN' };
  if (!HOST_UUID.test(cn)) return { kind: 'ignored', reason: 'certificate CN is not a host UUID' };
  return { kind: 'host', uuid: cn };
}

function firstValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function commonNameOf(subject: string): string | undefined {
  for (const line of subject.split('\n')) if (line.startsWith('CN=')) return line.slice(3);
  return undefined;
}

/**
 * Apache sends the PEM with its newlines folded into spaces, nginx URL-escaped
 * ($ssl_client_escaped_cert) or with tab-indented continuation lines; all become a clean PEM.
 */
export function normalisePem(value: string): string | undefined {
  let text = value.trim();
  if (text === '' || text === '(null)') return undefined;
  if (text.includes('%')) {
    try {
      text = decodeURIComponent(text);
    } catch {
      return undefined;
    }
  }
  const match = /-----BEGIN CERTIFICATE-----([\sA-Za-z0-9+/=]+)-----END CERTIFICATE-----/.exec(text);
  if (match?.[1] === undefined) return undefined;
  const body = match[1].replace(/\s+/g, '');
  const lines = body.match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}

function splitPem(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}
