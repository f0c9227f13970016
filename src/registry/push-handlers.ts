/**
 * Writes, for identities a provider granted them (static rules, Kubernetes reviews): blob uploads
 * (POST, PATCH, PUT — monolithic and chunked — upload status and cancel), manifest PUT and
 * DELETE of manifests and blobs, forwarded to the backend with the robot credential. Upload bodies
 * are streamed straight through; the gateway never holds a layer in memory. A manifest body
 * (bounded) is kept while it streams, so the referrers fallback can read its `subject`.
 *
 * The backend's upload Locations point at itself; they are rewritten to the gateway's public URL
 * so the client's next chunk comes back through the gateway (and its access decision).
 */
import { Transform } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { BackendLocation } from '../backend/backend-location.js';
import type { BackendClient, BackendWriteMethod } from '../backend/client.js';
import { backendFailure, rewriteLocation } from '../backend/content.js';
import { RegistryError } from '../errors/registry-error.js';

/** Request headers an upload or manifest PUT needs at the backend. */
const FORWARDED_PUSH_HEADERS = ['content-type', 'content-length', 'content-range'] as const;
/** What a push client reads from the answer. */
const PASSED_PUSH_HEADERS = ['location', 'range', 'docker-upload-uuid', 'docker-content-digest', 'content-type', 'oci-subject', 'content-range'] as const;
const MAX_ANSWER_BYTES = 64 * 1024;
/** Manifests are small documents (the OCI spec asks registries to take at least 4 MiB); layers go to blob uploads. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export interface WriteTarget {
  /** Backend API path (already validated by parseRegistryPath). */
  readonly path: string;
  /** The query to forward: only values the gateway has checked (upload `_state`, `digest`, `mount`/`from`). */
  readonly query: URLSearchParams;
  readonly notFoundCode: 'BLOB_UPLOAD_UNKNOWN' | 'NAME_UNKNOWN' | 'MANIFEST_UNKNOWN' | 'BLOB_UNKNOWN';
  /** A body larger than this is refused, and a body within it is kept (manifests); uploads are unbounded and not kept. */
  readonly maxBodyBytes?: number;
  /** Forward without the client's body (a retried mount, a DELETE). */
  readonly withoutBody?: boolean;
}

/** The backend's answer to a write, read whole (write answers are small), with the body the client sent when kept. */
export interface WriteResult {
  readonly statusCode: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
  /** The client's body as forwarded, for bounded (manifest) writes. */
  readonly sent?: Buffer;
}

/** The client left mid-write: nobody to answer, and nothing went wrong on our side. */
export const CLIENT_LEFT = Symbol('client left');

export async function sendWrite(request: FastifyRequest, backend: BackendClient, target: WriteTarget): Promise<WriteResult | typeof CLIENT_LEFT> {
  const headers: Record<string, string> = {};
  const method = request.method as BackendWriteMethod | 'GET';
  const forwardsBody = target.withoutBody !== true && method !== 'GET' && method !== 'DELETE';
  for (const name of FORWARDED_PUSH_HEADERS) {
    const value = request.headers[name];
    if (typeof value === 'string' && (forwardsBody || name !== 'content-length')) headers[name] = value;
  }
  if (!forwardsBody) delete headers['content-type'];
  const hasBody = forwardsBody && (headers['content-length'] !== undefined ? headers['content-length'] !== '0' : request.headers['transfer-encoding'] !== undefined);
  const limit = target.maxBodyBytes;
  if (limit !== undefined && Number(headers['content-length'] ?? 0) > limit) throw tooLarge(limit);
  const search = target.query.toString();
  const url = backend.location.urlOf(`${target.path}${search === '' ? '' : `?${search}`}`);
  const abort = new AbortController();
  const onClose = () => {
    if (!request.raw.complete) abort.abort(new Error('the client went away'));
  };
  request.raw.once('close', onClose);
  const kept: Buffer[] = [];
  try {
    const upload = !hasBody ? null : limit === undefined ? request.raw : request.raw.pipe(bounded(limit, abort, kept));
    const response = await backend.write({ method, url, headers, body: upload, signal: abort.signal });
    const body = await readLimited(response.body);
    return { statusCode: response.statusCode, headers: response.headers, body, ...(limit === undefined ? {} : { sent: Buffer.concat(kept) }) };
  } catch (error) {
    if (abort.signal.aborted && !(abort.signal.reason instanceof RegistryError)) return CLIENT_LEFT;
    throw error;
  } finally {
    request.raw.removeListener('close', onClose);
  }
}

