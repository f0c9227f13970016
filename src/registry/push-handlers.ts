/**
 * Push, for identities a provider granted it (static rules, Kubernetes reviews): blob uploads
 * (POST, PATCH, PUT — monolithic and chunked — upload status and cancel) and manifest PUT,
 * forwarded to the backend with the robot credential. Bodies are streamed straight through;
 * the gateway never holds a layer in memory.
 *
 * The backend's upload Locations point at itself; they are rewritten to the gateway's public URL
 * so the client's next chunk comes back through the gateway (and its access decision).
 */
import { Transform } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { BackendClient, BackendWriteMethod } from '../backend/client.js';
import { backendFailure, rewriteLocation } from '../backend/content.js';
import { RegistryError } from '../errors/registry-error.js';

/** Request headers an upload or manifest PUT needs at the backend. */
const FORWARDED_PUSH_HEADERS = ['content-type', 'content-length', 'content-range'] as const;
/** What a push client reads from the answer. */
const PASSED_PUSH_HEADERS = ['location', 'range', 'docker-upload-uuid', 'docker-content-digest', 'content-type', 'oci-subject', 'content-range'] as const;
const MAX_ERROR_BYTES = 64 * 1024;
/** Manifests are small documents (the OCI spec asks registries to take at least 4 MiB); layers go to blob uploads. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export interface PushTarget {
  /** Backend path (already validated by parseRegistryPath). */
  readonly path: string;
  /** The checked query (registry/push-query.ts): upload `_state`, `digest`, `mount`/`from`. */
  readonly query: URLSearchParams;
  readonly notFoundCode: 'BLOB_UPLOAD_UNKNOWN' | 'NAME_UNKNOWN';
  /** A body larger than this is refused (manifests); uploads are unbounded. */
  readonly maxBodyBytes?: number;
}

export async function forwardPush(request: FastifyRequest, reply: FastifyReply, backend: BackendClient, publicUrl: URL, target: PushTarget): Promise<void> {
  const headers: Record<string, string> = {};
  for (const name of FORWARDED_PUSH_HEADERS) {
    const value = request.headers[name];
    if (typeof value === 'string') headers[name] = value;
  }
  const method = request.method as BackendWriteMethod | 'GET';
  const hasBody = method !== 'GET' && method !== 'DELETE' && (headers['content-length'] !== undefined ? headers['content-length'] !== '0' : request.headers['transfer-encoding'] !== undefined);
  const limit = target.maxBodyBytes;
  if (limit !== undefined && Number(headers['content-length'] ?? 0) > limit) throw tooLarge(limit);
  const search = target.query.toString();
  const url = new URL(`${target.path}${search === '' ? '' : `?${search}`}`, backend.baseUrl);
  const abort = new AbortController();
  const onClose = () => {
    if (!request.raw.complete) abort.abort(new Error('the client went away'));
  };
  request.raw.once('close', onClose);
  try {
    const upload = !hasBody ? null : limit === undefined ? request.raw : request.raw.pipe(bounded(limit, abort));
    const response = await backend.write({ method, url, headers, body: upload, signal: abort.signal });
    if (response.statusCode >= 400) {
      const body = await readLimited(response.body);
      const contentType = response.headers['content-type'];
      const ociError = typeof contentType === 'string' && contentType.includes('json') && body.includes('"errors"');
      // The backend's own 4xx explains a client mistake (digest mismatch, unknown blob): pass it on.
      if (response.statusCode < 500 && response.statusCode !== 401 && response.statusCode !== 403 && ociError) {
        reply.code(response.statusCode).type('application/json; charset=utf-8').send(body);
        return;
      }
      throw await backendFailure({ statusCode: response.statusCode, headers: response.headers, body: Buffer.from(body) }, target.notFoundCode);
    }
    reply.code(response.statusCode);
    for (const name of PASSED_PUSH_HEADERS) {
      const raw = response.headers[name];
      const value = Array.isArray(raw) ? raw[0] : raw;
      if (value === undefined) continue;
      reply.header(name, name === 'location' ? gatewayLocation(value, url, backend.baseUrl, publicUrl) : value);
    }
    const body = await readLimited(response.body);
    reply.header('content-length', Buffer.byteLength(body)).send(body);
  } catch (error) {
    // The client left mid-upload: nobody to answer, and nothing went wrong on our side.
    if (abort.signal.aborted && !(abort.signal.reason instanceof RegistryError)) {
      reply.hijack();
      request.raw.destroy();
      return;
    }
    throw error;
  } finally {
    request.raw.removeListener('close', onClose);
  }
}

function tooLarge(limit: number): RegistryError {
  return new RegistryError('BODY_TOO_LARGE', { message: `a manifest may not be larger than ${limit} bytes`, detail: { limit } });
}

/** Passes a streamed body on until it exceeds `limit`, then aborts the backend request. */
function bounded(limit: number, abort: AbortController): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      if (seen > limit) {
        abort.abort(tooLarge(limit));
        done(tooLarge(limit));
        return;
      }
      done(null, chunk);
    },
  });
}

/** A Location on the backend's origin becomes the same path on the gateway; others are left alone. */
function gatewayLocation(location: string, requestUrl: URL, backendUrl: URL, publicUrl: URL): string {
  if (!URL.canParse(location, requestUrl.href)) throw new RegistryError('BACKEND_ERROR', { message: 'the backend answered an invalid Location' });
  const target = new URL(location, requestUrl);
  return target.origin === backendUrl.origin ? rewriteLocation(target, publicUrl) : target.href;
}

async function readLimited(body: AsyncIterable<unknown>): Promise<string> {
  let text = '';
  for await (const chunk of body) {
    if (text.length < MAX_ERROR_BYTES) text += (chunk as Buffer).toString('utf8');
  }
  return text.slice(0, MAX_ERROR_BYTES);
}
