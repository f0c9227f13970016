/**
 * BackendCredentials: what the gateway sends as Authorization to the backend — never the
 * client's header, only `backend.auth` (the robot credential), in the form the backend asks for.
 *
 * The backend is asked once (`GET /v2/` without credentials): a Bearer challenge means its own
 * token flow (Docker token auth: the realm answers a token for the robot's Basic credentials,
 * per scope), anything else means Basic. Tokens are kept per scope until shortly before they
 * expire; a 401 drops the scope's token so the next attempt fetches a new one.
 *
 * The credentials go only to the backend's own origin, the gateway's own token endpoint and the
 * realms the operator listed (Distribution's realmAllowed): a challenge is what the backend
 * says, and a backend that names someone else's token service must not hand them the robot.
 */
import { Agent, request as undiciRequest, type Dispatcher } from 'undici';
import { BoundedCache, stringBytes, type HasCaches } from '../caches/bounded-cache.js';
import type { GatewayConfig } from '../config/compiled.js';
import { RegistryError } from '../errors/registry-error.js';
import { BackendLocation } from './backend-location.js';

/** Renew this long before the backend token's expiry. */
const EXPIRY_MARGIN_MS = 10_000;
const DEFAULT_TOKEN_SECONDS = 60;
const MAX_TOKEN_BODY_BYTES = 64 * 1024;

export interface BackendCredentials extends HasCaches {
  /** The Authorization header for a request to the backend's own origin needing `scope`, if any. */
  authorizationFor(scope: string): string | undefined | Promise<string | undefined>;
  /** The backend answered 401 to what we sent; true when a fresh attempt may succeed. */
  refused(scope: string, challenge: string | undefined): boolean;
}

export const NO_CREDENTIALS: BackendCredentials = { authorizationFor: () => undefined, refused: () => false, caches: [] };

/** Backend tokens kept per scope (a scope names a repository, which a client can make up). */
const DEFAULT_TOKEN_CACHE_ENTRIES = 1_000;
/** Far above real tokens (Distribution's ~1 KiB JWTs, quay's); bounds the cache's bytes with the count. */
const TOKEN_CACHE_BYTES_PER_ENTRY = 8 * 1024;

interface BearerChallenge {
  readonly realm: URL;
  readonly service: string | undefined;
}

type Scheme = { readonly kind: 'basic' } | { readonly kind: 'bearer'; readonly challenge: BearerChallenge };

export interface CredentialOptions {
  readonly location: BackendLocation;
  readonly username: string;
  readonly password: string;
  /** Token services besides the backend's own origin that may receive the credentials. */
  readonly allowedRealms: readonly URL[];
  /** Backend tokens kept (one per scope); the least recently used are dropped first. */
  readonly tokenCacheEntries?: number;
  /** For the probe and the realm (which may be anywhere): the dispatcher the client uses. */
  readonly dispatcherFor: (url: URL) => Dispatcher;
  readonly timeoutMs: number;
  readonly now?: () => number;
}

