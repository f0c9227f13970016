/**
 * fetchContent and streamContent: the one place that decides whether a client gets a redirect or
 * bytes (CNCF Distribution's blobserver). In `redirect` mode a backend redirect is handed to the client,
 * with its origin rewritten to backend.clientUrl when set; in `proxy` mode the gateway follows it
 * and streams. Backend failures become OCI errors here, so handlers only see outcomes.
 */
import { Writable, type Readable } from 'node:stream';
import type { GatewayConfig } from '../config/compiled.js';
import { OciCodes, isOciCode, type OciCode } from '../errors/oci-codes.js';
import { RegistryError } from '../errors/registry-error.js';
import type { BackendClient, BackendMethod, ClientConnection } from './client.js';

/** Response headers a client may see; everything else the backend says stays behind the gateway. */
const PASSED_RESPONSE_HEADERS = [
  'content-type',
  'content-length',
  'content-range',
  'accept-ranges',
  'docker-content-digest',
  'etag',
  'last-modified',
  'oci-filters-applied',
] as const;

/** Request headers worth forwarding: content negotiation, ranges and conditionals. */
export const FORWARDED_REQUEST_HEADERS = ['accept', 'range', 'if-range', 'if-none-match', 'if-modified-since'] as const;

const MAX_REDIRECTS = 5;
const MAX_ERROR_BODY_BYTES = 64 * 1024;

interface BackendCall {
  /** Backend path and query, e.g. `/v2/library/alpine/manifests/latest`; already validated. */
  readonly pathAndQuery: string;
  readonly headers: Record<string, string>;
  /** The code to answer when the backend says 404 without a usable OCI error. */
  readonly notFoundCode: OciCode;
}

/** A small answer (manifest, index, HEAD): read whole. */
export interface ContentRequest extends BackendCall {
  readonly method: BackendMethod;
  /** A larger body is refused (BACKEND_ERROR) instead of being read. */
  readonly maxBytes: number;
  /** The client connection whose closing cancels the backend call. */
  readonly cancelWhenClosed?: ClientConnection;
  /** May share an identical read in flight (WholeRequest.shared). */
  readonly shared?: boolean;
}

/** A body that may be large (a blob GET): streamed. */
export interface StreamRequest extends BackendCall {
  readonly signal?: AbortSignal;
}

/** What both ways of calling the backend answer: a stream (blobs) or the whole body (the rest). */
type AnyResponse = { readonly statusCode: number; readonly headers: Record<string, string | string[] | undefined>; readonly body: Readable | Buffer };

export type ContentOutcome =
  | { readonly kind: 'redirect'; readonly status: number; readonly location: string }
  | {
      readonly kind: 'content';
      readonly status: number;
      readonly headers: Record<string, string>;
      /** Null for HEAD and 304. */
      readonly body: Buffer | null;
    };

export type DeliveryPolicy = Pick<GatewayConfig['backend'], 'mode' | 'clientUrl'>;

export async function fetchContent(client: BackendClient, policy: DeliveryPolicy, request: ContentRequest): Promise<ContentOutcome> {
  let url = client.location.urlOf(request.pathAndQuery);
  let method = request.method;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop += 1) {
    const response = await client.fetchWhole({
      method,
      url,
      headers: request.headers,
      maxBytes: request.maxBytes,
      ...(request.cancelWhenClosed ? { cancelWhenClosed: request.cancelWhenClosed } : {}),
      ...(request.shared === true ? { shared: true } : {}),
    });
    const location = headerValue(response, 'location');
    if (response.statusCode >= 300 && response.statusCode < 400 && response.statusCode !== 304 && location !== undefined) {
      const target = new URL(location, url);
      if (policy.mode === 'redirect') {
        return { kind: 'redirect', status: response.statusCode, location: rewriteLocation(target, policy.clientUrl) };
      }
      if (response.statusCode === 303) method = 'GET';
      url = target;
      continue;
    }
    if ((response.statusCode >= 200 && response.statusCode < 300) || response.statusCode === 304) {
      const headers = passedHeaders(response);
      if (method === 'HEAD' || response.statusCode === 304 || request.method === 'HEAD') {
        return { kind: 'content', status: response.statusCode, headers, body: null };
      }
      return { kind: 'content', status: response.statusCode, headers, body: response.body };
    }
    throw await backendFailure(response, request.notFoundCode);
  }
  throw new RegistryError('BACKEND_ERROR', { message: 'the backend redirected too many times' });
}

/**
 * Like fetchContent for a GET whose body may be large: a 2xx body is streamed straight into the
 * Writable `openClient` returns (the client's response), redirects are handed out or followed as
 * the policy says, and errors become OCI errors. Resolves 'streamed' once the body is through.
 */
