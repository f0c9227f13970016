/**
 * createHttpServer: the fastify instance with everything that is not an API — TLS, trusted
 * proxies, body limits, the OCI error envelope, the not-found answer and one log line per
 * request with secrets redacted. buildApp (app.ts) registers the API plugins on it.
 */
import pino from 'pino';
import Fastify, { LogController, type FastifyInstance, type FastifyReply } from 'fastify';
import type { GatewayConfig } from '../config/compiled.js';
import { RegistryError, errorBody } from '../errors/registry-error.js';
import { certificateHeaderProblem } from '../identity/client-certificate.js';
import { withoutMountPrefix } from './mount-prefix.js';
import { isTrustedPeer } from './trusted-peer.js';
import { toWireError } from './wire-error.js';

/** Every /v2 answer says which API it speaks (Distribution sets it on all of them, errors too). */
export const API_VERSION_HEADER = 'docker-distribution-api-version';
export const API_VERSION = 'registry/2.0';

/** Never logged: credentials in headers, and the certificate headers of a TLS-terminating proxy. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-rhsm-ssl-client-cert"]',
  'req.headers["ssl_client_cert"]',
  'req.headers["ssl-client-cert"]',
  'headers.authorization',
  'password',
  'token',
  '*.password',
  '*.token',
  '*.access_token',
  '*.refresh_token',
];

declare module 'fastify' {
  interface FastifyInstance {
    /** Log lines dropped because stdout's reader stalled with the buffer full, since start. */
    droppedLogLines: () => number;
  }
}

