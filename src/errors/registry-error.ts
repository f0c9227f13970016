/**
 * Errors that reach the client. Handlers throw these; only the HTTP error handler
 * (http/error-handler.ts) turns them into the OCI wire format.
 */
import { OciCodes, type OciCode } from './oci-codes.js';

export class RegistryError extends Error {
  readonly code: OciCode;
  readonly status: number;
  readonly detail: unknown;
  /** Extra response headers (e.g. Retry-After); never used for secrets. */
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    code: OciCode,
    options: { message?: string; detail?: unknown; status?: number; headers?: Record<string, string> } = {},
  ) {
    const descriptor = OciCodes[code];
    // These are answers to clients, not faults: a stack trace would cost more than the request.
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(options.message ?? descriptor.message);
    Error.stackTraceLimit = stackTraceLimit;
    this.name = 'RegistryError';
    this.code = code;
    this.status = options.status ?? descriptor.status;
    this.detail = options.detail;
    this.headers = options.headers ?? {};
  }
}

/** Parameters of a `WWW-Authenticate: Bearer ...` challenge (Docker token auth spec). */
export interface ChallengeParameters {
  readonly realm: string;
  readonly service: string;
  readonly scope?: string;
  readonly error?: 'insufficient_scope' | 'invalid_token';
}

/**
 * A 401 that tells the client where to get a token. Parameter values are quoted per RFC 7235;
 * they never contain quotes because realm/service come from config and scope from a validated
 * repository name.
 */
export class Challenge extends RegistryError {
  readonly parameters: ChallengeParameters;

  constructor(parameters: ChallengeParameters, options: { message?: string; detail?: unknown } = {}) {
    super('UNAUTHORIZED', { ...options, headers: { 'www-authenticate': formatChallenge(parameters) } });
    this.name = 'Challenge';
    this.parameters = parameters;
  }
}

export function formatChallenge(parameters: ChallengeParameters): string {
  const parts = [`realm="${parameters.realm}"`, `service="${parameters.service}"`];
  if (parameters.scope !== undefined) parts.push(`scope="${parameters.scope}"`);
  if (parameters.error !== undefined) parts.push(`error="${parameters.error}"`);
  return `Bearer ${parts.join(',')}`;
}

/** The OCI error body for one error. */
export function errorBody(code: string, message: string, detail?: unknown): string {
  return JSON.stringify({ errors: [{ code, message, detail: detail ?? null }] });
}
