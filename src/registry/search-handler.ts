/**
 * `GET /v1/search` (docker search) over the caller's visible repositories only. A client that
 * announces registry/2.0 gets 404 so podman falls back to `_catalog`, as Katello's plugin does.
 * podman's user agent (libpod) gets the same 404.
 *
 * Identity comes from verified credentials only; `user=`/`account=` parameters are ignored.
 * docker search sends Basic credentials here rather than fetching a token, so, as
 * smart_proxy_container_gateway does (`v1_foreman_authorized_username`), they are checked with a
 * login — through the same throttle as `/v2/token` — and the search is the user's. Credentials
 * that prove nobody are a 401.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { RegistryError } from '../errors/registry-error.js';
import type { Identity } from '../access/identity.js';
import { parseBasicAuthorization } from '../token/basic-credentials.js';
import type { LoginService } from '../token/login-service.js';
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

export async function serveSearch(request: FastifyRequest, _reply: FastifyReply, source: CatalogSource, logIn: LoginService): Promise<unknown> {
  // podman (libpod) looks at /v1/search first and falls back to _catalog on a 4xx.
  const userAgent = request.headers['user-agent']?.toLowerCase() ?? '';
  if (request.headers['docker-distribution-api-version'] === 'registry/2.0' || userAgent.includes('libpod')) throw new RegistryError('NOT_FOUND');
  const query = request.query as Record<string, unknown>;
  const term = typeof query.q === 'string' ? query.q.toLowerCase() : '';
  const pageSize = positiveInteger(query.n, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, 'n');
  const page = positiveInteger(query.page, 1, 1_000_000, 'page');
  const visible = await source(await searcher(request, logIn));
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

/**
 * Who searches: the caller the identity hook found, or whom Basic credentials prove. Blank
 * credentials (`Basic Og==`, an empty user and password, which docker sends when it has none)
 * count as none; credentials that prove nobody are a 401, as smart_proxy_container_gateway answers.
 */
async function searcher(request: FastifyRequest, logIn: LoginService): Promise<Identity> {
  const header = request.headers.authorization;
  const basic = parseBasicAuthorization(header);
  if (basic.kind === 'absent' || /^Basic +Og==? *$/i.test(header ?? '')) return request.identity;
  if (basic.kind === 'invalid') throw new RegistryError('UNAUTHORIZED', { message: basic.reason });
  const { identity } = await logIn(request, basic.credentials, [], undefined);
  if (identity === undefined) throw new RegistryError('UNAUTHORIZED', { message: 'these credentials prove nobody' });
  return identity;
}
