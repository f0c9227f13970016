/**
 * fake-katello.ts — a small, faithful stand-in for the Katello registry endpoints that a smart-proxy
 * container gateway calls (Katello's Api::Registry::RegistryProxiesController, as reached by
 * smart_proxy_container_gateway's ForemanApi), on 127.0.0.1 only.
 *
 * Contract (registryPath defaults to "/v2/"):
 *  - `GET {registryPath}token?account=&scope=&service=`
 *      Authorization: Basic base64(user:pass), known user, right password
 *        → 200 {"token": <fresh random opaque string per call>, "expires_in": <expiresIn, default 300>,
 *               "issued_at": <RFC 3339 now>}
 *      Basic with a wrong password / unknown user, or any other Authorization scheme
 *        → badPasswordStyle '401' (default): 401 with a Basic challenge and a JSON error;
 *          badPasswordStyle 'unauthorized-token': 200 {"token":"unauthorized"} (what some Katello versions do)
 *      no Authorization → 200 {"token":"unauthenticated"}
 *  - `GET {registryPath}_catalog`
 *      with `HostUUID: <uuid>` → {"repositories": [that host's names]}, unknown host → [] (any Authorization is
 *        ignored: the smart proxy sends this one with its own client certificate instead)
 *      with Basic for a known user → {"repositories": [that user's names]}
 *      wrong credentials, or neither header → 401
 *    Counted as `hostCatalog` when a HostUUID header is present, else `catalog`.
 *  - anything else → 404 (405 for a non-GET on a known path), JSON error body.
 *  - Every answer carries `Docker-Distribution-API-Version: registry/2.0` and `Content-Type: application/json`.
 *  - Users and hosts are mutable at runtime (`setUser`, `removeUser`, `setHost`, `removeHost`); options are
 *    too (`setOptions`). Repository lists are copied in and out, so callers cannot alias internal state.
 *  - `setMode(mode)` (resolves once in effect):
 *      'up'          — normal; if the listener was closed it listens again on the same port
 *      'down-refuse' — closes the listening socket and every open connection: new connections are refused
 *      'error-500'   — answers every request 500 with a JSON error
 *      'hang'        — reads the request and never answers (the socket stays open until the client gives up,
 *                      the mode changes back — hung requests are then destroyed — or `stop()`)
 *  - `calls` counts requests that reached a handler, per kind, in every mode except down-refuse (nothing
 *    arrives then); `requests` logs each one (method, path, query, hasAuthorization, hasHostUuid, the user
 *    name from a Basic header, the mode and the status; never the password or the header itself).
 *    `resetCounts()` zeroes both in place. `issuedTokens` lists every real token handed out.
 *  - Answers immediately unless `latencyMs` > 0 (applied before every answer, in every mode but hang).
 *  - `stop()` closes the listener and all connections; idempotent.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type FakeKatelloMode = 'up' | 'down-refuse' | 'error-500' | 'hang';
export type BadPasswordStyle = '401' | 'unauthorized-token';

export interface FakeKatelloOptions {
  /** How a wrong password (or unknown user) is answered at `token`. Default '401'. */
  badPasswordStyle?: BadPasswordStyle;
  /** `expires_in` of issued tokens, seconds. Default 300. */
  expiresIn?: number;
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
  /** Every real token issued, in order (not the 'unauthorized'/'unauthenticated' strings). */
  readonly issuedTokens: string[];
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

function rfc3339Now(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
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
    expiresIn: options.expiresIn ?? 300,
    latencyMs: options.latencyMs ?? 0,
  };
  const users = new Map<string, { password: string; repositories: string[] }>();
  for (const [name, user] of Object.entries(options.users ?? {})) {
    users.set(name, { password: user.password, repositories: [...user.repositories] });
  }
  const hosts = new Map<string, string[]>();
  for (const [uuid, repositories] of Object.entries(options.hosts ?? {})) hosts.set(uuid, [...repositories]);

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
  const unauthorized = (res: http.ServerResponse, entry: FakeKatelloRequest): void =>
    sendError(res, entry, 401, 'UNAUTHORIZED', 'authentication required', {
      'WWW-Authenticate': 'Basic realm="Katello"',
    });

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

    if (kind === 'other') return sendError(res, entry, 404, 'NOT_FOUND', `no route for ${target.pathname}`);
    if (method !== 'GET') return sendError(res, entry, 405, 'UNSUPPORTED', `${method} not allowed here`);

    if (kind === 'token') {
      if (authorization === undefined) return send(res, entry, 200, { token: 'unauthenticated' });
      if (knownUser(credentials) === undefined) {
        if (settings.badPasswordStyle === 'unauthorized-token') return send(res, entry, 200, { token: 'unauthorized' });
        return unauthorized(res, entry);
      }
      const token = randomBytes(32).toString('base64url');
      issuedTokens.push(token);
      return send(res, entry, 200, { token, expires_in: settings.expiresIn, issued_at: rfc3339Now() });
    }
    if (kind === 'hostCatalog') {
      return send(res, entry, 200, { repositories: [...(hosts.get(hostUuid ?? '') ?? [])] });
    }
    const user = knownUser(credentials);
    if (user === undefined) return unauthorized(res, entry);
    return send(res, entry, 200, { repositories: [...user.repositories] });
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
    setUser(name, password, repositories) {
      users.set(name, { password, repositories: [...repositories] });
    },
    removeUser(name) {
      users.delete(name);
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
