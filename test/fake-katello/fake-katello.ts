/**
 * fake-katello.ts — a stand-in for the Katello endpoints a smart-proxy container gateway talks to,
 * on 127.0.0.1 only, written from Katello's own code:
 *  - the registry endpoints smart_proxy_container_gateway's ForemanApi calls
 *    (app/controllers/katello/api/registry/registry_proxies_controller.rb `token`, `catalog`,
 *    `optional_authorize`, `require_user_authorization?`, `find_scope_repository`,
 *    `authenticate_from_request`; Foreman's Api::BaseController#authorize for Basic credentials);
 *  - the sync pushes Katello makes to the proxy are in katello-sync.ts
 *    (app/models/katello/concerns/smart_proxy_extensions.rb `sync_container_gateway`).
 *
 * Token (`GET {registryPath}token?account=&scope=`), as registry_proxies_controller.rb answers:
 *  - `scope` (the last one, as Rails reads a repeated key) is exactly `repository:NAME:pull` and NAME is
 *    public (in an environment with registry_unauthenticated_pull): no authentication,
 *    200 {"token":"unauthenticated","expires_in":180,"issued_at":now} — whatever the credentials.
 *  - no `scope` and no `account`: the same "unauthenticated" answer, credentials or not.
 *  - otherwise Foreman's `authorize`: Basic credentials of a known user, else 401
 *    {"error":{"message":"Unable to authenticate user NAME"}} (badPasswordStyle 'unauthorized-token':
 *    200 {"token":"unauthorized"}, what older Katellos answered). A known user gets their one
 *    PersonalAccessToken named "registry", created once and reused: each login moves its expiry to
 *    now + expiresIn; the answer is {token, expires_in: expires_at - created_at, issued_at: created_at}.
 * Catalog (`GET {registryPath}_catalog`), as `catalog` after `authenticate_from_request`:
 *  - Basic of a known user, or `Bearer <that user's live token>` → the user's repositories plus the
 *    public ones (readable_docker_catalog_as); wrong Basic → 401.
 *  - `HostUUID: <uuid>` of a known host → exactly that host's repositories (readable_docker_catalog(host)).
 *  - anything else (an unknown host, no credentials) → the public repositories.
 *    Counted as `hostCatalog` when a HostUUID header is present, else `catalog`.
 * Anything else → 404 (405 for a non-GET on a known path). Every answer is JSON with
 * `Docker-Distribution-API-Version: registry/2.0`.
 *
 * Test controls: users, hosts and public repositories change at runtime (`setUser`, `removeUser`,
 * `setHost`, `removeHost`, `setPublic`); `revokeToken(user)` drops a user's token; options change with
 * `setOptions`. `setMode`: 'up' | 'down-refuse' (listener and connections closed) | 'error-500' |
 * 'hang' (requests never answered until the mode changes or `stop()`). `calls` counts requests per
 * kind, `requests` logs each (never a password or a header value but the user name and HostUUID),
 * `issuedTokens` lists each token created; `resetCounts()` empties them in place. `latencyMs` delays
 * every answer. `stop()` is idempotent.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type FakeKatelloMode = 'up' | 'down-refuse' | 'error-500' | 'hang';
export type BadPasswordStyle = '401' | 'unauthorized-token';

export interface FakeKatelloOptions {
  /** How a wrong password (or unknown user) is answered at `token`. Default '401'. */
  badPasswordStyle?: BadPasswordStyle;
  /** Katello's registry_token_expiration_minutes, in seconds. Default 3600 (Katello's 60 minutes). */
  expiresIn?: number;
  /** Repositories in lifecycle environments with unauthenticated pull. */
  publicRepositories?: string[];
  /** Artificial delay before each answer, ms. Default 0 (answer instantly). */
  latencyMs?: number;
  /** Default '/v2/'. Must start and end with '/'. */
  registryPath?: string;
  /** Initial users: name → { password, repositories }. */
  users?: Record<string, { password: string; repositories: string[] }>;
  /** Initial hosts: uuid → repositories. */
  hosts?: Record<string, string[]>;
}

export interface FakeKatelloCalls {
  token: number;
  catalog: number;
  hostCatalog: number;
}

export type FakeKatelloRequestKind = keyof FakeKatelloCalls | 'other';

