/**
 * KatelloClient: the three calls the gateway makes to the management server (contract,
 * "Calls the gateway makes to upstream"): a user's token, a user's repositories, a host's
 * repositories. undici keep-alive pool, one timeout on every call. A dead server answers
 * UpstreamUnavailable; a refusal UpstreamRejected; a broken answer UpstreamFailed.
 */
import type { Dispatcher } from 'undici';
import type { GatewayConfig } from '../config/compiled.js';
import { createPeerPool } from './peer-pool.js';
import { CircuitBreaker } from './circuit-breaker.js';
import { UpstreamFailed, UpstreamNotConfigured, UpstreamRejected, UpstreamUnavailable } from './errors.js';

const MAX_BODY_BYTES = 16 * 1024 * 1024;

export interface UpstreamToken {
  readonly kind: 'token';
  readonly token: string;
  readonly expiresInSeconds: number | undefined;
  /** issued_at from the body, else the response Date, else undefined. */
  readonly issuedAt: Date | undefined;
}

/**
 * Katello's token endpoint (registry_proxies_controller.rb `token`) answers
 * `{"token":"unauthenticated"}` whenever it decides no user is needed (no `account` and no
 * `scope`, or a scope naming a repository with unauthenticated pull), whatever the credentials;
 * older Katellos answered a bad password with `{"token":"unauthorized"}`. Neither is a token,
 * so a login ends in a user's token or one of those placeholders, short of an error.
 */
export type UpstreamLogin = UpstreamToken | { readonly kind: 'unauthenticated' } | { readonly kind: 'unauthorized' };

export interface UpstreamClient {
  /**
   * Asks for the user's own token: `account` only, never the client's scopes, so Katello always
   * authenticates the user (a public repository in the scope would make it answer
   * "unauthenticated" whatever the password). The gateway decides scopes itself.
   */
  login(authorization: string, account: string): Promise<UpstreamLogin>;
  catalogForUser(authorization: string): Promise<string[]>;
  catalogForHost(uuid: string): Promise<string[]>;
  /** Whether the management server answers at all (for /readyz and `check`). */
  ping(timeoutMs: number): Promise<{ ok: boolean; detail: string }>;
  close(): Promise<void>;
}

export function createKatelloClient(config: GatewayConfig['upstream']): UpstreamClient {
  const base = config.url;
  if (base === null) {
    const unconfigured = async (): Promise<never> => {
      throw new UpstreamNotConfigured('no management server is configured (upstream.url)');
    };
    return {
      login: unconfigured,
      catalogForUser: unconfigured,
      catalogForHost: unconfigured,
      ping: async () => ({ ok: false, detail: 'not configured' }),
      close: async () => undefined,
    };
  }
  const pool = createPeerPool(base.origin, { tls: config.tls, timeoutMs: config.timeoutMs, connections: 16 });
  const pathOf = (endpoint: string) => `${base.pathname.replace(/\/$/, '')}${config.registryPath}${endpoint}`;

  async function call(path: string, headers: Record<string, string>): Promise<{ status: number; json: unknown; date: string | undefined }> {
    let response: Dispatcher.ResponseData;
    try {
      response = await pool.request({ path, method: 'GET', headers: { accept: 'application/json', ...headers }, signal: AbortSignal.timeout(config.timeoutMs) });
    } catch (error) {
      throw new UpstreamUnavailable(`management server unreachable: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    const text = await readText(response);
    const dateHeader = response.headers.date;
    const date = Array.isArray(dateHeader) ? dateHeader[0] : dateHeader;
    if (response.statusCode === 401 || response.statusCode === 403) throw new UpstreamRejected(`management server refused the credentials (${response.statusCode})`);
    if (response.statusCode !== 200) throw new UpstreamFailed(`management server answered HTTP ${response.statusCode}`, undefined, response.statusCode);
    try {
      return { status: response.statusCode, json: JSON.parse(text) as unknown, date };
    } catch {
      throw new UpstreamFailed('management server answered with something that is not JSON');
    }
  }

  async function catalog(headers: Record<string, string>): Promise<string[]> {
    const { json } = await call(pathOf('_catalog'), headers);
    const repositories = (json as { repositories?: unknown } | null)?.repositories;
    if (repositories === null || repositories === undefined) return [];
    if (!Array.isArray(repositories) || !repositories.every((name): name is string => typeof name === 'string')) {
      throw new UpstreamFailed('management server answered a malformed catalog');
    }
    return repositories;
  }

  const breaker = new CircuitBreaker({
    failureThreshold: config.circuitBreaker.failures,
    firstProbeMs: config.circuitBreaker.probeSeconds * 1000,
    maxProbeMs: Math.max(config.circuitBreaker.probeSeconds, config.circuitBreaker.openSeconds) * 1000,
  });

  return {
    login: (authorization, account) => breaker.run(() => login(authorization, account)),
    catalogForUser: (authorization) => breaker.run(() => catalog({ authorization })),
    catalogForHost: (uuid) => breaker.run(() => catalog({ hostuuid: uuid })),
    async ping(timeoutMs) {
      try {
        const response = await pool.request({ path: pathOf('token'), method: 'GET', signal: AbortSignal.timeout(timeoutMs) });
        await response.body.dump();
        return { ok: response.statusCode < 500, detail: `answered with ${response.statusCode}; circuit ${breaker.state}` };
      } catch (error) {
        return { ok: false, detail: `unreachable: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}` };
      }
    },
    close: () => pool.close(),
  };

  async function login(authorization: string, account: string): Promise<UpstreamLogin> {
    const { json, date } = await call(`${pathOf('token')}?${new URLSearchParams({ account }).toString()}`, { authorization });
    const body = (json ?? {}) as { token?: unknown; access_token?: unknown; expires_in?: unknown; issued_at?: unknown };
    const token = typeof body.token === 'string' ? body.token : typeof body.access_token === 'string' ? body.access_token : undefined;
    if (token === undefined || token === '') throw new UpstreamFailed('management server answered without a token');
    if (token === 'unauthenticated' || token === 'unauthorized') return { kind: token };
    const expiresIn = typeof body.expires_in === 'number' && Number.isFinite(body.expires_in) && body.expires_in > 0 ? body.expires_in : undefined;
    return { kind: 'token', token, expiresInSeconds: expiresIn, issuedAt: parseDate(body.issued_at) ?? parseDate(date) };
  }
}

function parseDate(value: unknown): Date | undefined {
  if (typeof value !== 'string') return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

async function readText(response: Dispatcher.ResponseData): Promise<string> {
  let size = 0;
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of response.body) {
      size += (chunk as Buffer).length;
      if (size > MAX_BODY_BYTES) {
        response.body.destroy();
        throw new UpstreamFailed('management server answered with a body that is too large');
      }
      chunks.push(chunk as Buffer);
    }
  } catch (error) {
    if (error instanceof UpstreamFailed) throw error;
    throw new UpstreamUnavailable(`management server connection failed: ${(error as Error).message}`);
  }
  return Buffer.concat(chunks).toString('utf8');
}