export interface HttpServerOptions {
  /** A pino destination for tests; stdout otherwise. */
  readonly logStream?: NodeJS.WritableStream;
  /** Where audit lines go in tests; audit.destination otherwise. */
  readonly auditStream?: NodeJS.WritableStream;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Request fields set along the way; each is declared where it is used (declare module 'fastify'). */
const REQUEST_NOTES = ['routeFamily', 'accessLog', 'certificateIgnored', 'loginLog', 'deletion', 'managementCaller', 'managementChange'] as const;

/** How long an error answer may take to leave before the socket is destroyed anyway. */
const CLIENT_ERROR_FLUSH_MS = 1_000;

/** What a request Node could not parse, or that took too long to arrive, is answered. */
function clientErrorAnswer(code: string | undefined): { status: number; reason: string; message: string } {
  if (code === 'HPE_HEADER_OVERFLOW') return { status: 431, reason: 'Request Header Fields Too Large', message: 'request headers too large' };
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT' || code === 'ERR_HTTP_HEADERS_TIMEOUT') return { status: 408, reason: 'Request Timeout', message: 'the request took too long to arrive' };
  return { status: 400, reason: 'Bad Request', message: 'malformed HTTP request' };
}

/**
 * Log lines go to stdout in batches rather than one write each: at 50,000 requests a second a
 * write per request line cost about 2 µs of a request's 25 (measured in redirect mode). A batch
 * is written once it holds 2 KiB or every 250 ms, whichever comes first, and on exit. Each write
 * is whole lines of at most 4 KiB, so on a pipe (PIPE_BUF) the lines of several workers never
 * interleave. When the reader stalls (journald restarting, a blocked pipe), at most 8 MiB waits;
 * beyond that lines are dropped and counted, rather than memory growing until the process dies.
 */
const STDOUT_BUFFER_BYTES = 8 * 1024 * 1024;

function standardOutput(onDrop: () => void): pino.DestinationStream {
  const destination = pino.destination({ dest: 1, sync: false, minLength: 2048, maxWrite: 4096, maxLength: STDOUT_BUFFER_BYTES, periodicFlush: 250 });
  destination.on('drop', onDrop);
  return destination;
}

export function createHttpServer(config: GatewayConfig, options: HttpServerOptions = {}): FastifyInstance {
  const tls = config.server.tls;
  let requestCounter = 0;
  let droppedLogLines = 0;
  const app = Fastify({
    logger: {
      level: config.log.level,
      redact: { paths: [...REDACTED_PATHS, `req.headers[${JSON.stringify(config.server.clientCertificateHeader.toLowerCase())}]`], censor: '[redacted]' },
      stream: options.logStream ?? standardOutput(() => (droppedLogLines += 1)),
    },
    // One line per request, written by our onResponse hook below, instead of fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    // No child logger per request (a measurable cost on the hot path): lines carry reqId themselves.
    childLoggerFactory: (logger) => logger,
    trustProxy: config.server.trustedProxies.length > 0 ? [...config.server.trustedProxies] : false,
    bodyLimit: config.server.bodyLimitBytes,
    // Katello and a capsule's Apache reach the gateway under /container_gateway (mount-prefix.ts).
    rewriteUrl: (request) => withoutMountPrefix(request.url ?? '/'),
    // smart_proxy_container_gateway's routes all take an optional trailing slash (`/users/?`).
    routerOptions: { ignoreTrailingSlash: true },
    keepAliveTimeout: 75_000,
    // A client that takes this long to send its request (headers and body) is cut off; answers
    // (a 1 GiB blob) may take as long as they need.
    requestTimeout: config.server.requestTimeoutMs,
    // X-Request-Id is taken only from a trusted proxy, and only when it looks like an id.
    requestIdHeader: false,
    genReqId: (request) => {
      const offered = request.headers['x-request-id'];
      if (typeof offered === 'string' && REQUEST_ID.test(offered) && isTrustedPeer(request.socket.remoteAddress, config.server.trustedProxySet)) return offered;
      return `req-${(requestCounter += 1).toString(36)}`;
    },
    // A URL fastify cannot decode (a lone `%`) is refused before routing: the OCI envelope there too.
    frameworkErrors: (error, request, reply) => {
      const answer = reply as unknown as FastifyReply;
      if (request.url.startsWith('/v2')) answer.header(API_VERSION_HEADER, API_VERSION);
      void answer.code(400).type('application/json; charset=utf-8').send(errorBody('BAD_REQUEST', 'malformed request URL', { code: error.code }));
    },
    // Malformed requests and oversized headers are answered before routing; keep the OCI envelope.
    clientErrorHandler: (error: NodeJS.ErrnoException, socket) => {
      if (!socket.writable) {
        socket.destroy();
        return;
      }
      const { status, reason, message } = clientErrorAnswer(error.code);
      const body = errorBody('BAD_REQUEST', message);
      // The answer, then the socket is ours to close: a client that stopped reading would never
      // acknowledge the end and would hold it (FIN-WAIT-2) for as long as it likes.
      socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`, () => socket.destroy());
      const unflushed = setTimeout(() => socket.destroy(), CLIENT_ERROR_FLUSH_MS);
      unflushed.unref();
      socket.once('close', () => clearTimeout(unflushed));
    },
    ...(tls === undefined
      ? {}
      : {
          https: {
            cert: tls.cert,
            key: tls.key,
            // Ask for a client certificate without requiring one; identity/ checks it.
            ...(tls.clientCa === undefined ? {} : { ca: tls.clientCa, requestCert: true, rejectUnauthorized: false }),
          },
        }),
  }) as unknown as FastifyInstance;
  // What handlers note on a request as it goes (for the log, metrics and audit lines), declared up
  // front so that fastify's request constructor creates them: every request object then has one
  // shape, instead of growing properties in whatever order its route sets them, which made V8's
  // property accesses in the hooks polymorphic and cost a shape change per property per request.
  for (const field of REQUEST_NOTES) app.decorateRequest(field, undefined);
  app.decorate('droppedLogLines', () => droppedLogLines);
  // Node checks request and header timeouts only this often (30 s by default): a fraction of the timeout.
  const server = app.server as unknown as { headersTimeout: number; connectionsCheckingInterval: number };
  server.headersTimeout = Math.min(server.headersTimeout, config.server.requestTimeoutMs);
  server.connectionsCheckingInterval = Math.min(30_000, Math.max(50, Math.floor(config.server.requestTimeoutMs / 10)));

  // A trusted proxy clears only the certificate header it sets itself: a request of its with any
  // other certificate header, or two of the configured one, may carry a client's forgery. Refused
  // for every route, before anything reads a certificate or a credential.
  if (config.server.trustedProxies.length > 0) {
    const headerName = config.server.clientCertificateHeader;
    app.addHook('onRequest', (request, _reply, done) => {
      if (!isTrustedPeer(request.raw.socket.remoteAddress, config.server.trustedProxySet)) {
        done();
        return;
      }
      const problem = certificateHeaderProblem(request.raw.rawHeaders, headerName);
      done(problem === undefined ? undefined : new RegistryError('BAD_REQUEST', { message: problem }));
    });
  }

  app.setErrorHandler((error, request, reply) => {
    const wire = toWireError(error);
    if (request.raw.socket?.destroyed === true) {
      // The client hung up while its answer was being fetched: nothing failed on this side.
      request.log.info({ reqId: request.id, reason: (error as Error).message }, 'the client went away before its answer');
    } else if (wire.status >= 500) {
      request.log.error({ reqId: request.id, err: error, code: wire.code }, 'request failed');
    } else if (!(error instanceof RegistryError)) {
      request.log.info({ reqId: request.id, code: wire.code, reason: (error as Error).message }, 'request refused');
    }
    if (request.url.startsWith('/v2')) reply.header(API_VERSION_HEADER, API_VERSION);
    void reply
      .code(wire.status)
      .headers(wire.headers)
      .type('application/json; charset=utf-8')
      .send(errorBody(wire.code, wire.message, wire.detail));
  });

  app.setNotFoundHandler((_request, reply) => {
    void reply.code(404).type('application/json; charset=utf-8').send(errorBody('NOT_FOUND', 'no such endpoint'));
  });

  const logRequests = ['info', 'debug', 'trace'].includes(config.log.level);
  // A request line is made of fields chosen here, never a header or a body, so it skips the
  // redaction every other line gets: with its wildcard paths that cost 4 µs a line (measured),
  // a quarter of what a whole redirect costs.
  const requestLog = app.log.child({}, { redact: { paths: [] } });
  // Without request lines, no hook at all (it would run on every request to do nothing).
  if (logRequests) {
    app.addHook('onResponse', (request, reply, done) => {
      const url = request.raw.url ?? '';
      const mark = url.indexOf('?');
      requestLog.info(
        {
          reqId: request.id,
          method: request.method,
          path: mark === -1 ? url : url.slice(0, mark),
          status: reply.statusCode,
          ms: Math.round(reply.elapsedTime * 10) / 10,
          identity: request.identity?.kind,
          ...request.accessLog,
          ...(request.certificateIgnored === undefined ? {} : { certificateIgnored: request.certificateIgnored }),
          ...(request.loginLog === undefined ? {} : { login: request.loginLog }),
        },
        'request',
      );
      done();
    });
  }

  return app;
}
