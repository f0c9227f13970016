/**
 * toWireError: everything that can go wrong, as the one OCI error a client sees. RegistryErrors
 * pass as they are; fastify's own 4xx errors (bad JSON, body too large, bad content type) get our
 * codes; anything else is UNKNOWN/500 with no internals on the wire.
 */
import { OciCodes, type OciCode } from '../errors/oci-codes.js';
import { RegistryError } from '../errors/registry-error.js';

interface FastifyLikeError {
  readonly statusCode?: number;
  readonly code?: string;
  readonly message?: string;
}

/**
 * A database that is busy, restarting or out of connections is a temporary condition: 503 with
 * Retry-After tells clients to come back, where a 500 would tell them something is broken.
 */
const DATABASE_UNAVAILABLE = new Set(['SQLITE_BUSY', 'SQLITE_BUSY_SNAPSHOT', 'SQLITE_LOCKED', 'ECONNREFUSED', 'ECONNRESET', '57P01', '57P02', '57P03', '08000', '08001', '08003', '08006', '53300', '40001', '40P01']);

export function isDatabaseUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  const message = (error as { message?: unknown } | null)?.message;
  return (
    (typeof code === 'string' && DATABASE_UNAVAILABLE.has(code)) ||
    (typeof message === 'string' && /timeout exceeded when trying to connect|Connection terminated/i.test(message))
  );
}

export function toWireError(error: unknown): RegistryError {
  if (error instanceof RegistryError) return error;
  if (isDatabaseUnavailable(error)) {
    return new RegistryError('UNAVAILABLE', { message: 'the database is temporarily unavailable; try again', headers: { 'retry-after': '1' } });
  }
  const { statusCode, code, message } = (error ?? {}) as FastifyLikeError;
  if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
    const ociCode: OciCode =
      statusCode === 413 ? 'BODY_TOO_LARGE' : code?.startsWith('FST_ERR_CTP') === true || statusCode === 415 ? 'BODY_INVALID' : 'BAD_REQUEST';
    // Body problems are all 400, whatever was wrong with the body; other client errors keep their status.
    const status = ociCode === 'BAD_REQUEST' ? statusCode : 400;
    return new RegistryError(ociCode, { status, message: clientSafeMessage(message, OciCodes[ociCode].message) });
  }
  return new RegistryError('UNKNOWN');
}

/** Fastify's 4xx messages describe the request, not the server; still, keep them short. */
function clientSafeMessage(message: string | undefined, fallback: string): string {
  if (message === undefined || message === '') return fallback;
  return message.length > 200 ? `${message.slice(0, 200)}…` : message;
}
