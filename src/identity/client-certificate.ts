/**
 * Host identity from a client certificate (a Red Hat Subscription Manager consumer certificate,
 * subject CN = host UUID), either from our own TLS connection or — only when the request comes
 * from a configured trusted proxy — from the one header server.clientCertificateHeader names,
 * which the TLS-terminating Apache (`%{SSL_CLIENT_CERT}s`, space-folded) or nginx
 * (`$ssl_client_escaped_cert`, URL-escaped; Node refuses the tab-folded `$ssl_client_cert`) sets.
 * A certificate that does not verify against server.tls.clientCa (or server.proxyClientCa for
 * headers), or is outside its validity period, identifies nobody.
 *
 * Certificates are public, and a proxy clears only the header it sets itself: a request from a
 * trusted proxy that also carries any other certificate header (other names, the same name
 * spelled with `-` for `_`), or the configured one twice, could be a client's forgery the proxy
 * passed along, so it is refused (certificateHeaderProblem) rather than read.
 */
import { X509Certificate } from 'node:crypto';
import type { BlockList } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { FastifyRequest } from 'fastify';
import { isTrustedPeer } from '../http/trusted-peer.js';

/** The default of server.clientCertificateHeader: what Katello's smart proxies send. */
export const DEFAULT_CERTIFICATE_HEADER = 'X-RHSM-SSL-Client-Cert';

/**
 * Header names proxies and load balancers put client certificates in, with `_` written as `-`
 * (Apache, nginx, Katello, pulp's certguard, Envoy, RFC 9440, AWS ALB, Azure ARR, Traefik).
 */
const KNOWN_CERTIFICATE_HEADERS: ReadonlySet<string> = new Set([
  'x-rhsm-ssl-client-cert',
  'ssl-client-cert',
  'ssl-client-escaped-cert',
  'x-ssl-client-cert',
  'x-ssl-client-escaped-cert',
  'x-ssl-cert',
  'x-client-cert',
  'x-client-certificate',
  'x-tls-client-cert',
  'client-cert',
  'client-cert-chain',
  'x-forwarded-client-cert',
  'x-forwarded-tls-client-cert',
  'x-arr-clientcert',
  'x-amzn-mtls-clientcert',
]);

const canonicalName = (name: string): string => name.toLowerCase().replaceAll('_', '-');

/** Whether a request header name is one a certificate may travel in. */
export function isCertificateHeader(name: string, configured: string): boolean {
  const canonical = canonicalName(name);
  return KNOWN_CERTIFICATE_HEADERS.has(canonical) || canonical === canonicalName(configured);
}

/**
 * Why a trusted proxy's request must not be read for a certificate: another certificate header
 * beside the configured one (by any spelling), or the configured one more than once. Pure;
 * `rawHeaders` is Node's flat [name, value, ...] list, which keeps repeats and spellings apart.
 */
export function certificateHeaderProblem(rawHeaders: readonly string[], configured: string): string | undefined {
  const wanted = configured.toLowerCase();
  let copies = 0;
  for (let index = 0; index < rawHeaders.length; index += 2) {
    const name = rawHeaders[index] ?? '';
    if (name.toLowerCase() === wanted) copies += 1;
    else if (isCertificateHeader(name, configured)) return `a client certificate may only come in the ${configured} header, not in ${name.slice(0, 64)}`;
  }
  return copies > 1 ? `the ${configured} header may appear only once` : undefined;
}

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
  /** server.clientCertificateHeader: the only header a trusted proxy's certificate is read from. */
  readonly headerName: string;
}

export function createCertificateReader(options: ClientCertificateOptions) {
  const caCertificates = options.headerClientCa === undefined ? [] : splitPem(options.headerClientCa.toString('utf8')).map((pem) => new X509Certificate(pem));
  const headerKey = options.headerName.toLowerCase();
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
    const header = request.headers[headerKey];
    if (typeof header !== 'string' || header === '') return NONE;
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
