/**
 * pulp-like-backend.ts — a stand-in for Pulp 3's container registry API in front of a real registry.
 *
 * Two node:http listeners on 127.0.0.1:
 *  - the registry API (`url`):
 *      GET|HEAD /v2/                                 → 200 `{}` with Docker-Distribution-API-Version: registry/2.0
 *      GET|HEAD /v2/<name>/tags/list[?query]         → proxied to the registry (status, body, Link passed through;
 *                                                      note the real registry answers HEAD here with 405)
 *      GET|HEAD /v2/_catalog[?query]                 → proxied to the registry
 *      GET|HEAD /v2/<name>/manifests/<ref>           → 302, Location: <contentUrl>/pulp/container/<name>/manifests/<ref>
 *      GET|HEAD /v2/<name>/blobs/<digest>            → 302, Location: <contentUrl>/pulp/container/<name>/blobs/<digest>
 *      anything else                                 → 404 (405 for other methods) with a registry-style JSON error
 *  - the "content app" (`contentUrl`):
 *      GET|HEAD /pulp/container/<name>/(manifests|blobs)/<ref> → fetched from the registry's /v2/<name>/…/<ref>,
 *      forwarding Accept and Range (and the conditionals If-None-Match, If-Range, If-Modified-Since), streaming
 *      the body and passing the status plus Content-Type, Content-Length, Docker-Content-Digest, ETag,
 *      Content-Range, Accept-Ranges and Last-Modified.
 *  Location headers are absolute (`http://127.0.0.1:<contentPort>/…`). No authentication anywhere.
 *  Every request is counted by kind in `counts` (a live object, reset in place by `resetCounts()`) and
 *  appended to `requests` (also cleared by `resetCounts()`). `clientErrors` counts unparseable connections
 *  (e.g. skopeo's TLS probe before it falls back to plain HTTP).
 *  `stop()` closes both listeners and all open connections; it is idempotent.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface PulpLikeCounts {
  ping: number;
  tagsList: number;
  catalog: number;
  manifestRedirects: number;
  blobRedirects: number;
  contentManifests: number;
  contentBlobs: number;
  notFound: number;
  clientErrors: number;
}

export type PulpLikeRequestKind = Exclude<keyof PulpLikeCounts, 'clientErrors'>;

export interface RecordedRequest {
  listener: 'api' | 'content';
  kind: PulpLikeRequestKind;
  method: string;
  /** Path and query as received. */
  url: string;
  status: number;
  accept?: string;
  range?: string;
  authorization?: string;
}

export interface PulpLikeBackend {
  /** Registry API base, http://127.0.0.1:PORT */
  url: string;
  port: number;
  /** Content app base, http://127.0.0.1:CONTENT_PORT */
  contentUrl: string;
  contentPort: number;
  counts: PulpLikeCounts;
  requests: RecordedRequest[];
  resetCounts(): void;
  stop(): Promise<void>;
}

const PASSED_CONTENT_HEADERS = [
  'content-type',
  'content-length',
  'docker-content-digest',
  'etag',
  'content-range',
  'accept-ranges',
  'last-modified',
] as const;
const FORWARDED_CONTENT_HEADERS = ['accept', 'range', 'if-none-match', 'if-range', 'if-modified-since'] as const;
const PASSED_LIST_HEADERS = ['content-type', 'content-length', 'link'] as const;
const API_VERSION_HEADER = ['Docker-Distribution-API-Version', 'registry/2.0'] as const;

function zeroCounts(): PulpLikeCounts {
  return {
    ping: 0,
    tagsList: 0,
    catalog: 0,
    manifestRedirects: 0,
    blobRedirects: 0,
    contentManifests: 0,
    contentBlobs: 0,
    notFound: 0,
    clientErrors: 0,
  };
}

