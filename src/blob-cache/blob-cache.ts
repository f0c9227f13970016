/**
 * BlobCache: the optional immutable-content cache for blobs (backend.blobCache). Blobs are
 * addressed by digest, so a copy on local disk never goes stale; it is kept on disk, capped in
 * bytes (least recently used out first), survives restarts, and is served with Range support.
 *
 * Three parts, each in its own file: the files and their index (blob-store.ts over
 * cache-space.ts), downloads into the cache that clients read while they grow (blob-fill.ts,
 * send-bytes.ts), and which repositories the backend confirmed hold which blobs
 * (confirmed-blobs.ts) — a cached blob is served for a repository only after that confirmation,
 * so the cache is never a way to read another repository's blobs. This class ties them together
 * for the registry's blob handlers (registry/blob-handlers.ts), which decide when to use it.
 */
import type { FileHandle } from 'node:fs/promises';
import type { CacheView, HasCaches } from '../caches/bounded-cache.js';
import { BlobFill } from './blob-fill.js';
import { BlobStore, type BlobStoreLog } from './blob-store.js';
import { ConfirmedBlobs } from './confirmed-blobs.js';

/** How long a backend's "this repository holds this blob" is believed. */
export const CONFIRMATION_TTL_MS = 5 * 60 * 1000;

/**
 * After the disk failed a fill (full, read-only, failing), blobs go straight through for this
 * long before a fill is tried again: a broken cache must cost a warning, not the downloads.
 */
export const FILL_PAUSE_MS = 60 * 1000;

export interface BlobCacheSettings {
  readonly path: string;
  readonly maxBytes: number;
}

export type FillOutcome = 'cached' | 'failed' | 'declined';

export interface BlobCacheEvents {
  /** A fill ended; `reason` says why a failed one failed. */
  fillSettled(outcome: FillOutcome, digest: string, reason?: string): void;
  /** The disk failed a fill: no fill is started for `forMs`. */
  fillsPaused(reason: string, forMs: number): void;
}

export class BlobCache implements HasCaches {
  private readonly fills = new Map<string, BlobFill>();
  readonly confirmed = new ConfirmedBlobs(CONFIRMATION_TTL_MS);
  /** No fill is started before this time (on `now`'s clock): the disk failed the last one. */
  private fillsPausedUntil = Number.NEGATIVE_INFINITY;

  private constructor(
    private readonly store: BlobStore,
    private readonly events: BlobCacheEvents,
    private readonly now: () => number,
  ) {}

  /** `now`: a monotonic clock in ms (a wall clock stepped back would stretch a pause). */
  static async open(settings: BlobCacheSettings, log: BlobStoreLog, events: BlobCacheEvents, now: () => number = () => performance.now()): Promise<BlobCache> {
    return new BlobCache(await BlobStore.open(settings.path, settings.maxBytes, log), events, now);
  }

  /** Whether a new fill may start: not while the disk is recovering from a failed one. */
  get fillsAllowed(): boolean {
    return this.now() >= this.fillsPausedUntil;
  }

  get caches(): readonly CacheView[] {
    return this.confirmed.caches;
  }

  /** What /metrics shows: bytes and blobs on disk, the cap, fills under way. */
  get usage(): { bytes: number; blobs: number; maxBytes: number; fills: number } {
    return { bytes: this.store.bytes, blobs: this.store.count, maxBytes: this.store.maxBytes, fills: this.fills.size };
  }

  /** Whether blobs of this digest can be cached (its algorithm can be verified and named on disk). */
  canHold(digest: string): boolean {
    return BlobStore.canHold(digest);
  }

  /** The size of the cached blob (counts as a use), or undefined when it is not cached. */
  cachedSize(digest: string): number | undefined {
    return this.store.use(digest);
  }

  /** The cached blob's file open for reading, or undefined when it has gone meanwhile. */
  openCached(digest: string): Promise<FileHandle | undefined> {
    return this.store.openBlob(digest);
  }

  /** The download of this blob into the cache under way, if any. */
  fillOf(digest: string): BlobFill | undefined {
    return this.fills.get(digest);
  }

  /** Starts a download of this blob into the cache for `repository` (the caller makes the backend call). */
  startFill(digest: string, repository: string): BlobFill {
    const fill = new BlobFill(digest, repository, this.store, {
      settled: (settled, outcome, reason, local) => {
        if (this.fills.get(digest) === settled) this.fills.delete(digest);
        this.events.fillSettled(outcome, digest, reason);
        if (local === true) {
          this.fillsPausedUntil = this.now() + FILL_PAUSE_MS;
          this.events.fillsPaused(reason ?? 'the disk failed', FILL_PAUSE_MS);
        }
      },
    });
    this.fills.set(digest, fill);
    return fill;
  }
}
