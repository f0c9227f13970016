/**
 * CacheSpace: the bookkeeping of the blob cache's disk space, with no I/O. Entries (one per
 * digest, with its size) are kept least recently used first; a fill in progress holds a
 * reservation for the size its backend announced, so several fills at once can never take more
 * than the cap between them. Making room evicts the least recently used entries, and only when
 * that can make enough room (evicting entries for a fill that still cannot start would only lose
 * them).
 */
export interface Reservation {
  readonly bytes: number;
}

export class CacheSpace {
  /** Digest → size, least recently used first (a Map keeps insertion order; a use re-inserts). */
  private readonly entries = new Map<string, number>();
  private entryBytes = 0;
  private reservedBytes = 0;

  constructor(readonly maxBytes: number) {}

  get bytes(): number {
    return this.entryBytes;
  }

  get count(): number {
    return this.entries.size;
  }

  get reserved(): number {
    return this.reservedBytes;
  }

  sizeOf(digest: string): number | undefined {
    return this.entries.get(digest);
  }

  /** A use: the entry becomes the most recently used. */
  touch(digest: string): number | undefined {
    const size = this.entries.get(digest);
    if (size === undefined) return undefined;
    this.entries.delete(digest);
    this.entries.set(digest, size);
    return size;
  }

  /**
   * Room for `bytes` more: a reservation, with the entries to evict (already forgotten here; the
   * caller removes their files) — or undefined when it cannot be made, with nothing evicted.
   */
  reserve(bytes: number): { reservation: Reservation; evicted: string[] } | undefined {
    const over = this.entryBytes + this.reservedBytes + bytes - this.maxBytes;
    if (bytes > this.maxBytes || over > this.entryBytes) return undefined;
    const evicted = this.evict(over);
    this.reservedBytes += bytes;
    return { reservation: { bytes }, evicted };
  }

  release(reservation: Reservation): void {
    this.reservedBytes -= reservation.bytes;
  }

  /** A finished fill: its reservation becomes the entry (most recently used). */
  commit(reservation: Reservation, digest: string, size: number): void {
    this.release(reservation);
    this.forget(digest);
    this.entries.set(digest, size);
    this.entryBytes += size;
  }

  /**
   * An entry found on disk at start, oldest first. Answers the entries to evict when the
   * directory holds more than the cap (the cap was lowered).
   */
  adopt(digest: string, size: number): string[] {
    this.forget(digest);
    this.entries.set(digest, size);
    this.entryBytes += size;
    return this.evict(this.entryBytes + this.reservedBytes - this.maxBytes);
  }

  /** An entry whose file is gone (evicted by another process, removed by hand). */
  forget(digest: string): void {
    const size = this.entries.get(digest);
    if (size === undefined) return;
    this.entries.delete(digest);
    this.entryBytes -= size;
  }

  private evict(bytes: number): string[] {
    const evicted: string[] = [];
    let freed = 0;
    for (const [digest, size] of this.entries) {
      if (freed >= bytes) break;
      evicted.push(digest);
      freed += size;
    }
    for (const digest of evicted) this.forget(digest);
    return evicted;
  }
}