/**
 * The backend's answer, as the client should see it: its own 4xx OCI errors explain a client
 * mistake (digest mismatch, unknown blob, deletion disabled) and pass on; a refusal of the
 * gateway's own credentials or a failure is a gateway-side error; success headers pass, with
 * upload Locations pointed back at the gateway.
 */
export async function relayWrite(result: WriteResult | typeof CLIENT_LEFT, request: FastifyRequest, reply: FastifyReply, backend: BackendClient, publicUrl: URL, target: WriteTarget, extraHeaders: Record<string, string> = {}): Promise<void> {
  if (result === CLIENT_LEFT) {
    reply.hijack();
    request.raw.destroy();
    return;
  }
  if (result.statusCode >= 400) {
    const contentType = result.headers['content-type'];
    const ociError = typeof contentType === 'string' && contentType.includes('json') && result.body.includes('"errors"');
    if (result.statusCode < 500 && result.statusCode !== 401 && result.statusCode !== 403 && ociError) {
      reply.code(result.statusCode).type('application/json; charset=utf-8').send(result.body);
      return;
    }
    throw await backendFailure({ statusCode: result.statusCode, headers: result.headers, body: Buffer.from(result.body) }, target.notFoundCode);
  }
  reply.code(result.statusCode);
  const requestUrl = backend.location.urlOf(target.path);
  for (const name of PASSED_PUSH_HEADERS) {
    const raw = result.headers[name];
    const value = Array.isArray(raw) ? raw[0] : raw;
    if (value === undefined) continue;
    reply.header(name, name === 'location' ? gatewayLocation(value, requestUrl, backend.location, publicUrl) : value);
  }
  reply.headers(extraHeaders);
  reply.header('content-length', Buffer.byteLength(result.body)).send(result.body);
}

/** The OCI error code of a backend answer, if it is one. */
export function backendErrorCode(result: WriteResult): string | undefined {
  try {
    const code = (JSON.parse(result.body) as { errors?: Array<{ code?: unknown }> }).errors?.[0]?.code;
    return typeof code === 'string' ? code : undefined;
  } catch {
    return undefined;
  }
}

function tooLarge(limit: number): RegistryError {
  return new RegistryError('BODY_TOO_LARGE', { message: `a manifest may not be larger than ${limit} bytes`, detail: { limit } });
}

/** Passes a streamed body on (keeping a copy) until it exceeds `limit`, then aborts the backend request. */
function bounded(limit: number, abort: AbortController, kept: Buffer[]): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      if (seen > limit) {
        abort.abort(tooLarge(limit));
        done(tooLarge(limit));
        return;
      }
      kept.push(chunk);
      done(null, chunk);
    },
  });
}

/** A Location in the backend's API becomes the same API path on the gateway; others are left alone. */
function gatewayLocation(location: string, requestUrl: URL, backend: BackendLocation, publicUrl: URL): string {
  if (!URL.canParse(location, requestUrl.href)) throw new RegistryError('BACKEND_ERROR', { message: 'the backend answered an invalid Location' });
  const target = new URL(location, requestUrl);
  const apiPath = backend.apiPathOf(target);
  if (apiPath === undefined) return target.href;
  const onGateway = new URL(target.href);
  onGateway.pathname = apiPath;
  return rewriteLocation(onGateway, publicUrl);
}

async function readLimited(body: AsyncIterable<unknown>): Promise<string> {
  let text = '';
  for await (const chunk of body) {
    if (text.length < MAX_ANSWER_BYTES) text += (chunk as Buffer).toString('utf8');
  }
  return text.slice(0, MAX_ANSWER_BYTES);
}
