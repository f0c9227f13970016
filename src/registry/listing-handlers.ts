/**
 * Tag lists and the catalog. Both are paginated by the gateway itself (sorted, `n`/`last`, Link
 * to the gateway), so clients get correct pages whatever the backend does with `n`
 * (Distribution 2.8 ignores it on tags/list).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Identity } from '../access/identity.js';
import type { BackendClient, ClientConnection } from '../backend/client.js';
import { backendFailure, headerValue } from '../backend/content.js';
import { RegistryError } from '../errors/registry-error.js';
import { compareCodeUnits, nextLink, paginate, parsePageRequest } from './pagination.js';

const MAX_LIST_BYTES = 32 * 1024 * 1024;
const MAX_BACKEND_PAGES = 100;
/** Catalog pages default to this size when the client gives no `n` (Distribution uses 100). */
const DEFAULT_CATALOG_PAGE = 1_000;

/** The repositories a caller may see, sorted. */
export type CatalogSource = (identity: Identity) => Promise<readonly string[]> | readonly string[];

export async function serveTags(name: string, query: URLSearchParams, reply: FastifyReply, backend: BackendClient): Promise<unknown> {
  const page = parsePageRequest(query);
  const tags = await fetchWholeList(backend, `/v2/${name}/tags/list`, 'tags', reply.raw);
  const sorted = [...tags].sort(compareCodeUnits);
  const result = paginate(sorted, page);
  if (result.next !== undefined) reply.header('link', nextLink(`/v2/${name}/tags/list`, result.next));
  return { name, tags: result.items };
}

export async function serveCatalog(request: FastifyRequest, reply: FastifyReply, query: URLSearchParams, source: CatalogSource): Promise<unknown> {
  const page = parsePageRequest(query);
  const visible = await source(request.identity);
  const result = paginate(visible, page, DEFAULT_CATALOG_PAGE);
  if (result.next !== undefined) reply.header('link', nextLink('/v2/_catalog', result.next));
  return { repositories: result.items };
}

/**
 * Reads a list endpoint of the backend whole, following its own Link pages (on the backend's
 * origin only) so that the gateway's pages are computed over the complete, sorted list. Each page
 * is a shared read: concurrent lists of one repository's tags make one backend call.
 */
export async function fetchWholeList(backend: BackendClient, path: string, key: 'tags' | 'repositories', cancelWhenClosed?: ClientConnection): Promise<string[]> {
  const items: string[] = [];
  let url: URL | undefined = backend.location.urlOf(path);
  for (let pageNumber = 0; url !== undefined && pageNumber < MAX_BACKEND_PAGES; pageNumber += 1) {
    const response = await backend.fetchWhole({
      method: 'GET',
      url,
      headers: { accept: 'application/json' },
      maxBytes: MAX_LIST_BYTES,
      shared: true,
      ...(cancelWhenClosed === undefined ? {} : { cancelWhenClosed }),
    });
    if (response.statusCode !== 200) throw await backendFailure(response, 'NAME_UNKNOWN');
    items.push(...parseListBody(response.body.toString('utf8'), key));
    url = nextBackendPage(headerValue(response, 'link'), url);
  }
  return items;
}

function parseListBody(text: string, key: 'tags' | 'repositories'): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new RegistryError('BACKEND_ERROR', { message: 'the backend answered a list that is not JSON' });
  }
  const list = (parsed as Record<string, unknown> | null)?.[key];
  // A repository with no tags is `"tags": null` in Distribution.
  if (list === null || list === undefined) return [];
  if (!Array.isArray(list) || !list.every((item): item is string => typeof item === 'string')) {
    throw new RegistryError('BACKEND_ERROR', { message: `the backend answered a malformed ${key} list` });
  }
  return list;
}

/** The backend's next page, followed only on the backend's own origin. */
function nextBackendPage(link: string | undefined, base: URL): URL | undefined {
  if (link === undefined) return undefined;
  const match = /<([^>]+)>\s*;\s*rel="?next"?/.exec(link);
  if (match?.[1] === undefined) return undefined;
  const next = new URL(match[1], base);
  return next.origin === base.origin ? next : undefined;
}
