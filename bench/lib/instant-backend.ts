/**
 * instant-backend.ts — a registry backend that answers from memory, as fast as node:http can, so that in
 * scenario 7 the gateway, not the registry, is what is measured. It serves one manifest (by any tag or by
 * its digest) and one blob under every repository name, on 127.0.0.1.
 *
 *   GET|HEAD /v2/                              → 200 {}
 *   GET|HEAD /v2/<name>/manifests/<tag>        → the manifest (Content-Type, Docker-Content-Digest, ETag)
 *   GET|HEAD /v2/<name>/manifests/<digest>     → the same when the digest matches, else 404 MANIFEST_UNKNOWN
 *   GET|HEAD /v2/<name>/blobs/<digest>         → the blob when the digest matches, else 404 BLOB_UNKNOWN
 *   GET      /v2/<name>/tags/list              → {"name","tags":["<tag>"]}
 *   GET      /v2/_catalog                      → {"repositories":[]}
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface InstantBackendContent {
  manifest: Buffer;
  manifestMediaType: string;
  manifestDigest: string;
  tag: string;
  blob: Buffer;
  blobDigest: string;
}

export interface InstantBackend {
  url: string;
  requests: number;
  stop(): Promise<void>;
}

const API = { 'docker-distribution-api-version': 'registry/2.0' } as const;
const MANIFEST_PATH = /^\/v2\/(.+)\/manifests\/([^/]+)$/;
const BLOB_PATH = /^\/v2\/(.+)\/blobs\/([^/]+)$/;
const TAGS_PATH = /^\/v2\/(.+)\/tags\/list$/;

export async function startInstantBackend(content: InstantBackendContent): Promise<InstantBackend> {
  const manifestHeaders = {
    ...API,
    'content-type': content.manifestMediaType,
    'content-length': String(content.manifest.length),
    'docker-content-digest': content.manifestDigest,
    etag: `"${content.manifestDigest}"`,
  };
  const blobHeaders = {
    ...API,
    'content-type': 'application/octet-stream',
    'content-length': String(content.blob.length),
    'docker-content-digest': content.blobDigest,
    etag: `"${content.blobDigest}"`,
    'accept-ranges': 'bytes',
  };
  const json = (res: http.ServerResponse, status: number, value: unknown, head: boolean): void => {
    const body = JSON.stringify(value);
    res.writeHead(status, { ...API, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(head ? undefined : body);
  };
  const backend: InstantBackend = { url: '', requests: 0, stop: async () => undefined };

  const server = http.createServer((req, res) => {
    backend.requests++;
    const head = req.method === 'HEAD';
    if (req.method !== 'GET' && !head) return json(res, 405, { errors: [{ code: 'UNSUPPORTED', message: 'read-only' }] }, false);
    const url = req.url ?? '/';
    const queryAt = url.indexOf('?');
    const path = queryAt < 0 ? url : url.slice(0, queryAt);
    if (path === '/v2/' || path === '/v2') return json(res, 200, {}, head);
    if (path === '/v2/_catalog') return json(res, 200, { repositories: [] }, head);
    let match = MANIFEST_PATH.exec(path);
    if (match) {
      const reference = match[2] ?? '';
      if (reference.includes(':') && reference !== content.manifestDigest) {
        return json(res, 404, { errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] }, head);
      }
      res.writeHead(200, manifestHeaders);
      res.end(head ? undefined : content.manifest);
      return;
    }
    match = BLOB_PATH.exec(path);
    if (match) {
      if (match[2] !== content.blobDigest) return json(res, 404, { errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown' }] }, head);
      res.writeHead(200, blobHeaders);
      res.end(head ? undefined : content.blob);
      return;
    }
    match = TAGS_PATH.exec(path);
    if (match) return json(res, 200, { name: match[1], tags: [content.tag] }, head);
    return json(res, 404, { errors: [{ code: 'NAME_UNKNOWN', message: 'not found' }] }, head);
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  backend.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let stopping: Promise<void> | undefined;
  backend.stop = () => {
    stopping ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    return stopping;
  };
  return backend;
}
