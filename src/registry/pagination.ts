/**
 * Pagination of tag and repository lists (distribution-spec "Listing Tags", Docker "Catalog"):
 * lexically sorted, `last` excludes itself, `n` bounds the page, and a `Link` header with
 * rel="next" points at the gateway (a path, so it resolves against whatever URL the client used).
 */
import { RegistryError } from '../errors/registry-error.js';

/** Largest page a client may ask for; larger `n` values are clamped. */
export const MAX_PAGE_SIZE = 10_000;

export interface PageRequest {
  readonly n: number | undefined;
  readonly last: string | undefined;
}

export function parsePageRequest(query: URLSearchParams): PageRequest {
  const nText = query.get('n');
  let n: number | undefined;
  if (nText !== null && nText !== '') {
    if (!/^\d{1,9}$/.test(nText)) {
      throw new RegistryError('PAGINATION_NUMBER_INVALID', { detail: { n: nText.slice(0, 20) } });
    }
    n = Math.min(Number(nText), MAX_PAGE_SIZE);
  }
  const last = query.get('last');
  return { n, last: last === null || last === '' ? undefined : last };
}

export interface Page {
  readonly items: string[];
  /** The query of the next page, when there is one. */
  readonly next: { readonly n: number; readonly last: string } | undefined;
}

/** `sorted` must already be in ascending code-unit order. */
export function paginate(sorted: readonly string[], request: PageRequest, defaultPageSize?: number): Page {
  const start = request.last === undefined ? 0 : upperBound(sorted, request.last);
  const size = request.n ?? defaultPageSize;
  if (size === undefined) return { items: sorted.slice(start), next: undefined };
  const items = sorted.slice(start, start + size);
  const lastItem = items[items.length - 1];
  const more = start + size < sorted.length;
  return { items, next: more && lastItem !== undefined ? { n: size, last: lastItem } : undefined };
}

/** First index whose item sorts after `value`. */
function upperBound(sorted: readonly string[], value: string): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((sorted[middle] as string) <= value) low = middle + 1;
    else high = middle;
  }
  return low;
}

export function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function nextLink(path: string, next: NonNullable<Page['next']>): string {
  const query = new URLSearchParams({ n: String(next.n), last: next.last });
  return `<${path}?${query.toString()}>; rel="next"`;
}
