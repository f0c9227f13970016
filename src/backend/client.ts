/**
 * BackendClient: HTTP to the backend registry over undici, and nothing else.
 *
 * One keep-alive Pool for the backend's own origin (with the configured CA and client
 * certificate); an Agent for any other origin the backend redirects to (a content app, object
 * storage), which trusts the system roots plus the backend CA. Every call has connect, header and
 * body timeouts; a network failure becomes BACKEND_UNREACHABLE (502) and a timeout
 * BACKEND_TIMEOUT (504), so a client never hangs on a dead backend.
 */
import { Writable, type Readable } from 'node:stream';
import { rootCertificates } from 'node:tls';
import { Agent, Pool, errors as undiciErrors, type Dispatcher } from 'undici';
import type { HasCaches } from '../caches/bounded-cache.js';
import type { GatewayConfig } from '../config/compiled.js';
import { RegistryError } from '../errors/registry-error.js';
import { BackendLocation } from './backend-location.js';
import { BulkClient } from './bulk/bulk-client.js';
import { createBackendCredentials, NO_CREDENTIALS, scopeOfBackendRequest, type BackendCredentials } from './credentials.js';

export type BackendMethod = 'GET' | 'HEAD';
/** Push verbs, forwarded only for identities a provider granted push. */
export type BackendWriteMethod = 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface BackendRequest {
  readonly method: BackendMethod;
  /** Absolute URL: the backend's own, or one it redirected to. */
  readonly url: URL;
  readonly headers: Record<string, string>;
  readonly signal?: AbortSignal;
}

/** A push request: the client's body streamed through, never buffered (or a small document the gateway writes itself). */
export interface BackendWrite {
  readonly method: BackendWriteMethod | 'GET';
  readonly url: URL;
  readonly headers: Record<string, string>;
  readonly body: Readable | Buffer | null;
  readonly signal?: AbortSignal;
}

export type BackendResponse = Dispatcher.ResponseData;

/** The client's response, watched so that a client who leaves cancels the backend call. */
export interface ClientConnection {
  readonly writableFinished: boolean;
  once(event: 'close', listener: () => void): unknown;
  removeListener(event: 'close', listener: () => void): unknown;
}

export interface WholeRequest extends Omit<BackendRequest, 'signal'> {
  /** A larger body is refused (BACKEND_ERROR) instead of being read. */
  readonly maxBytes: number;
  readonly cancelWhenClosed?: ClientConnection;
  /**
   * A client-facing read that may be answered by an identical one already in flight
   * (coalescing/): never for a read the gateway modifies and writes back.
   */
  readonly shared?: boolean;
}

/** A small answer (manifest, list, error), read whole. */
export interface WholeResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

export interface BackendClient {
  /** The backend's API root (origin and base path); every registry call's URL comes from it. */
  readonly location: BackendLocation;
  /** Its bounded caches (backend tokens), for the metrics and the sweep. */
  readonly caches?: HasCaches['caches'];
  /** Streams: for blobs, whose bodies must never be held in memory. */
  send(request: BackendRequest): Promise<BackendResponse>;
  /**
   * Reads a small body whole through undici's dispatcher directly, without the stream and
   * AbortSignal machinery of `send` (a measurable share of a manifest request's cost).
   */
  fetchWhole(request: WholeRequest): Promise<WholeResponse>;
  /**
   * Streams the body straight into the Writable that `open` returns for the response's status and
   * headers (undici's `stream`: no intermediate Readable, the fastest way to move a large blob).
   */
  streamInto(request: BackendRequest, open: (statusCode: number, headers: WholeResponse['headers']) => Writable): Promise<void>;
  /** Forwards a push request (uploads, manifest PUT) with the robot credential. */
  write(request: BackendWrite): Promise<BackendResponse>;
  close(): Promise<void>;
}