export async function streamContent(
  client: BackendClient,
  policy: DeliveryPolicy,
  request: StreamRequest,
  openClient: (status: number, headers: Record<string, string>) => Writable,
): Promise<Extract<ContentOutcome, { kind: 'redirect' }> | 'streamed'> {
  let url = client.location.urlOf(request.pathAndQuery);
  for (let hop = 0; hop <= MAX_REDIRECTS; hop += 1) {
    const seen: { verdict: StreamVerdict } = { verdict: { kind: 'streamed' } };
    const errorChunks: Buffer[] = [];
    const streaming = client.streamInto({ method: 'GET', url, headers: request.headers, ...(request.signal ? { signal: request.signal } : {}) }, (statusCode, headers) => {
      const response = { statusCode, headers, body: Buffer.alloc(0) };
      const location = headerValue(response, 'location');
      if (statusCode >= 300 && statusCode < 400 && statusCode !== 304 && location !== undefined) {
        seen.verdict = { kind: 'redirect', status: statusCode, location };
        return discardingWritable();
      }
      if ((statusCode >= 200 && statusCode < 300) || statusCode === 304) return openClient(statusCode, passedHeaders(response));
      seen.verdict = { kind: 'error', response };
      return collectingWritable(errorChunks, MAX_ERROR_BODY_BYTES);
    });
    try {
      await streaming;
    } catch (error) {
      // A backend may announce more error body than it sends (Distribution's 416 does); the
      // status and headers already say what went wrong. A failed 2xx stream is a real failure.
      if (seen.verdict.kind === 'streamed') throw error;
    }
    const outcome = seen.verdict;
    if (outcome.kind === 'streamed') return 'streamed';
    if (outcome.kind === 'error') throw await backendFailure({ ...outcome.response, body: Buffer.concat(errorChunks) }, request.notFoundCode);
    const target = new URL(outcome.location, url);
    if (policy.mode === 'redirect') return { kind: 'redirect', status: outcome.status, location: rewriteLocation(target, policy.clientUrl) };
    url = target;
  }
  throw new RegistryError('BACKEND_ERROR', { message: 'the backend redirected too many times' });
}

type StreamVerdict = { kind: 'streamed' } | { kind: 'redirect'; status: number; location: string } | { kind: 'error'; response: AnyResponse };

function discardingWritable(): Writable {
  return new Writable({ write: (_chunk, _encoding, done) => done() });
}

function collectingWritable(chunks: Buffer[], limit: number): Writable {
  let size = 0;
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      // A copy: the chunk may be a view into a read buffer that is used again once this returns.
      if (size < limit) chunks.push(Buffer.from(chunk));
      size += chunk.length;
      done();
    },
  });
}

/**
 * Redirect mode behind a load balancer: clients must reach the content app through clientUrl.
 * Its scheme, host and port replace the Location's; a path in clientUrl is put in front.
 */
export function rewriteLocation(target: URL, clientUrl: URL | null): string {
  if (clientUrl === null) return target.href;
  const rewritten = new URL(target.href);
  rewritten.protocol = clientUrl.protocol;
  // The `host` setter keeps the old port when the new host has none; set both explicitly.
  rewritten.hostname = clientUrl.hostname;
  rewritten.port = clientUrl.port;
  const prefix = clientUrl.pathname.replace(/\/+$/, '');
  if (prefix !== '') rewritten.pathname = `${prefix}${target.pathname}`;
  return rewritten.href;
}

function passedHeaders(response: AnyResponse): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of PASSED_RESPONSE_HEADERS) {
    const value = headerValue(response, name);
    if (value !== undefined) headers[name] = value;
  }
  return headers;
}

export function headerValue(response: AnyResponse, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Translates a backend error status. Its 404 and 400 answers keep their OCI code (the caller was
 * already allowed to see the repository); a backend that refuses the gateway itself, or fails, is
 * a gateway-side problem (502), never a reason for the client to re-authenticate.
 */
export async function backendFailure(response: AnyResponse, notFoundCode: OciCode): Promise<RegistryError> {
  const status = response.statusCode;
  const backendCode = await readBackendErrorCode(response);
  if (status === 404) return new RegistryError(backendCode !== undefined && statusOf(backendCode) === 404 ? backendCode : notFoundCode);
  if (status === 416) {
    const range = headerValue(response, 'content-range');
    return new RegistryError('RANGE_INVALID', range === undefined ? {} : { headers: { 'content-range': range } });
  }
  if (status === 429) {
    const retryAfter = headerValue(response, 'retry-after');
    return new RegistryError('TOOMANYREQUESTS', retryAfter === undefined ? {} : { headers: { 'retry-after': retryAfter } });
  }
  if (status === 400 && backendCode !== undefined && statusOf(backendCode) === 400) return new RegistryError(backendCode);
  if (status === 401 || status === 403) {
    return new RegistryError('BACKEND_ERROR', { message: 'the backend registry refused the gateway (check backend.auth)', detail: { status } });
  }
  return new RegistryError('BACKEND_ERROR', { detail: { status } });
}

function statusOf(code: OciCode): number {
  return OciCodes[code].status;
}

async function readBackendErrorCode(response: AnyResponse): Promise<OciCode | undefined> {
  const text = Buffer.isBuffer(response.body) ? response.body.subarray(0, MAX_ERROR_BODY_BYTES).toString('utf8') : await readErrorText(response.body);
  try {
    const parsed = JSON.parse(text) as { errors?: Array<{ code?: unknown }> };
    const code = parsed.errors?.[0]?.code;
    return typeof code === 'string' && isOciCode(code) ? code : undefined;
  } catch {
    return undefined;
  }
}

async function readErrorText(body: Readable): Promise<string> {
  let text = '';
  try {
    for await (const chunk of body) {
      text += (chunk as Buffer).toString('utf8');
      if (text.length > MAX_ERROR_BODY_BYTES) break;
    }
  } catch {
    return '';
  } finally {
    body.destroy();
  }
  return text;
}

/** Reads a small body (manifests, tag lists) fully, refusing more than `limit` bytes. */
export async function readBounded(body: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > limit) {
      body.destroy();
      throw new RegistryError('BACKEND_ERROR', { message: 'the backend answered with a body larger than allowed', detail: { limit } });
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks, size);
}
