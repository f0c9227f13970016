/**
 * Blobs, after the access decision granted the pull. A GET is answered, in this order:
 *  1. from the blob cache (when configured), once the backend has confirmed that this repository
 *     holds the digest (remembered for a while; otherwise one HEAD to the backend), with Range;
 *  2. from a download into the cache under way for the same digest, read as it grows;
 *  3. by starting that download, when the request is for the whole blob (this client then reads
 *     it from the cache file like any other; a blob the cache cannot take comes straight through);
 *  4. otherwise straight from the backend, one backend stream shared by every client asking for the
 *     same bytes at once (backend/coalescing/shared-streams.ts).
 * A HEAD is a shared whole read; with the cache configured, a confirmed blob's HEAD is answered
 * without the backend. In redirect mode a backend redirect is handed to the client: the cache
 * serves only what the gateway streams itself.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { BlobCache } from '../blob-cache/blob-cache.js';
import { FillFailed, type BlobFill } from '../blob-cache/blob-fill.js';
import { decideRange } from '../blob-cache/byte-range.js';
import { sendBytes, wholeFile, type ByteSource } from '../blob-cache/send-bytes.js';
import { sharedReadKey } from '../backend/coalescing/read-key.js';
import type { SharedStreams, StreamClient } from '../backend/coalescing/shared-streams.js';
import { fetchContent, streamContent } from '../backend/content.js';
import { RegistryError } from '../errors/registry-error.js';
import { API_VERSION, API_VERSION_HEADER } from '../http/server.js';
import { fetchFromBackend, forwardedHeaders, recordingRedirect, relayWithoutBody, rememberedRedirect, type ContentDeps, type Redirect } from './content-handlers.js';

export interface BlobDelivery {
  /** The blob cache, when backend.blobCache is configured. */
  readonly cache: BlobCache | undefined;
  readonly streams: SharedStreams;
  /** A client was answered by a backend stream or cache download another client started. */
  readonly onShared: (kind: 'stream' | 'cache-fill') => void;
  /** A client was answered from a cached file. */
  readonly onCacheHit: () => void;
}

export type BlobDeps = ContentDeps & { readonly blobs: BlobDelivery };

/** Conditional requests go to the backend, which knows how to answer them. */
const CONDITIONAL_HEADERS = ['if-none-match', 'if-modified-since'] as const;

export function serveBlob(name: string, digest: string, request: FastifyRequest, reply: FastifyReply, deps: BlobDeps): unknown {
  const cache = deps.blobs.cache;
  const cacheable = cache !== undefined && cache.canHold(digest) && CONDITIONAL_HEADERS.every((header) => request.headers[header] === undefined);
  if (request.method === 'HEAD') return headBlob(name, digest, request, reply, deps, cacheable ? cache : undefined);
  const pathAndQuery = `/v2/${name}/blobs/${digest}`;
  // Redirect mode: a redirect remembered for this very request is the answer, at once.
  const remembered = rememberedRedirect(deps, 'GET', pathAndQuery, request.headers);
  if (remembered !== undefined) return relayWithoutBody(remembered, reply);
  // The backend request this GET stands for, worked out once for every path below.
  const get: BlobGet = { pathAndQuery, headers: forwardedHeaders(request) };
  return cacheable ? serveCacheable(name, digest, get, request, reply, deps, cache) : streamShared(get, reply, deps);
}

/** The backend GET a client's blob GET stands for: its path and the client headers forwarded. */
interface BlobGet {
  readonly pathAndQuery: string;
  readonly headers: Record<string, string>;
}

async function serveCacheable(name: string, digest: string, get: BlobGet, request: FastifyRequest, reply: FastifyReply, deps: BlobDeps, cache: BlobCache): Promise<unknown> {
  const answered = await recordingRedirect(deps, 'GET', get.pathAndQuery, get.headers, () => serveThroughCache(name, digest, get, request, reply, deps, cache));
  if (answered === 'not-cached') return streamShared(get, reply, deps);
  return answered === 'answered' ? reply : relayWithoutBody(answered, reply);
}

async function headBlob(name: string, digest: string, request: FastifyRequest, reply: FastifyReply, deps: BlobDeps, cache: BlobCache | undefined): Promise<unknown> {
  const confirmed = cache?.confirmed.sizeIn(name, digest);
  if (confirmed !== undefined) return reply.code(200).headers(blobHeaders(digest, confirmed)).send();
  // A HEAD has no body to stream, so it takes the cheaper (and shared) whole-response path.
  const outcome = await fetchFromBackend(`/v2/${name}/blobs/${digest}`, 'BLOB_UNKNOWN', request, reply, deps, {});
  if (cache !== undefined && outcome.kind === 'content' && outcome.status === 200) rememberHeld(cache, name, digest, outcome.headers['content-length']);
  return relayWithoutBody(outcome, reply);
}

