/**
 * describeNetworkFailure: a failed connection to a server the gateway asks (backend, management
 * server), as the operator needs it: what happened, and what to change. Pure: it reads the
 * error's code, never the network.
 */
export interface Diagnosis {
  readonly problem: string;
  readonly fix: string;
}

const CERTIFICATE_NOT_TRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
]);

/** The error code undici or Node gives, looking through wrappers (`cause`). */
export function errorCodeOf(error: unknown): string | undefined {
  let current = error;
  for (let depth = 0; current instanceof Error && depth < 5; depth += 1) {
    const code = (current as NodeJS.ErrnoException).code;
    if (typeof code === 'string') return code;
    current = current.cause;
  }
  return undefined;
}

/** `setting` is the configuration section that names the server (`backend`, `upstream`). */
export function describeNetworkFailure(error: unknown, origin: string, setting: string): Diagnosis {
  const code = errorCodeOf(error) ?? 'error';
  const message = error instanceof Error ? error.message : String(error);
  if (CERTIFICATE_NOT_TRUSTED.has(code)) {
    return { problem: `${origin}: its TLS certificate is not trusted (${code})`, fix: `set ${setting}.tls.ca to the CA that signed it` };
  }
  if (code === 'CERT_HAS_EXPIRED') return { problem: `${origin}: its TLS certificate has expired`, fix: 'renew the server\'s certificate' };
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return { problem: `${origin}: its TLS certificate does not name this host`, fix: `use the host name its certificate is for in ${setting}.url` };
  }
  if (code === 'ECONNREFUSED') return { problem: `${origin} refuses connections (nothing listens there)`, fix: `start it, or correct ${setting}.url` };
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return { problem: `${origin}: the host name does not resolve (${code})`, fix: `correct ${setting}.url` };
  if (/TIMEOUT/i.test(code)) return { problem: `${origin} did not answer in time (${code})`, fix: `check that it runs and that no firewall drops the connection; ${setting}.url` };
  if (code === 'EPROTO' || /wrong version number|packet length too long/i.test(message)) {
    return { problem: `${origin}: TLS handshake failed (${code}); does it speak ${origin.startsWith('https:') ? 'plain HTTP' : 'HTTPS'}?`, fix: `use the scheme the server speaks in ${setting}.url` };
  }
  return { problem: `${origin} unreachable (${code}: ${message})`, fix: `check that it runs and ${setting}.url` };
}