export interface FakeKatelloRequest {
  kind: FakeKatelloRequestKind;
  method: string;
  /** Path without the query string. */
  path: string;
  /** Decoded query parameters; a repeated parameter (e.g. `scope`) becomes an array. */
  query: Record<string, string | string[]>;
  hasAuthorization: boolean;
  hasHostUuid: boolean;
  /** User name from a Basic Authorization header, when there was one that decoded. Never the password. */
  user?: string;
  /** HostUUID header value, when present. */
  hostUuid?: string;
  /** Mode when the request arrived. */
  mode: FakeKatelloMode;
  /** Status answered; undefined while unanswered (hang). */
  status?: number;
}

export interface FakeKatello {
  /** http://127.0.0.1:PORT (no trailing slash); stays the same across setMode('down-refuse') / 'up'. */
  readonly url: string;
  readonly port: number;
  readonly registryPath: string;
  readonly mode: FakeKatelloMode;
  /** Live object, zeroed in place by resetCounts(). */
  readonly calls: FakeKatelloCalls;
  /** Live array, emptied in place by resetCounts(). */
  readonly requests: FakeKatelloRequest[];
  /** Every token created, in order (not the 'unauthorized'/'unauthenticated' strings; a reused token once). */
  readonly issuedTokens: string[];
  /** Repository names Katello has, sorted: the public ones and every user's and host's. */
  repositories(): string[];
  isPublic(repository: string): boolean;
  /** Users in Katello's order, with the repositories each may read besides the public ones. */
  users(): Array<{ name: string; repositories: string[] }>;
  /** Hosts (subscription facets) and the repositories of their content view environments. */
  hosts(): Array<{ uuid: string; repositories: string[] }>;
  setPublic(repositories: readonly string[]): void;
  /** Drops the user's PersonalAccessToken: the next login creates a new one. */
  revokeToken(user: string): void;
  setUser(name: string, password: string, repositories: readonly string[]): void;
  removeUser(name: string): void;
  setHost(uuid: string, repositories: readonly string[]): void;
  removeHost(uuid: string): void;
  setOptions(options: Pick<FakeKatelloOptions, 'badPasswordStyle' | 'expiresIn' | 'latencyMs'>): void;
  setMode(mode: FakeKatelloMode): Promise<void>;
  resetCounts(): void;
  stop(): Promise<void>;
}

const JSON_HEADERS = {
  'Content-Type': 'application/json; charset=utf-8',
  'Docker-Distribution-API-Version': 'registry/2.0',
} as const;

function zeroCalls(): FakeKatelloCalls {
  return { token: 0, catalog: 0, hostCatalog: 0 };
}

function parseQuery(params: URLSearchParams): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {};
  for (const [key, value] of params) {
    const previous = query[key];
    if (previous === undefined) query[key] = value;
    else if (Array.isArray(previous)) previous.push(value);
    else query[key] = [previous, value];
  }
  return query;
}

function singleHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

interface BasicCredentials {
  user: string;
  password: string;
}

