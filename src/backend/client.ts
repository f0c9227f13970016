/**
 * BackendClient: HTTP to the backend registry over undici, and nothing else.
 *
 * One keep-alive Pool for the backend's own origin (with the configured CA and client
 * certificate); an Agent for any other origin the backend redirects to (a content app, object
 * storage), which trusts the system roots plus the backend CA. Every call has connect, header and
 * body timeouts; a network failure becomes BACKEND_UNREACHABLE (502) and a timeout
 * BACKEND_TIMEOUT (504), so a client never hangs on a dead backend.
 */
import type { Writable } from 'node:stream';
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
}

/** A small answer (manifest, list, error), read whole. */
export interface WholeResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

export interface BackendClient {
  readonly baseUrl: URL;
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

  // The robot credential belongs to the backend; it never follows a redirect elsewhere.
  const route = (url: URL, requestHeaders: Record<string, string>) => {
    const sameOrigin = url.origin === ownOrigin;
    const headers = sameOrigin && basicAuth !== undefined ? { ...requestHeaders, authorization: basicAuth } : requestHeaders;
    return { dispatcher: (sameOrigin ? pool : elsewhere) as Dispatcher, headers };
  };

  return {
    baseUrl: config.url,
    fetchWhole(request) {
      const { dispatcher, headers } = route(request.url, request.headers);
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
          { origin: request.url.origin, path: request.url.pathname + request.url.search, method: request.method, headers },
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
    },
    async streamInto(request, open) {
      const { dispatcher, headers } = route(request.url, request.headers);
      try {
        await dispatcher.stream(
          {
            origin: request.url.origin,
            path: request.url.pathname + request.url.search,
            method: request.method,
            headers,
            ...(request.signal === undefined ? {} : { signal: request.signal }),
          },
          ({ statusCode, headers: responseHeaders }) => open(statusCode, responseHeaders as WholeResponse['headers']),
        );
      } catch (error) {
        throw translateNetworkError(error, request.url);
      }
    },
    async send(request) {
      const { dispatcher, headers } = route(request.url, request.headers);
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
