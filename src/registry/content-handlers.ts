/**
 * Manifests, and what manifest and blob handlers share (blob-handlers.ts): the access decision
 * has already granted the pull; these forward to the backend and relay the outcome (a redirect,
 * or bytes).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { OciCode } from '../errors/oci-codes.js';
import { FORWARDED_REQUEST_HEADERS, fetchContent, type ContentOutcome } from '../backend/content.js';
import { ManifestCache } from '../backend/manifest-cache.js';
import { acceptSetName } from '../backend/coalescing/read-key.js';
import type { RegistryDependencies } from './plugin.js';

/** Distribution refuses manifests over 4 MiB; a little headroom for other backends. */
const MAX_MANIFEST_BYTES = 8 * 1024 * 1024;

export type ContentDeps = Pick<RegistryDependencies, 'backend' | 'delivery' | 'manifestCache' | 'redirectCache'>;

/** Synchronous when the answer is in memory (a manifest by digest, a remembered redirect). */
export function serveManifest(name: string, reference: string, byDigest: boolean, request: FastifyRequest, reply: FastifyReply, deps: ContentDeps): unknown {
  // Conditional requests go to the backend, which knows how to answer them.
  const cacheKey = byDigest && request.headers['if-none-match'] === undefined ? ManifestCache.keyOf(name, reference, request.headers.accept) : undefined;
  const cached = cacheKey === undefined ? undefined : deps.manifestCache.get(cacheKey);
  if (cached !== undefined) {
    reply.code(cached.status).headers(cached.headers);
    return request.method === 'HEAD' ? reply.send() : reply.send(cached.body);
  }
  // A HEAD by digest is answered from a GET, so the next request of either verb is a cache hit.
  const method = cacheKey !== undefined ? 'GET' : undefined;
  // Manifests are small: reading them whole is faster than streaming, and bounded.
  const outcome = fetchFromBackend(`/v2/${name}/manifests/${reference}`, 'MANIFEST_UNKNOWN', request, reply, deps, { method });
  const relay = (fetched: ContentOutcome): FastifyReply => {
    if (fetched.kind === 'redirect' || fetched.body === null) return relayWithoutBody(fetched, reply);
    const manifest = fetched.body;
    if (cacheKey !== undefined && fetched.status === 200 && fetched.headers['docker-content-digest'] === reference) {
      deps.manifestCache.set(cacheKey, { status: fetched.status, headers: fetched.headers, body: manifest });
    }
    reply.code(fetched.status).headers(fetched.headers);
    return request.method === 'HEAD' ? reply.send() : reply.send(manifest);
  };
  return outcome instanceof Promise ? outcome.then(relay) : relay(outcome);
}

export function fetchFromBackend(
  pathAndQuery: string,
  notFoundCode: OciCode,
  request: FastifyRequest,
  reply: FastifyReply,
  deps: ContentDeps,
  options: { method?: 'GET' | 'HEAD' | undefined },
): ContentOutcome | Promise<ContentOutcome> {
  const method = options.method ?? (request.method === 'HEAD' ? 'HEAD' : 'GET');
  const remembered = rememberedRedirect(deps, method, pathAndQuery, request.headers);
  if (remembered !== undefined) return remembered;
  const headers = forwardedHeaders(request);
  // A client that leaves cancels the backend call through its connection.
  return recordingRedirect(deps, method, pathAndQuery, headers, () =>
    fetchContent(deps.backend, deps.delivery, { method, pathAndQuery, headers, maxBytes: MAX_MANIFEST_BYTES, cancelWhenClosed: reply.raw, notFoundCode, shared: true }),
  );
}

export type Redirect = Extract<ContentOutcome, { kind: 'redirect' }>;

/** What of a request's headers selects the backend's redirect: the client's own headers or those forwarded (the same values). */
type RedirectSelectors = Readonly<{ accept?: string | undefined; range?: string | undefined }>;

/** Redirect mode: the redirect the backend gave for the same request moments ago, if any. */
export function rememberedRedirect(deps: ContentDeps, method: string, pathAndQuery: string, headers: RedirectSelectors): Redirect | undefined {
  if (deps.delivery.mode !== 'redirect' || !deps.redirectCache.enabled) return undefined;
  const remembered = deps.redirectCache.get(redirectKey(method, pathAndQuery, headers), Date.now());
  return remembered === undefined ? undefined : { kind: 'redirect', status: remembered.status, location: remembered.location };
}

/** Accept as a set of types, as shared reads and the manifest cache compare it, named by a short number: this key is hashed on every request. */
function redirectKey(method: string, pathAndQuery: string, headers: RedirectSelectors): string {
  return `${method} ${pathAndQuery}#${headers.accept === undefined ? '' : acceptSetName(headers.accept)}#${headers.range ?? ''}`;
}

/** The fetching half of the redirect cache, for a caller that looked the request up already: a redirect it answers is remembered. */
export function recordingRedirect<T>(deps: ContentDeps, method: string, pathAndQuery: string, headers: RedirectSelectors, fetch: () => Promise<T | Redirect>): Promise<T | Redirect> {
  if (deps.delivery.mode !== 'redirect' || !deps.redirectCache.enabled) return fetch();
  const now = Date.now();
  return fetch().then((outcome) => {
    const redirect = outcome as Partial<Redirect> | null;
    if (typeof redirect === 'object' && redirect !== null && redirect.kind === 'redirect' && redirect.status !== undefined && redirect.location !== undefined) {
      deps.redirectCache.set(redirectKey(method, pathAndQuery, headers), redirect.status, redirect.location, now);
    }
    return outcome;
  });
}

export function relayWithoutBody(outcome: ContentOutcome, reply: FastifyReply): FastifyReply {
  if (outcome.kind === 'redirect') return reply.code(outcome.status).header('location', outcome.location).send();
  return reply.code(outcome.status).headers(outcome.headers).send();
}

export function forwardedHeaders(request: FastifyRequest): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of FORWARDED_REQUEST_HEADERS) {
    const value = request.headers[name];
    if (typeof value === 'string') headers[name] = value;
    else if (Array.isArray(value)) headers[name] = value.join(', ');
  }
  return headers;
}