export function createBackendClient(config: GatewayConfig['backend']): BackendClient {
  const tls = config.tls;
  const timeouts = {
    headersTimeout: config.timeouts.headersMs,
    bodyTimeout: config.timeouts.bodyMs,
    keepAliveTimeout: 30_000,
  };
  const location = new BackendLocation(config.url);
  const ownOrigin = location.origin;
  const pool = new Pool(ownOrigin, {
    ...timeouts,
    connections: config.connections,
    pipelining: 1,
    connect: {
      timeout: config.timeouts.connectMs,
      ...(tls?.ca === undefined ? {} : { ca: tls.ca }),
      ...(tls?.cert === undefined ? {} : { cert: tls.cert, key: tls.key }),
    },
  });
  const elsewhere = new Agent({
    ...timeouts,
    connections: config.connections,
    connect: {
      timeout: config.timeouts.connectMs,
      ...(tls?.ca === undefined ? {} : { ca: [...rootCertificates, tls.ca.toString('utf8')] }),
      ...(tls?.cert === undefined ? {} : { cert: tls.cert, key: tls.key }),
    },
  });
  // Blob bodies from the backend's own origin: read into pooled buffers (bulk/bulk-client.ts).
  const bulk = new BulkClient({
    origin: new URL(ownOrigin),
    ...(tls === undefined ? {} : { tls: { ...(tls.ca === undefined ? {} : { ca: tls.ca }), ...(tls.cert === undefined ? {} : { cert: tls.cert, key: tls.key }) } }),
    connectTimeoutMs: config.timeouts.connectMs,
    headersTimeoutMs: config.timeouts.headersMs,
    bodyTimeoutMs: config.timeouts.bodyMs,
    connections: config.connections,
  });
  const dispatcherFor = (url: URL): Dispatcher => (url.origin === ownOrigin ? pool : elsewhere);
  const credentials: BackendCredentials =
    config.auth === undefined
      ? NO_CREDENTIALS
      : createBackendCredentials({ location, ...config.auth, allowedRealms: config.allowedRealms, dispatcherFor, timeoutMs: config.timeouts.headersMs });

  // The robot credential belongs to the backend; it never follows a redirect elsewhere.
  // `origin` is read from the URL once per request (URL's getter builds a new string each time).
  type Routed = { dispatcher: Dispatcher; headers: Record<string, string>; scope: string | undefined; origin: string };
  const route = (url: URL, method: string, requestHeaders: Record<string, string>): Routed | Promise<Routed> => {
    const origin = url.origin;
    const apiPath = location.apiPathOf(url, origin);
    if (apiPath === undefined || credentials === NO_CREDENTIALS) return { dispatcher: origin === ownOrigin ? pool : elsewhere, headers: requestHeaders, scope: undefined, origin };
    const scope = scopeOfBackendRequest(apiPath, method, url.search);
    const authorization = credentials.authorizationFor(scope);
    const withAuthorization = (value: string | undefined): Routed => ({
      dispatcher: pool,
      headers: value === undefined ? requestHeaders : { ...requestHeaders, authorization: value },
      scope,
      origin,
    });
    return typeof authorization === 'object' ? authorization.then(withAuthorization) : withAuthorization(authorization);
  };
  /** After a 401: whether the same (bodiless) request is worth one more try with fresh credentials. */
  const retryAfterRefusal = (routed: Routed, statusCode: number, headers: WholeResponse['headers']): boolean => {
    if (statusCode !== 401 || routed.scope === undefined) return false;
    const challenge = headers['www-authenticate'];
    return credentials.refused(routed.scope, Array.isArray(challenge) ? challenge[0] : challenge);
  };

  return {
    location,
    caches: credentials.caches,
    fetchWhole(request) {
      const routed = route(request.url, request.method, request.headers);
      // Without backend credentials nothing can be refused and retried: the direct path.
      if (!(routed instanceof Promise) && routed.scope === undefined) return fetchWholeWith(routed, request);
      return (async () => {
        const first = await routed;
        const response = await fetchWholeWith(first, request);
        if (!retryAfterRefusal(first, response.statusCode, response.headers)) return response;
        return fetchWholeWith(await route(request.url, request.method, request.headers), request);
      })();
    },
    async streamInto(request, open) {
      const routed = await route(request.url, request.method, request.headers);
      let refused = false;
      await streamWith(routed, request, (statusCode, headers) => {
        if (!retryAfterRefusal(routed, statusCode, headers)) return open(statusCode, headers);
        refused = true;
        return new Writable({ write: (_chunk, _encoding, done) => done() });
      });
      if (refused) await streamWith(await route(request.url, request.method, request.headers), request, open);
    },
    send: (request) => sendRequest({ ...request, body: null }),
    write: sendRequest,
    async close() {
      await Promise.all([pool.close(), elsewhere.close(), bulk.close()]);
    },
  };

  /**
   * One request with a streamed answer (and perhaps a body), robot credentials added. A request
   * without a streamed body (a mount, a DELETE, a document the gateway writes) that the backend
   * refuses with 401 gets one more try with fresh credentials; a streamed body cannot be sent twice.
   */
  async function sendRequest(request: BackendWrite | (BackendRequest & { body: null })): Promise<BackendResponse> {
    const routed = await route(request.url, request.method, request.headers);
    const response = await sendRouted(routed, request);
    const replayable = request.body === null || Buffer.isBuffer(request.body);
    if (!replayable || !retryAfterRefusal(routed, response.statusCode, response.headers)) return response;
    await response.body.dump();
    return sendRouted(await route(request.url, request.method, request.headers), request);
  }

  async function sendRouted({ dispatcher, headers, origin }: Routed, request: BackendWrite | (BackendRequest & { body: null })): Promise<BackendResponse> {
    try {
      return await dispatcher.request({
        origin,
        path: request.url.pathname + request.url.search,
        method: request.method,
        headers,
        body: request.body,
        ...(request.signal === undefined ? {} : { signal: request.signal }),
      });
    } catch (error) {
      // Cancelled on purpose (the client left, a body over its limit): that reason, not a backend failure.
      if (request.signal?.aborted === true) throw request.signal.reason;
      throw translateNetworkError(error, request.url);
    }
  }

  function fetchWholeWith({ dispatcher, headers, origin }: Routed, request: WholeRequest): Promise<WholeResponse> {
      return new Promise<WholeResponse>((resolve, reject) => {
        const chunks: Buffer[] = [];
        let size = 0;
        let statusCode = 0;
        let responseHeaders: WholeResponse['headers'] = {};
        let cancel: (() => void) | undefined;
        const settle = () => {
          if (cancel !== undefined) request.cancelWhenClosed?.removeListener('close', cancel);
        };
        dispatcher.dispatch(
          { origin, path: request.url.pathname + request.url.search, method: request.method, headers },
          {
            onRequestStart(controller) {
              const connection = request.cancelWhenClosed;
              if (connection === undefined) return;
              cancel = () => {
                if (!connection.writableFinished) controller.abort(new Error('the client went away'));
              };
              connection.once('close', cancel);
            },
            onResponseStart(controller, status, parsedHeaders) {
              statusCode = status;
              responseHeaders = parsedHeaders as WholeResponse['headers'];
              // A HEAD announces the length of a body it does not send.
              const announced = request.method === 'HEAD' ? 0 : Number(parsedHeaders['content-length']);
              if (announced > request.maxBytes) controller.abort(tooLarge(request.maxBytes));
            },
            onResponseData(controller, chunk) {
              size += chunk.length;
              if (size > request.maxBytes) controller.abort(tooLarge(request.maxBytes));
              else chunks.push(chunk);
            },
            onResponseEnd() {
              settle();
              resolve({ statusCode, headers: responseHeaders, body: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size) });
            },
            onResponseError(_controller, error) {
              settle();
              reject(translateNetworkError(error, request.url));
            },
          },
        );
      });
  }

  function streamWith({ dispatcher, headers, origin }: Routed, request: BackendRequest, open: (statusCode: number, headers: WholeResponse['headers']) => Writable): Promise<void> {
    if (dispatcher === pool && request.method === 'GET') {
      return bulk.stream({ url: request.url, headers, ...(request.signal === undefined ? {} : { signal: request.signal }) }, open).catch((error: unknown) => {
        if (request.signal?.aborted === true) throw request.signal.reason;
        throw translateNetworkError(error, request.url);
      });
    }
    return dispatcher
      .stream(
        {
          origin,
          path: request.url.pathname + request.url.search,
          method: request.method,
          headers,
          ...(request.signal === undefined ? {} : { signal: request.signal }),
        },
        ({ statusCode, headers: responseHeaders }) => open(statusCode, responseHeaders as WholeResponse['headers']),
      )
      .then(
        () => undefined,
        (error: unknown) => {
          throw translateNetworkError(error, request.url);
        },
      );
  }
}

function tooLarge(limit: number): RegistryError {
  return new RegistryError('BACKEND_ERROR', { message: 'the backend answered with a body larger than allowed', detail: { limit } });
}

/** Maps undici's failures to the client-facing error; the backend address goes to the log only. */
export function translateNetworkError(error: unknown, url: URL): unknown {
  if (error instanceof RegistryError) return error;
  if (error instanceof Error && error.name === 'AbortError') return error;
  const timedOut =
    error instanceof undiciErrors.ConnectTimeoutError ||
    error instanceof undiciErrors.HeadersTimeoutError ||
    error instanceof undiciErrors.BodyTimeoutError;
  const cause = error instanceof Error ? `${error.name}: ${(error as NodeJS.ErrnoException).code ?? error.message}` : String(error);
  const wrapped = new RegistryError(timedOut ? 'BACKEND_TIMEOUT' : 'BACKEND_UNREACHABLE');
  (wrapped as { cause?: unknown }).cause = { backend: url.origin, reason: cause };
  return wrapped;
}
