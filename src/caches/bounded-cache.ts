/**
 * BoundedCache: every per-caller or per-name cache in the gateway is one of these, so none can
 * be grown without limit by clients inventing names, tokens or users. Bounded by entries and by
 * bytes (an estimate of what each entry holds), least recently used dropped first, and entries
 * may carry a lifetime; expired ones are dropped when met and by the app's periodic sweep
 * (purgeStale). Each has a name, under which /metrics shows its size.
 *
 * lru-cache does the work (count, size and TTL bounds in one structure); the expiry the callers
 * decide by is still their own clock's (tests move it), the cache's TTL only frees the memory.
 *
 * Not caches in this sense, and bounded otherwise: maps of lookups in flight (as many as
 * concurrent requests), the per-socket certificate WeakMap (as many as open connections), and
 * what configuration holds (robots, key certificates).
 */
import { LRUCache } from 'lru-cache';

export interface CacheBounds<K, V> {
  readonly maxEntries: number;
  readonly maxBytes: number;
  /** Rough bytes an entry holds (key included); at least 1. */
  readonly sizeOf: (value: V, key: K) => number;
  /** Default lifetime of an entry; per entry with set(key, value, { ttl }). */
  readonly ttlMs?: number;
}

const NO_GET_OPTIONS = Object.freeze({});

export class BoundedCache<K extends {}, V extends {}> extends LRUCache<K, V> {
  private readonly maxEntries: number;

  constructor(
    readonly cacheName: string,
    bounds: CacheBounds<K, V>,
  ) {
    // No `max`: given one, lru-cache allocates its index arrays for all of them up front (about
    // 3.8 MiB for 100,000 entries with lifetimes), which for a dozen mostly empty caches was a
    // quarter of the idle heap. The count is enforced in set() instead; the arrays grow with use.
    super({
      maxSize: Math.max(1, bounds.maxBytes),
      sizeCalculation: (value, key) => Math.max(1, Math.ceil(bounds.sizeOf(value, key))),
      ...(bounds.ttlMs === undefined ? {} : { ttl: bounds.ttlMs }),
      // Expired entries are never answered; the sweep removes those nobody asks for again.
      allowStale: false,
      updateAgeOnGet: false,
    });
    this.maxEntries = Math.max(1, bounds.maxEntries);
  }

  /** lru-cache makes an options object for every get() not given one; every lookup here shares this one. */
  override get(key: K, options: LRUCache.GetOptions<K, V, unknown> = NO_GET_OPTIONS as LRUCache.GetOptions<K, V, unknown>): V | undefined {
    return super.get(key, options);
  }

  override set(key: K, value: V | undefined, options?: LRUCache.SetOptions<K, V, unknown>): this {
    super.set(key, value, options);
    // Over the count: the least recently used go, as lru-cache's own `max` would drop them.
    while (this.size > this.maxEntries) this.pop();
    return this;
  }
}

/** What the metrics and the sweep see of a cache. */
export interface CacheView {
  readonly cacheName: string;
  /** Entries held. */
  readonly size: number;
  /** Bytes held, by the cache's estimate. */
  readonly calculatedSize: number;
  purgeStale(): boolean;
}

/** What owns caches shows them, for the metrics and the sweep. */
export interface HasCaches {
  readonly caches: readonly CacheView[];
}

/** Rough size of a string key or value in memory (UTF-16). */
export const stringBytes = (text: string): number => 2 * text.length;