type CacheAnswer = 'answered' | 'not-cached' | Redirect;

async function serveThroughCache(name: string, digest: string, get: BlobGet, request: FastifyRequest, reply: FastifyReply, deps: BlobDeps, cache: BlobCache): Promise<CacheAnswer> {
  const size = cache.cachedSize(digest);
  if (size !== undefined) {
    await confirmHeld(name, digest, reply, deps, cache);
    const handle = await cache.openCached(digest);
    if (handle !== undefined) {
      deps.blobs.onCacheHit();
      try {
        await sendFromCache(wholeFile(handle, size), size, digest, request, reply);
      } finally {
        await handle.close();
      }
      return 'answered';
    }
  }
  // Part of a blob the cache does not have yet: straight from the backend.
  if (request.headers.range !== undefined) return 'not-cached';
  const underway = cache.fillOf(digest);
  if (underway !== undefined) return readUnderway(underway, name, digest, request, reply, deps, cache);
  // The disk failed a fill a moment ago: straight from the backend until it is tried again.
  if (!cache.fillsAllowed) return 'not-cached';
  return startFill(name, digest, get, reply, deps, cache);
}

/** Another client's download of this blob into the cache is under way: read it as it grows. */
async function readUnderway(fill: BlobFill, name: string, digest: string, request: FastifyRequest, reply: FastifyReply, deps: BlobDeps, cache: BlobCache): Promise<CacheAnswer> {
  const done = fill.join(reply.raw);
  deps.blobs.onShared('cache-fill');
  try {
    // For the repository that started it, the backend's answer to the fill is the confirmation.
    if (fill.repository !== name) await confirmHeld(name, digest, reply, deps, cache);
    if (!(await fill.decided())) return 'not-cached';
    return await sendFromFill(fill, digest, reply);
  } finally {
    done();
  }
}

/**
 * Downloads the blob into the cache and serves this client from the cache file as it grows
 * (so do the clients that ask meanwhile). The backend's 200 for this repository is the
 * confirmation. A blob the cache declines reaches this client straight from that same backend
 * response; a redirect (redirect mode) or an error is this client's answer.
 */
async function startFill(name: string, digest: string, get: BlobGet, reply: FastifyReply, deps: BlobDeps, cache: BlobCache): Promise<CacheAnswer> {
  const fill = cache.startFill(digest, name);
  const done = fill.join(reply.raw);
  try {
    const streaming = streamContent(deps.backend, deps.delivery, { pathAndQuery: get.pathAndQuery, headers: get.headers, signal: fill.signal, notFoundCode: 'BLOB_UNKNOWN' }, (status, headers) => {
      const size = sizeOf(headers['content-length']);
      const sink = status === 200 && size !== undefined ? fill.begin(size) : undefined;
      if (sink !== undefined && size !== undefined) {
        cache.confirmed.confirm(name, digest, size);
        return sink;
      }
      fill.decline();
      return openResponse(reply, status, headers);
    }).finally(() => fill.backendFinished());
    // Observed now: the download may fail before the fill is decided (the cache file is still
    // being created); its failure is read below, or reaches every reader through the fill.
    streaming.catch(() => undefined);
    // When the disk fails the fill before this client got a byte, it is served straight from the backend.
    if (await fill.decided()) return await sendFromFill(fill, digest, reply);
    const outcome = await streaming.catch((error: unknown) => {
      if (!reply.sent && fill.failedOnDisk) return 'not-cached' as const;
      // Once the bytes have started, the only honest signal left is a cut connection.
      if (!reply.sent) throw error;
      reply.raw.destroy();
      return 'streamed' as const;
    });
    return outcome === 'streamed' ? 'answered' : outcome;
  } finally {
    done();
  }
}

/**
 * Whether `name` holds `digest`, as the backend last said (confirmed-blobs.ts); otherwise one HEAD
 * to the backend (shared with identical ones in flight). A repository that does not hold it gets
 * the backend's own 404 (BLOB_UNKNOWN, or NAME_UNKNOWN), whatever the cache holds.
 */
async function confirmHeld(name: string, digest: string, reply: FastifyReply, deps: BlobDeps, cache: BlobCache): Promise<void> {
  if (cache.confirmed.sizeIn(name, digest) !== undefined) return;
  // Followed through redirects whatever the mode: the question is the backend's answer, not where the bytes are.
  const outcome = await fetchContent(
    deps.backend,
    { mode: 'proxy', clientUrl: null },
    { method: 'HEAD', pathAndQuery: `/v2/${name}/blobs/${digest}`, headers: {}, maxBytes: 0, cancelWhenClosed: reply.raw, notFoundCode: 'BLOB_UNKNOWN', shared: true },
  );
  if (outcome.kind !== 'content' || outcome.status !== 200) throw new RegistryError('BLOB_UNKNOWN');
  rememberHeld(cache, name, digest, outcome.headers['content-length']);
}