export function createBackendCredentials(options: CredentialOptions): BackendCredentials {
  const basic = `Basic ${Buffer.from(`${options.username}:${options.password}`).toString('base64')}`;
  const now = options.now ?? Date.now;
  let scheme: Scheme | undefined;
  let probing: Promise<Scheme> | undefined;
  const maxEntries = options.tokenCacheEntries ?? DEFAULT_TOKEN_CACHE_ENTRIES;
  const tokens = new BoundedCache<string, { readonly header: string; readonly renewAt: number }>('backend-tokens', {
    maxEntries,
    maxBytes: maxEntries * TOKEN_CACHE_BYTES_PER_ENTRY,
    sizeOf: (value, scope) => stringBytes(value.header) + stringBytes(scope) + 64,
  });
  // Bounded by the requests in flight: one fetch per scope at a time.
  const fetching = new Map<string, Promise<string>>();

  async function probe(): Promise<Scheme> {
    const url = options.location.urlOf('/v2/');
    let response: Dispatcher.ResponseData;
    try {
      response = await undiciRequest(url, { dispatcher: options.dispatcherFor(url), headersTimeout: options.timeoutMs, bodyTimeout: options.timeoutMs });
      await response.body.dump();
    } catch {
      // Unreachable now: say Basic for this request and ask again next time.
      return { kind: 'basic' };
    }
    const challenge = response.statusCode === 401 ? parseBearerChallenge(header(response.headers['www-authenticate']), url) : undefined;
    const learned: Scheme = challenge === undefined ? { kind: 'basic' } : { kind: 'bearer', challenge };
    scheme = learned;
    return learned;
  }

  async function fetchToken(challenge: BearerChallenge, scope: string): Promise<string> {
    if (!isRealmAllowed(challenge.realm, options.location.url, options.allowedRealms)) throw realmRefused(challenge.realm);
    const url = new URL(challenge.realm);
    if (challenge.service !== undefined) url.searchParams.set('service', challenge.service);
    for (const one of scope.split(' ')) if (one !== '') url.searchParams.append('scope', one);
    url.searchParams.set('account', options.username);
    let response: Dispatcher.ResponseData;
    try {
      response = await undiciRequest(url, {
        dispatcher: options.dispatcherFor(url),
        headers: { authorization: basic, accept: 'application/json' },
        headersTimeout: options.timeoutMs,
        bodyTimeout: options.timeoutMs,
      });
    } catch {
      throw new RegistryError('BACKEND_UNREACHABLE', { message: "the backend's token service is unreachable" });
    }
    const text = await response.body.text();
    if (response.statusCode !== 200 || text.length > MAX_TOKEN_BODY_BYTES) {
      throw new RegistryError('BACKEND_ERROR', { message: `the backend's token service refused the gateway's credentials (HTTP ${response.statusCode})` });
    }
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new RegistryError('BACKEND_ERROR', { message: "the backend's token service answered something that is not JSON" });
    }
    const token = typeof body.token === 'string' && body.token !== '' ? body.token : typeof body.access_token === 'string' ? body.access_token : '';
    if (token === '') throw new RegistryError('BACKEND_ERROR', { message: "the backend's token service answered no token" });
    const seconds = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : DEFAULT_TOKEN_SECONDS;
    const header = `Bearer ${token}`;
    const keepMs = Math.max(seconds * 1000 - EXPIRY_MARGIN_MS, 1_000);
    // A token too large for the cache's bounds is used once and not kept.
    tokens.set(scope, { header, renewAt: now() + keepMs }, { ttl: keepMs });
    return header;
  }

  function bearerFor(challenge: BearerChallenge, scope: string): string | Promise<string> {
    const cached = tokens.get(scope);
    if (cached !== undefined && cached.renewAt > now()) return cached.header;
    const inFlight = fetching.get(scope);
    if (inFlight !== undefined) return inFlight;
    const started = fetchToken(challenge, scope).finally(() => fetching.delete(scope));
    fetching.set(scope, started);
    return started;
  }

  return {
    caches: [tokens],
    authorizationFor(scope) {
      const known = scheme ?? probing;
      if (known === undefined) {
        probing = probe().finally(() => (probing = undefined));
        return probing.then((learned) => (learned.kind === 'basic' ? basic : bearerFor(learned.challenge, scope)));
      }
      if (known instanceof Promise) return known.then((learned) => (learned.kind === 'basic' ? basic : bearerFor(learned.challenge, scope)));
      return known.kind === 'basic' ? basic : bearerFor(known.challenge, scope);
    },
    refused(scope, challengeHeader) {
      tokens.delete(scope);
      const challenge = parseBearerChallenge(challengeHeader, options.location.url);
      if (challenge === undefined) return false;
      // The backend speaks token auth (perhaps since a moment ago): use its realm from here on.
      scheme = { kind: 'bearer', challenge };
      return true;
    },
  };
}

/**
 * Whether a token service may receive the robot credentials: the backend's own origin, or an
 * allowed entry's origin with the same path (an entry without a path allows its whole origin).
 */
