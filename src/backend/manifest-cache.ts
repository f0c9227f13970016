/**
 * ManifestCache: manifests fetched by digest are immutable, so they are kept in a bounded
 * in-memory LRU and served without a backend round trip. It sits *after* the access decision —
 * every request is still authorized — and is keyed by repository, digest and the client's Accept
 * header: a digest present in one repository says nothing about another, and the backend's
 * answer depends on content negotiation.
 */
export interface CachedManifest {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

export class ManifestCache {
  private readonly entries = new Map<string, CachedManifest>();
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  static keyOf(name: string, digest: string, accept: string | undefined): string {
    return `${name}@${digest}#${accept ?? ''}`;
  }

  get(key: string): CachedManifest | undefined {
    const entry = this.entries.get(key);
    if (entry !== undefined) {
      // Re-insert to mark as most recently used.
      this.entries.delete(key);
      this.entries.set(key, entry);
    }
    return entry;
  }

  set(key: string, entry: CachedManifest): void {
    const size = entry.body.length + key.length;
    if (size > this.maxBytes / 16) return;
    const previous = this.entries.get(key);
    if (previous !== undefined) {
      this.entries.delete(key);
      this.bytes -= previous.body.length + key.length;
    }
    this.entries.set(key, entry);
    this.bytes += size;
    for (const [oldestKey, oldest] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(oldestKey);
      this.bytes -= oldest.body.length + oldestKey.length;
    }
  }

  get size(): number {
    return this.entries.size;
  }
}
