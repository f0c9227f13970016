/**
 * ConfirmedBlobs: which repositories the backend has said hold which blobs (a 200 to a GET or
 * HEAD of `/v2/<repository>/blobs/<digest>`), with the size it gave. The cache on disk is by digest
 * alone; this is what keeps it from becoming a cross-repository read: a cached blob is served for
 * a repository only once the backend has confirmed that repository holds it, so a caller allowed
 * to pull one repository learns nothing of the blobs of another by asking for their digests.
 *
 * A confirmation is kept for a while (a blob can leave a repository: a deleted manifest and the
 * backend's garbage collection), bounded in entries and bytes, and dropped when the blob is
 * deleted through the gateway.
 */
import { BoundedCache, stringBytes, type CacheView, type HasCaches } from '../caches/bounded-cache.js';

const MAX_CONFIRMATIONS = 100_000;

export class ConfirmedBlobs implements HasCaches {
  private readonly sizes: BoundedCache<string, number>;

  constructor(ttlMs: number) {
    this.sizes = new BoundedCache<string, number>('blob-confirmations', {
      maxEntries: MAX_CONFIRMATIONS,
      // A repository name (up to 255 characters) and a sha512 digest, at most.
      maxBytes: MAX_CONFIRMATIONS * 1_024,
      sizeOf: (_size, key) => stringBytes(key) + 32,
      ttlMs,
    });
  }

  get caches(): readonly CacheView[] {
    return [this.sizes];
  }

  /** The blob's size, when the backend confirmed lately that `repository` holds it. */
  sizeIn(repository: string, digest: string): number | undefined {
    return this.sizes.get(keyOf(repository, digest));
  }

  confirm(repository: string, digest: string, size: number): void {
    this.sizes.set(keyOf(repository, digest), size);
  }

  forget(repository: string, digest: string): void {
    this.sizes.delete(keyOf(repository, digest));
  }
}

function keyOf(repository: string, digest: string): string {
  return `${repository}@${digest}`;
}
