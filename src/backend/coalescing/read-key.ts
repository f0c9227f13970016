/**
 * When two backend reads are the same read: same method, same URL (which also fixes the robot
 * credential's scope, derived from path and method), same forwarded headers — the Accept header
 * compared as a set of media types, since clients list the same types in different orders and the
 * backend's answer must be acceptable to each of them, whatever their order — and the same
 * size limit.
 */
export function sharedReadKey(method: string, url: URL, headers: Readonly<Record<string, string>>, maxBytes: number): string {
  let key = `${method} ${url.href} ${maxBytes}`;
  for (const name of Object.keys(headers).sort()) {
    const value = headers[name] as string;
    key += `\n${name}: ${name === 'accept' ? acceptSet(value) : value}`;
  }
  return key;
}

/** Clients send a handful of distinct Accept values, each thousands of times: normalized once each. */
const normalizedAccepts = new Map<string, string>();
const MAX_REMEMBERED_ACCEPTS = 256;
/**
 * The last Accept value normalized: most requests repeat it, and comparing a fresh header string
 * with it costs less than hashing the fresh string for the map.
 */
let lastAccept: string | undefined;
let lastNormalized = '';

export function acceptSet(accept: string): string {
  if (accept === lastAccept) return lastNormalized;
  let normalized = normalizedAccepts.get(accept);
  if (normalized === undefined) {
    normalized = [...new Set(accept.split(',').map((type) => type.trim().toLowerCase()).filter((type) => type !== ''))].sort().join(',');
    // A client inventing Accept values gets them normalized each time, never a growing map.
    if (normalizedAccepts.size >= MAX_REMEMBERED_ACCEPTS) normalizedAccepts.clear();
    normalizedAccepts.set(accept, normalized);
  }
  lastAccept = accept;
  lastNormalized = normalized;
  return normalized;
}

/** Short, stable names for Accept sets, for cache keys hashed on every request. */
const acceptSetIds = new Map<string, number>();
/** Never reused: after the map is cleared, a set gets a new id rather than another set's old one. */
let nextAcceptSetId = 1;

/** A number naming this Accept value's set of types (equal sets, equal numbers) while this process runs. */
export function acceptSetId(accept: string): number {
  const set = acceptSet(accept);
  let id = acceptSetIds.get(set);
  if (id === undefined) {
    if (acceptSetIds.size >= MAX_REMEMBERED_ACCEPTS) acceptSetIds.clear();
    id = nextAcceptSetId;
    nextAcceptSetId += 1;
    acceptSetIds.set(set, id);
  }
  return id;
}
