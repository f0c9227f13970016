/**
 * `GET /index/static`: the flatpak registry index, fetched from the backend with the client's
 * query and filtered to the caller's visible repositories (`Results` entries whose `Name` the
 * caller may see). The ETag is computed from each caller's filtered index — never the backend's,
 * which describes repositories this caller must not learn about — so conditional requests work
 * per caller. `Registry` is rewritten to the gateway's public URL, so flatpak pulls through it.
 * The backend's error answers reach the client as they are, as with smart_proxy_container_gateway.
 */
import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { BackendClient } from '../backend/client.js';
import { backendFailure, readBounded } from '../backend/content.js';
import { RegistryError } from '../errors/registry-error.js';
import type { CatalogSource } from './listing-handlers.js';
import { splitUrl } from './paths.js';

const MAX_INDEX_BYTES = 64 * 1024 * 1024;
const MAX_ERROR_BYTES = 64 * 1024;

export interface FlatpakIndexDependencies {
  readonly backend: BackendClient;
  readonly indexPath: string;
  readonly catalog: CatalogSource;
  /** Flatpak pulls from the index's `Registry` URL: it must be the gateway, not the backend. */
  readonly publicUrl: URL;
}

export async function serveFlatpakIndex(request: FastifyRequest, reply: FastifyReply, deps: FlatpakIndexDependencies): Promise<unknown> {
  const { query } = splitUrl(request.raw.url ?? '');
  const url = deps.backend.location.urlOf(deps.indexPath);
  url.search = query;
  const response = await deps.backend.send({ method: 'GET', url, headers: { accept: 'application/json' } });
  if (response.statusCode >= 400 && response.statusCode !== 401 && response.statusCode !== 403) {
    // As smart_proxy_container_gateway: the backend's own status and body (Pulp refuses index queries
    // without the filters flatpak sends with a 400 that says which). 401/403 concern the gateway's
    // own credentials at the backend, not the client's, and stay a BACKEND_ERROR.
    const body = await readBounded(response.body, MAX_ERROR_BYTES);
    const type = response.headers['content-type'];
    return reply.code(response.statusCode).type(typeof type === 'string' ? type : 'application/json').send(body);
  }
  if (response.statusCode !== 200) throw await backendFailure(response, 'NOT_FOUND');
  const text = (await readBounded(response.body, MAX_INDEX_BYTES)).toString('utf8');
  const visible = new Set(await deps.catalog(request.identity));
  const filtered = Buffer.from(JSON.stringify({ ...filterIndex(text, visible), Registry: deps.publicUrl.href }));
  const etag = `"${createHash('sha256').update(filtered).digest('base64url')}"`;
  reply.header('etag', etag).header('cache-control', 'private, no-cache').header('vary', 'authorization');
  if (ifNoneMatch(request.headers['if-none-match'], etag)) return reply.code(304).send();
  return reply.type('application/json').send(filtered);
}

/** Keeps only the Results a caller may see; anything that is not the index format is a 502. */
export function filterIndex(text: string, visible: ReadonlySet<string>): Record<string, unknown> {
  let index: unknown;
  try {
    index = JSON.parse(text);
  } catch {
    throw new RegistryError('BACKEND_ERROR', { message: 'the backend answered a flatpak index that is not JSON' });
  }
  if (typeof index !== 'object' || index === null || Array.isArray(index)) {
    throw new RegistryError('BACKEND_ERROR', { message: 'the backend answered a malformed flatpak index' });
  }
  const results = (index as { Results?: unknown }).Results;
  if (results !== undefined && results !== null && !Array.isArray(results)) {
    throw new RegistryError('BACKEND_ERROR', { message: 'the backend answered a flatpak index whose Results is not a list' });
  }
  const kept = (results ?? []).filter((entry: unknown) => {
    const name = (entry as { Name?: unknown } | null)?.Name;
    return typeof name === 'string' && visible.has(name);
  });
  return { ...(index as Record<string, unknown>), Results: kept };
}

function ifNoneMatch(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(',').some((candidate) => {
    const value = candidate.trim();
    return value === '*' || value === etag || value === `W/${etag}`;
  });
}
