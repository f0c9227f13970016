/**
 * BackendClient: HTTP to the backend registry over undici, and nothing else.
 *
 * One keep-alive Pool for the backend's own origin (with the configured CA and client
 * certificate); an Agent for any other origin the backend redirects to (a content app, object
 * storage), which trusts the system roots plus the backend CA. Every call has connect, header and
 * body timeouts; a network failure becomes BACKEND_UNREACHABLE (502) and a timeout
 * BACKEND_TIMEOUT (504), so a client never hangs on a dead backend.
 */
import { rootCertificates } from 'node:tls';
import { Agent, Pool, errors as undiciErrors, type Dispatcher } from 'undici';
import type { GatewayConfig } from '../config/compiled.js';
import { RegistryError } from '../errors/registry-error.js';

export type BackendMethod = 'GET' | 'HEAD';

export interface BackendRequest {
  readonly method: BackendMethod;
  /** Absolute URL: the backend's own, or one it redirected to. */
  readonly url: URL;
  readonly headers: Record<string, string>;
  readonly signal?: AbortSignal;
}

export type BackendResponse = Dispatcher.ResponseData;

export interface BackendClient {
  readonly baseUrl: URL;
  send(request: BackendRequest): Promise<BackendResponse>;
  close(): Promise<void>;
}

export function createBackendClient(config: GatewayConfig['backend']): BackendClient {
  const tls = config.tls;
  const timeouts = {
    headersTimeout: config.timeouts.headersMs,
    bodyTimeout: config.timeouts.bodyMs,
    keepAliveTimeout: 30_000,
  };
  const ownOrigin = config.url.origin;
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
  const basicAuth =
    config.auth === undefined
      ? undefined
      : `Basic ${Buffer.from(`${config.auth.username}:${config.auth.password}`).toString('base64')}`;

  return {
    baseUrl: config.url,
    async send(request) {
      const sameOrigin = request.url.origin === ownOrigin;
      const headers = { ...request.headers };
      // The robot credential belongs to the backend; it never follows a redirect elsewhere.
      if (sameOrigin && basicAuth !== undefined) headers.authorization = basicAuth;
      const dispatcher: Dispatcher = sameOrigin ? pool : elsewhere;
      try {
        return await dispatcher.request({
          origin: request.url.origin,
          path: request.url.pathname + request.url.search,
          method: request.method,
          headers,
          ...(request.signal === undefined ? {} : { signal: request.signal }),
        });
      } catch (error) {
        throw translateNetworkError(error, request.url);
      }
    },
    async close() {
      await Promise.all([pool.close(), elsewhere.close()]);
    },
  };
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
