/**
 * ManifestCache: manifests fetched by digest are immutable, so they are kept in a bounded
 * in-memory LRU and served without a backend round trip. It sits *after* the access decision —
 * every request is still authorized — and is keyed by repository, digest and the client's Accept
 * header: a digest present in one repository says nothing about another, and the backend's
 * answer depends on content negotiation.
 */
import { acceptSetName } from './coalescing/read-key.js';
import { BoundedCache, stringBytes, type CacheView, type HasCaches } from '../caches/bounded-cache.js';

export interface CachedManifest {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

/** Keys are client-chosen in part (Accept): the count is bounded as well as the bytes. */
const MAX_ENTRIES = 100_000;

export class ManifestCache implements HasCaches {
  private readonly entries: BoundedCache<string, CachedManifest> | undefined;

  /** maxBytes 0 disables the cache. */
  constructor(private readonly maxBytes: number) {
    this.entries =
      maxBytes > 0 ? new BoundedCache<string, CachedManifest>('manifests', { maxEntries: MAX_ENTRIES, maxBytes, sizeOf: (entry, key) => sizeOf(key, entry) }) : undefined;
  }

  /** Accept compared as a set of types, as shared reads compare it (coalescing/read-key.ts). */
  static keyOf(name: string, digest: string, accept: string | undefined): string {
    return `${name}@${digest}#${accept === undefined ? '' : acceptSetName(accept)}`;
  }

  get(key: string): CachedManifest | undefined {
    return this.entries?.get(key);
  }

  set(key: string, entry: CachedManifest): void {
    // One manifest may not take more than a sixteenth of the cache.
    if (sizeOf(key, entry) > this.maxBytes / 16) return;
    this.entries?.set(key, entry);
  }

  get size(): number {
    return this.entries?.size ?? 0;
  }

  get caches(): readonly CacheView[] {
    return this.entries === undefined ? [] : [this.entries];
  }
}

function sizeOf(key: string, entry: CachedManifest): number {
  let headers = 0;
  for (const [name, value] of Object.entries(entry.headers)) headers += stringBytes(name) + stringBytes(value);
  return entry.body.length + stringBytes(key) + headers;
}