function rememberHeld(cache: BlobCache, name: string, digest: string, contentLength: string | undefined): void {
  const size = sizeOf(contentLength);
  if (size !== undefined) cache.confirmed.confirm(name, digest, size);
}

/** A Content-Length the backend sent, when it is one. */
function sizeOf(contentLength: string | undefined): number | undefined {
  if (contentLength === undefined || !/^\d+$/.test(contentLength)) return undefined;
  const size = Number(contentLength);
  return Number.isSafeInteger(size) ? size : undefined;
}

/** A cached blob, whole or the asked-for range. */
async function sendFromCache(source: ByteSource, size: number, digest: string, request: FastifyRequest, reply: FastifyReply): Promise<'answered' | 'not-cached'> {
  const etag = `"${digest}"`;
  const range = decideRange(request.headers.range, headerOf(request, 'if-range'), size, etag);
  if (range.kind === 'unsatisfiable') throw new RegistryError('RANGE_INVALID', { headers: { 'content-range': `bytes */${size}` } });
  if (range.kind === 'whole') return sendOrCut(source, 0, size - 1, reply, 200, blobHeaders(digest, size));
  const headers = { ...blobHeaders(digest, range.end - range.start + 1), 'content-range': `bytes ${range.start}-${range.end}/${size}` };
  return sendOrCut(source, range.start, range.end, reply, 206, headers);
}

/**
 * The whole blob from a download under way; 'not-cached' when the disk failed the fill before
 * this client was sent anything (it is then served straight from the backend).
 */
async function sendFromFill(fill: BlobFill, digest: string, reply: FastifyReply): Promise<'answered' | 'not-cached'> {
  const { source, release } = fill.reader();
  try {
    return await sendOrCut(source, 0, fill.blobSize - 1, reply, 200, blobHeaders(digest, fill.blobSize));
  } finally {
    release();
  }
}

/** 'not-cached' when the disk failed a fill before anything was sent: the caller serves the blob another way. */
async function sendOrCut(source: ByteSource, start: number, end: number, reply: FastifyReply, status: number, headers: Record<string, string>): Promise<'answered' | 'not-cached'> {
  try {
    const outcome = await sendBytes(source, start, end, { connection: reply.raw, open: () => openResponse(reply, status, headers) });
    if (outcome === 'sent') reply.raw.end();
    return 'answered';
  } catch (error) {
    if (error instanceof FillFailed && error.local && !reply.sent) return 'not-cached';
    // Nothing sent yet: a proper error answer. Once bytes went out, a download that failed (or a
    // file that could not be read) must not look whole to the client: the connection is cut.
    // The reason (a file path, a digest mismatch) is for the log, not for the client.
    if (!reply.sent) {
      reply.log.warn({ reqId: reply.request.id, reason: (error as Error).message }, 'a blob could not be delivered from the cache');
      throw new RegistryError('BACKEND_ERROR', { message: 'the blob could not be delivered whole' });
    }
    reply.raw.destroy();
    return 'answered';
  }
}

/** A straight-through GET, one backend stream for every client asking for the same bytes at once. */
async function streamShared(get: BlobGet, reply: FastifyReply, deps: BlobDeps): Promise<unknown> {
  const { pathAndQuery, headers } = get;
  const client: StreamClient = { connection: reply.raw, open: (status, passed) => openResponse(reply, status, passed) };
  const url = deps.backend.location.urlOf(pathAndQuery);
  let result: Awaited<ReturnType<typeof streamContent>>;
  try {
    result = await recordingRedirect(deps, 'GET', pathAndQuery, headers, () =>
      deps.blobs.streams.run(
        sharedReadKey('GET', url, headers, 0),
        client,
        (openClients, signal) => streamContent(deps.backend, deps.delivery, { pathAndQuery, headers, signal, notFoundCode: 'BLOB_UNKNOWN' }, openClients),
        () => deps.blobs.onShared('stream'),
      ),
    );
  } catch (error) {
    // Once the bytes have started, the only honest signal left is a cut connection.
    if (reply.sent) {
      reply.raw.destroy();
      return reply;
    }
    throw error;
  }
  if (result === 'streamed') return reply;
  return relayWithoutBody(result, reply);
}

/** The client's response, taken over from fastify (the body is written straight to it). */
function openResponse(reply: FastifyReply, status: number, headers: Record<string, string>): FastifyReply['raw'] {
  reply.hijack();
  reply.raw.writeHead(status, { ...headers, [API_VERSION_HEADER]: API_VERSION });
  return reply.raw;
}

/** What Distribution answers for a blob, less what it says about caching (the gateway's answers are per caller). */
function blobHeaders(digest: string, length: number): Record<string, string> {
  return {
    'content-type': 'application/octet-stream',
    'content-length': String(length),
    'docker-content-digest': digest,
    etag: `"${digest}"`,
    'accept-ranges': 'bytes',
  };
}

function headerOf(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
