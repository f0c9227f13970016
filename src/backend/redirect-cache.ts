/**
 * RedirectCache: in redirect mode, where a backend sends a path to the same place every time
 * (Pulp sends `/v2/<name>/manifests/<ref>` to `/pulp/container/<name>/manifests/<ref>` on its
 * content app), the redirect is remembered for a few seconds, so the gateway answers it without
 * a backend round trip. It sits after the access decision, like every cache here. The lifetime is
 * short (backend.redirectCacheSeconds) because some backends redirect to signed URLs that expire.
 */
export class RedirectCache {
  private readonly entries = new Map<string, { status: number; location: string; until: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
  ) {}

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
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(key, { status, location, until: now + this.ttlMs });
  }
}
