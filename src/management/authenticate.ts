/**
 * Who may call the management API: a bearer secret from management.tokens (compared in constant
 * time against every configured secret, so timing reveals neither which nor how much matched),
 * or a verified TLS client certificate whose CN is in management.clientCertCNs.
 */
import type { TLSSocket } from 'node:tls';
import type { FastifyRequest } from 'fastify';
import { secretsEqual } from '../token/checksum.js';

export interface ManagementCaller {
  readonly via: 'token' | 'certificate';
  readonly name: string;
}

export function authenticateManagement(request: FastifyRequest, tokens: readonly string[], certificateNames: readonly string[]): ManagementCaller | undefined {
  const header = request.headers.authorization;
  const match = header === undefined ? null : /^Bearer +(\S+) *$/i.exec(header);
  if (match?.[1] !== undefined) {
    const presented = match[1];
    let matched = -1;
    tokens.forEach((token, index) => {
      if (secretsEqual(presented, token) && matched === -1) matched = index;
    });
    if (matched !== -1) return { via: 'token', name: `token #${matched + 1}` };
  }
  if (certificateNames.length > 0) {
    const socket = request.raw.socket as Partial<TLSSocket>;
    if (socket.encrypted === true && socket.authorized === true && typeof socket.getPeerCertificate === 'function') {
      const cn = socket.getPeerCertificate().subject?.CN;
      const name = Array.isArray(cn) ? cn[0] : cn;
      if (typeof name === 'string' && certificateNames.includes(name)) return { via: 'certificate', name };
    }
  }
  return undefined;
}