function sendError(res: http.ServerResponse, status: number, code: string, message: string): void {
  const body = JSON.stringify({ errors: [{ code, message }] });
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    [API_VERSION_HEADER[0]]: API_VERSION_HEADER[1],
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

function singleHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Streams `upstreamPath` from the registry into `res`, forwarding the chosen request/response headers. */
function proxyToRegistry(
  registry: URL,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  upstreamPath: string,
  forwardRequestHeaders: readonly string[],
  passResponseHeaders: readonly string[],
): void {
  const headers: Record<string, string> = {};
  for (const name of forwardRequestHeaders) {
    const value = req.headers[name];
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  const upstream = http.request(
    {
      hostname: registry.hostname,
      port: registry.port,
      path: upstreamPath,
      method: req.method,
      headers,
      agent: false,
    },
    (upstreamRes) => {
      const outHeaders: Record<string, string> = { [API_VERSION_HEADER[0]]: API_VERSION_HEADER[1] };
      for (const name of passResponseHeaders) {
        const value = singleHeader(upstreamRes.headers[name]);
        if (value !== undefined) outHeaders[name] = value;
      }
      res.writeHead(upstreamRes.statusCode ?? 502, outHeaders);
      upstreamRes.pipe(res);
      upstreamRes.on('error', () => res.destroy());
    },
  );
  upstream.on('error', (err) => {
    if (!res.headersSent) sendError(res, 502, 'UNAVAILABLE', `registry unreachable: ${err.message}`);
    else res.destroy();
  });
  res.on('close', () => {
    if (!res.writableFinished) upstream.destroy();
  });
  upstream.end();
}

function listen(server: http.Server): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.removeListener('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: http.Server): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

const MANIFEST_OR_BLOB = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/;
const TAGS_LIST = /^\/v2\/(.+)\/tags\/list$/;
const CONTENT_PATH = /^\/pulp\/container\/(.+)\/(manifests|blobs)\/([^/]+)$/;

export async function startPulpLikeBackend(registryUrl: string): Promise<PulpLikeBackend> {
  const registry = new URL(registryUrl);
  const counts = zeroCounts();
  const requests: RecordedRequest[] = [];
  let contentPort = 0;

  const record = (
    listener: RecordedRequest['listener'],
    kind: PulpLikeRequestKind,
    req: http.IncomingMessage,
    res: http.ServerResponse,
  ): void => {
    counts[kind]++;
    res.on('finish', () => {
      const entry: RecordedRequest = {
        listener,
        kind,
        method: req.method ?? '',
        url: req.url ?? '',
        status: res.statusCode,
      };
      const accept = singleHeader(req.headers.accept);
      const range = singleHeader(req.headers.range);
      const authorization = singleHeader(req.headers.authorization);
      if (accept !== undefined) entry.accept = accept;
      if (range !== undefined) entry.range = range;
      if (authorization !== undefined) entry.authorization = authorization;
      requests.push(entry);
    });
  };

  const api = http.createServer((req, res) => {
    const target = new URL(req.url ?? '/', 'http://placeholder');
    const p = target.pathname;
    const method = req.method ?? 'GET';
    const readOnly = method === 'GET' || method === 'HEAD';

    if (p === '/v2/' || p === '/v2') {
      record('api', 'ping', req, res);
      if (!readOnly) return sendError(res, 405, 'UNSUPPORTED', 'method not allowed');
      res.writeHead(200, {
        'Content-Type': 'application/json; charset=utf-8',
        'Content-Length': 2,
        [API_VERSION_HEADER[0]]: API_VERSION_HEADER[1],
      });
      res.end(method === 'HEAD' ? undefined : '{}');
      return;
    }
    if (p === '/v2/_catalog') {
      record('api', 'catalog', req, res);
      if (!readOnly) return sendError(res, 405, 'UNSUPPORTED', 'method not allowed');
      return proxyToRegistry(registry, req, res, `${p}${target.search}`, ['accept'], PASSED_LIST_HEADERS);
    }
    const tags = TAGS_LIST.exec(p);
    if (tags) {
      record('api', 'tagsList', req, res);
      if (!readOnly) return sendError(res, 405, 'UNSUPPORTED', 'method not allowed');
      return proxyToRegistry(registry, req, res, `${p}${target.search}`, ['accept'], PASSED_LIST_HEADERS);
    }
    const match = MANIFEST_OR_BLOB.exec(p);
    if (match) {
      const [, name, kind, ref] = match;
      record('api', kind === 'manifests' ? 'manifestRedirects' : 'blobRedirects', req, res);
      if (!readOnly) return sendError(res, 405, 'UNSUPPORTED', 'this registry is read-only');
      const location = `http://127.0.0.1:${contentPort}/pulp/container/${name}/${kind}/${ref}${target.search}`;
      res.writeHead(302, { Location: location, 'Content-Length': 0, [API_VERSION_HEADER[0]]: API_VERSION_HEADER[1] });
      res.end();
      return;
    }
    record('api', 'notFound', req, res);
    sendError(res, 404, 'NOT_FOUND', `no route for ${method} ${p}`);
  });

  const content = http.createServer((req, res) => {
    const target = new URL(req.url ?? '/', 'http://placeholder');
    const match = CONTENT_PATH.exec(target.pathname);
    const method = req.method ?? 'GET';
    if (!match || (method !== 'GET' && method !== 'HEAD')) {
      record('content', 'notFound', req, res);
      return sendError(res, 404, 'NOT_FOUND', `no content at ${method} ${target.pathname}`);
    }
    const [, name, kind, ref] = match;
    record('content', kind === 'manifests' ? 'contentManifests' : 'contentBlobs', req, res);
    proxyToRegistry(registry, req, res, `/v2/${name}/${kind}/${ref}`, FORWARDED_CONTENT_HEADERS, PASSED_CONTENT_HEADERS);
  });

  for (const server of [api, content]) {
    server.on('clientError', (_err, socket) => {
      counts.clientErrors++;
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      else socket.destroy();
    });
  }

  const port = await listen(api);
  try {
    contentPort = await listen(content);
  } catch (err) {
    await closeServer(api);
    throw err;
  }

  let stopping: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    contentUrl: `http://127.0.0.1:${contentPort}`,
    contentPort,
    counts,
    requests,
    resetCounts(): void {
      Object.assign(counts, zeroCounts());
      requests.length = 0;
    },
    stop(): Promise<void> {
      stopping ??= Promise.all([closeServer(api), closeServer(content)]).then(() => undefined);
      return stopping;
    },
  };
}