export function isRealmAllowed(realm: URL, backendUrl: URL, allowed: readonly URL[]): boolean {
  if (realm.origin === backendUrl.origin) return true;
  return allowed.some((entry) => entry.origin === realm.origin && (entry.pathname === '/' || entry.pathname === realm.pathname));
}

function realmRefused(realm: URL): RegistryError {
  const named = `${realm.origin}${realm.pathname}`;
  return new RegistryError('BACKEND_ERROR', {
    message: `the backend sends the gateway to the token service ${named}, which may not receive its credentials (not listed in backend.auth.realms)`,
    detail: { realm: named },
  });
}

/**
 * For `check`: asks the backend how it wants credentials, as the gateway would, and says
 * whether the token service its challenge names may receive them.
 */
export async function checkRobotRealm(config: GatewayConfig['backend']): Promise<{ status: 'ok' | 'FAIL'; what: string; detail: string }> {
  const url = new BackendLocation(config.url).urlOf('/v2/');
  const tls = config.tls;
  const dispatcher = new Agent({ connect: { ...(tls?.ca === undefined ? {} : { ca: tls.ca }), ...(tls?.cert === undefined ? {} : { cert: tls.cert, key: tls.key }) } });
  try {
    const response = await undiciRequest(url, { dispatcher, headersTimeout: 5_000, bodyTimeout: 5_000 });
    await response.body.dump();
    const challenge = response.statusCode === 401 ? parseBearerChallenge(header(response.headers['www-authenticate']), url) : undefined;
    if (challenge === undefined) return { status: 'ok', what: 'backend', detail: `robot credentials go to ${config.url.origin} only (Basic)` };
    const named = `${challenge.realm.origin}${challenge.realm.pathname}`;
    return isRealmAllowed(challenge.realm, config.url, config.allowedRealms)
      ? { status: 'ok', what: 'backend', detail: `robot credentials go to the token service ${named}` }
      : { status: 'FAIL', what: 'backend', detail: `the backend's token service ${named} may not receive the robot credentials. Fix: list it in backend.auth.realms if it is yours` };
  } catch (error) {
    return { status: 'FAIL', what: 'backend', detail: `${config.url.origin} unreachable: ${(error as Error).message}` };
  } finally {
    await dispatcher.close();
  }
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** `Bearer realm="...",service="...",scope="..."` → realm and service; undefined for any other scheme. */
export function parseBearerChallenge(value: string | undefined, base: URL): BearerChallenge | undefined {
  if (value === undefined || !/^bearer\s/i.test(value)) return undefined;
  const params = new Map<string, string>();
  for (const match of value.slice(7).matchAll(/([a-zA-Z_]+)="([^"]*)"/g)) params.set((match[1] ?? '').toLowerCase(), match[2] ?? '');
  const realm = params.get('realm');
  if (realm === undefined || !URL.canParse(realm, base.href)) return undefined;
  const url = new URL(realm, base);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  return { realm: url, service: params.get('service') };
}

/**
 * The token scope a backend request needs, from its API path, query and method (what the
 * backend's own challenge would name, as Distribution's appendAccessRecords does): pull for reads,
 * delete for DELETE, pull+push for other writes — plus pull on `from` for a cross-repository
 * mount — and the catalog for `_catalog`. Several scopes are space-separated.
 */
export function scopeOfBackendRequest(pathname: string, method: string, search = ''): string {
  if (pathname === '/v2/_catalog') return 'registry:catalog:*';
  const match = /^\/v2\/(.+)\/(?:manifests|blobs|tags|referrers)\//.exec(pathname);
  if (match === null) return '';
  const name = match[1] ?? '';
  if (method === 'GET' || method === 'HEAD') return `repository:${name}:pull`;
  if (method === 'DELETE' && !pathname.includes('/blobs/uploads/')) return `repository:${name}:delete`;
  const query = new URLSearchParams(search);
  const from = query.get('from');
  const mount = method === 'POST' && query.has('mount') && from !== null && from !== '' && from !== name;
  return mount ? `repository:${name}:pull,push repository:${from}:pull` : `repository:${name}:pull,push`;
}