/** Decodes `Basic base64(user:pass)`; undefined for any other scheme or a malformed value. */
function parseBasic(header: string | undefined): BasicCredentials | undefined {
  if (header === undefined) return undefined;
  const match = /^Basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(header);
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Rails reads a repeated plain query key as its last value. */
function lastValue(params: URLSearchParams, key: string): string | undefined {
  const all = params.getAll(key);
  return all[all.length - 1];
}

/** ActiveSupport's `blank?` for a query value. */
function blank(value: string | undefined): boolean {
  return value === undefined || value.trim() === '';
}

/** Katello's PersonalAccessToken "registry" of one user. */
interface PersonalToken {
  readonly token: string;
  readonly createdAt: number;
  expiresAt: number;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function startFakeKatello(options: FakeKatelloOptions = {}): Promise<FakeKatello> {
  const registryPath = options.registryPath ?? '/v2/';
  if (!registryPath.startsWith('/') || !registryPath.endsWith('/')) {
    throw new Error(`registryPath must start and end with "/": ${registryPath}`);
  }
  const settings = {
    badPasswordStyle: options.badPasswordStyle ?? ('401' as BadPasswordStyle),
    expiresIn: options.expiresIn ?? 3600,
    latencyMs: options.latencyMs ?? 0,
  };
  const users = new Map<string, { password: string; repositories: string[] }>();
  for (const [name, user] of Object.entries(options.users ?? {})) {
    users.set(name, { password: user.password, repositories: [...user.repositories] });
  }
  const hosts = new Map<string, string[]>();
  for (const [uuid, repositories] of Object.entries(options.hosts ?? {})) hosts.set(uuid, [...repositories]);
  let publicRepositories = new Set(options.publicRepositories ?? []);
  const personalTokens = new Map<string, PersonalToken>();
  const allRepositories = (): string[] => {
    const names = new Set(publicRepositories);
    for (const user of users.values()) for (const name of user.repositories) names.add(name);
    for (const list of hosts.values()) for (const name of list) names.add(name);
    return [...names].sort();
  };

  const calls = zeroCalls();
  const requests: FakeKatelloRequest[] = [];
  const issuedTokens: string[] = [];
  let mode: FakeKatelloMode = 'up';
  const sockets = new Set<Socket>();
  const hung = new Set<http.ServerResponse>();

  const send = (res: http.ServerResponse, entry: FakeKatelloRequest, status: number, body: unknown, extra: Record<string, string> = {}): void => {
    const text = JSON.stringify(body);
    entry.status = status;
    res.writeHead(status, { ...JSON_HEADERS, ...extra, 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  };
  const sendError = (res: http.ServerResponse, entry: FakeKatelloRequest, status: number, code: string, message: string, extra: Record<string, string> = {}): void =>
    send(res, entry, status, { errors: [{ code, message }] }, extra);
  // Foreman's Api::BaseController#authorize: render_error('unauthorized') → api/v2/errors/unauthorized.json.
  const unauthorized = (res: http.ServerResponse, entry: FakeKatelloRequest, login: string | undefined): void =>
    send(res, entry, 401, { error: { message: `Unable to authenticate user ${login ?? ''}`.trim() } });

  const knownUser = (credentials: BasicCredentials | undefined): { repositories: string[] } | undefined => {
    if (credentials === undefined) return undefined;
    const user = users.get(credentials.user);
    return user !== undefined && user.password === credentials.password ? user : undefined;
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const target = new URL(req.url ?? '/', 'http://fake-katello.invalid');
    const method = req.method ?? 'GET';
    const authorization = singleHeader(req.headers.authorization);
    const hostUuid = singleHeader(req.headers.hostuuid);
    const credentials = parseBasic(authorization);
    const kind: FakeKatelloRequestKind =
      target.pathname === `${registryPath}token`
        ? 'token'
        : target.pathname === `${registryPath}_catalog`
          ? hostUuid !== undefined
            ? 'hostCatalog'
            : 'catalog'
          : 'other';
    const entry: FakeKatelloRequest = {
      kind,
      method,
      path: target.pathname,
      query: parseQuery(target.searchParams),
      hasAuthorization: authorization !== undefined,
      hasHostUuid: hostUuid !== undefined,
      mode,
    };
    if (credentials !== undefined) entry.user = credentials.user;
    if (hostUuid !== undefined) entry.hostUuid = hostUuid;
    if (kind !== 'other') calls[kind]++;
    requests.push(entry);

    if (mode === 'hang') {
      hung.add(res);
      res.on('close', () => hung.delete(res));
      return;
    }
    if (settings.latencyMs > 0) await delay(settings.latencyMs);
    if (res.destroyed) return;
    if (mode === 'error-500') return sendError(res, entry, 500, 'INTERNAL_ERROR', 'fake Katello: switched to error-500');

    // Error bodies in the registry's shape: registry_proxies_controller.rb answers its own errors
    // through render_podman_error ({"errors":[{"code","message"}]}). The gateway reads only the
    // status of these; an unrouted path in real Foreman gets its routing error instead.
    if (kind === 'other') return sendError(res, entry, 404, 'NOT_FOUND', `no route for ${target.pathname}`);
    if (method !== 'GET') return sendError(res, entry, 405, 'UNSUPPORTED', `${method} not allowed here`);

    if (kind === 'token') {
      // registry_proxies_controller.rb: find_scope_repository, optional_authorize, require_user_authorization?, token.
      const scope = lastValue(target.searchParams, 'scope');
      const account = lastValue(target.searchParams, 'account');
      const scopeParts = (scope ?? '').split(':');
      const scopeRepository = scopeParts[2] === 'pull' && allRepositories().includes(scopeParts[1] ?? '') ? scopeParts[1] : undefined;
      const noOneAsked = blank(scope) && blank(account);
      const publicScope = scopeRepository !== undefined && publicRepositories.has(scopeRepository);
      if (publicScope || noOneAsked) return send(res, entry, 200, { token: 'unauthenticated', expires_in: 180, issued_at: rfc3339(Date.now()) });
      const user = knownUser(credentials);
      if (user === undefined || credentials === undefined) {
        if (settings.badPasswordStyle === 'unauthorized-token') return send(res, entry, 200, { token: 'unauthorized' });
        return unauthorized(res, entry, credentials?.user);
      }
      const now = Date.now();
      let personal = personalTokens.get(credentials.user);
      if (personal === undefined) {
        personal = { token: randomBytes(32).toString('base64url'), createdAt: now, expiresAt: now };
        personalTokens.set(credentials.user, personal);
        issuedTokens.push(personal.token);
      }
      personal.expiresAt = now + settings.expiresIn * 1000;
      return send(res, entry, 200, { token: personal.token, expires_in: Math.floor((personal.expiresAt - personal.createdAt) / 1000), issued_at: rfc3339(personal.createdAt) });
    }
    // registry_proxies_controller.rb `catalog` after `authenticate_from_request`.
    const bearer = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1];
    let reader: { repositories: string[] } | undefined;
    if (credentials !== undefined) {
      reader = knownUser(credentials);
      if (reader === undefined) return unauthorized(res, entry, credentials.user);
    } else if (bearer !== undefined) {
      const owner = [...personalTokens.entries()].find(([, personal]) => personal.token === bearer && personal.expiresAt > Date.now())?.[0];
      reader = owner === undefined ? undefined : users.get(owner);
    } else if (kind === 'hostCatalog') {
      const host = hosts.get(hostUuid ?? '');
      if (host !== undefined) return send(res, entry, 200, { repositories: [...host] });
    }
    const readable = new Set([...(reader?.repositories ?? []), ...publicRepositories]);
    return send(res, entry, 200, { repositories: allRepositories().filter((name) => readable.has(name)) });
  };

  const server = http.createServer((req, res) => {
    // Drain the request body (none expected) so keep-alive clients stay in sync.
    req.resume();
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, JSON_HEADERS);
      res.end(JSON.stringify({ errors: [{ code: 'INTERNAL_ERROR', message: String(err) }] }));
    });
  });
  server.keepAliveTimeout = 5_000;
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });

  const listen = (port: number): Promise<number> =>
    new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.removeListener('error', reject);
        resolve((server.address() as AddressInfo).port);
      });
    });
  const closeListener = (): Promise<void> =>
    new Promise<void>((resolve) => {
      if (!server.listening) {
        for (const socket of sockets) socket.destroy();
        resolve();
        return;
      }
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    });
  const releaseHung = (): void => {
    for (const res of hung) res.destroy();
    hung.clear();
  };

  const port = await listen(0);
  let stopping: Promise<void> | undefined;
  let modeChange: Promise<void> = Promise.resolve();

  const fake: FakeKatello = {
    url: `http://127.0.0.1:${port}`,
    port,
    registryPath,
    get mode(): FakeKatelloMode {
      return mode;
    },
    calls,
    requests,
    issuedTokens,
    repositories: allRepositories,
    isPublic: (repository) => publicRepositories.has(repository),
    users: () => [...users.entries()].map(([name, user]) => ({ name, repositories: [...user.repositories] })),
    hosts: () => [...hosts.entries()].map(([uuid, repositories]) => ({ uuid, repositories: [...repositories] })),
    setPublic(repositories) {
      publicRepositories = new Set(repositories);
    },
    revokeToken(user) {
      personalTokens.delete(user);
    },
    setUser(name, password, repositories) {
      users.set(name, { password, repositories: [...repositories] });
    },
    removeUser(name) {
      users.delete(name);
      personalTokens.delete(name);
    },
    setHost(uuid, repositories) {
      hosts.set(uuid, [...repositories]);
    },
    removeHost(uuid) {
      hosts.delete(uuid);
    },
    setOptions(next) {
      if (next.badPasswordStyle !== undefined) settings.badPasswordStyle = next.badPasswordStyle;
      if (next.expiresIn !== undefined) settings.expiresIn = next.expiresIn;
      if (next.latencyMs !== undefined) settings.latencyMs = next.latencyMs;
    },
    setMode(next) {
      // Serialized, so rapid up/down/up switches cannot interleave listen and close.
      modeChange = modeChange.then(async () => {
        if (stopping !== undefined) throw new Error('fake Katello is stopped');
        const previous = mode;
        mode = next;
        if (previous === 'hang' && next !== 'hang') releaseHung();
        if (next === 'down-refuse') {
          releaseHung();
          await closeListener();
        } else if (!server.listening) {
          await listen(port);
        }
      });
      return modeChange;
    },
    resetCounts() {
      Object.assign(calls, zeroCalls());
      requests.length = 0;
      issuedTokens.length = 0;
    },
    stop() {
      stopping ??= modeChange
        .catch(() => undefined)
        .then(async () => {
          releaseHung();
          await closeListener();
        });
      return stopping;
    },
  };
  return fake;
}
