/**
 * RedirectCache: in redirect mode, where a backend sends a path to the same place every time
 * (Pulp sends `/v2/<name>/manifests/<ref>` to `/pulp/container/<name>/manifests/<ref>` on its
 * content app), the redirect is remembered for a few seconds, so the gateway answers it without
 * a backend round trip. It sits after the access decision, like every cache here. The lifetime is
 * short (backend.redirectCacheSeconds) because some backends redirect to signed URLs that expire.
 */
import { BoundedCache, stringBytes, type CacheView, type HasCaches } from '../caches/bounded-cache.js';

interface CachedRedirect {
  readonly status: number;
  readonly location: string;
  readonly until: number;
}

const MAX_BYTES = 16 * 1024 * 1024;

export class RedirectCache implements HasCaches {
  private readonly entries: BoundedCache<string, CachedRedirect>;

  constructor(
    private readonly ttlMs: number,
    maxEntries = 10_000,
  ) {
    this.entries = new BoundedCache<string, CachedRedirect>('redirects', {
      maxEntries,
      maxBytes: MAX_BYTES,
      sizeOf: (entry, key) => stringBytes(key) + stringBytes(entry.location) + 32,
      ...(ttlMs > 0 ? { ttlMs } : {}),
    });
  }

  get enabled(): boolean {
    return this.ttlMs > 0;
  }

  get(key: string, now: number): { status: number; location: string } | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.until <= now) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  set(key: string, status: number, location: string, now: number): void {
    if (!this.enabled) return;
    this.entries.set(key, { status, location, until: now + this.ttlMs });
  }

  get caches(): readonly CacheView[] {
    return [this.entries];
  }
}
