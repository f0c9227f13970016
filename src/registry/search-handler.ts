/**
 * `GET /v1/search` (docker search) over the caller's visible repositories only. A client that
 * announces registry/2.0 gets 404 so podman falls back to `_catalog`, as Katello's plugin does.
 * Identity comes from verified credentials; `user=`/`account=` parameters are ignored.
 * podman's user agent (libpod) gets the same 404.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { RegistryError } from '../errors/registry-error.js';
import type { CatalogSource } from './listing-handlers.js';

const DEFAULT_PAGE_SIZE = 25;
const MAX_PAGE_SIZE = 100;

function positiveInteger(value: unknown, fallback: number, max: number, name: string): number {
  if (value === undefined || value === '') return fallback;
  if (typeof value !== 'string' || !/^\d{1,6}$/.test(value) || Number(value) < 1) {
    throw new RegistryError('BAD_REQUEST', { message: `${name} must be a positive integer` });
  }
  return Math.min(Number(value), max);
}

export async function serveSearch(request: FastifyRequest, _reply: FastifyReply, source: CatalogSource): Promise<unknown> {
  // podman (libpod) looks at /v1/search first and falls back to _catalog on a 4xx.
  const userAgent = request.headers['user-agent']?.toLowerCase() ?? '';
  if (request.headers['docker-distribution-api-version'] === 'registry/2.0' || userAgent.includes('libpod')) throw new RegistryError('NOT_FOUND');
  const query = request.query as Record<string, unknown>;
  const term = typeof query.q === 'string' ? query.q.toLowerCase() : '';
  const pageSize = positiveInteger(query.n, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, 'n');
  const page = positiveInteger(query.page, 1, 1_000_000, 'page');
  const visible = await source(request.identity);
  const matches = term === '' ? visible : visible.filter((name) => name.toLowerCase().includes(term));
  const results = matches.slice((page - 1) * pageSize, page * pageSize).map((name) => ({ name, description: '', star_count: 0, is_official: false, is_automated: false }));
  return {
    query: typeof query.q === 'string' ? query.q : '',
    num_results: matches.length,
    num_pages: Math.max(1, Math.ceil(matches.length / pageSize)),
    page,
    page_size: pageSize,
    results,
  };
}
