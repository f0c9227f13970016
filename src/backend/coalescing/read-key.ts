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

/**
 * Short names for Accept sets, for cache keys hashed on every request. The first sets seen get a
 * number each, kept for the life of the process (real clients send a handful); any later set is
 * named by itself. Never cleared: a client inventing Accept values cannot rename the sets every
 * other client's cache entries are keyed by.
 */
const acceptSetNames = new Map<string, string>();
const MAX_NUMBERED_ACCEPT_SETS = 64;

/** A name for this Accept value's set of types (equal sets, equal names) while this process runs; never one that another set has. */
export function acceptSetName(accept: string): string {
  const set = acceptSet(accept);
  const known = acceptSetNames.get(set);
  if (known !== undefined) return known;
  // Escaped: a set named by itself never holds the `#` that separates the parts of a cache key.
  if (acceptSetNames.size >= MAX_NUMBERED_ACCEPT_SETS) return `=${encodeURIComponent(set)}`;
  const name = String(acceptSetNames.size + 1);
  acceptSetNames.set(set, name);
  return name;
}
