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

export function acceptSet(accept: string): string {
  const known = normalizedAccepts.get(accept);
  if (known !== undefined) return known;
  const normalized = [...new Set(accept.split(',').map((type) => type.trim().toLowerCase()).filter((type) => type !== ''))].sort().join(',');
  // A client inventing Accept values gets them normalized each time, never a growing map.
  if (normalizedAccepts.size >= MAX_REMEMBERED_ACCEPTS) normalizedAccepts.clear();
  normalizedAccepts.set(accept, normalized);
  return normalized;
}
