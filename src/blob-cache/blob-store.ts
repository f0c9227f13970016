/**
 * BlobStore: the blob cache's files. Content-addressed: a verified blob lives at
 * `<path>/blobs/<algorithm>/<hex>`, written first under `<path>/partial/` and renamed into place
 * only after its digest was checked (blob-fill.ts), so a file in `blobs/` is always a whole,
 * verified blob. The directories are 0700 and the files 0600, whatever the umask: the cache
 * holds the content of private repositories.
 *
 * The index is in memory (cache-space.ts) and rebuilt from the directory at start, least
 * recently used first by the files' modification times, which a use refreshes (at most once a
 * minute per blob); partial files of a process that stopped are removed. Everything is
 * asynchronous: a directory of thousands of blobs never blocks the event loop.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { chmod, mkdir, open, readdir, rename, rm, stat, utimes, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { CacheSpace, type Reservation } from './cache-space.js';

const PRIVATE_DIRECTORY = 0o700;
const PRIVATE_FILE = 0o600;
/** How often a use is written to a blob's modification time (the LRU order that survives a restart). */
const TOUCH_INTERVAL_MS = 60_000;

/** The digests the cache can hold: those whose hex it can name a file by and verify. */
const CACHEABLE_DIGEST = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

export interface BlobStoreLog {
  warn(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
}

export interface TemporaryBlobFile {
  readonly path: string;
  /** Open for writing and reading: the fill writes, readers of the growing file read. */
  readonly handle: FileHandle;
}

export class BlobStore {
  private readonly touchedAt = new Map<string, number>();

  private constructor(
    readonly directory: string,
    private readonly space: CacheSpace,
    private readonly log: BlobStoreLog,
  ) {}

  /** Opens (creating) the cache directory and indexes the blobs already in it. */
  static async open(directory: string, maxBytes: number, log: BlobStoreLog): Promise<BlobStore> {
    await refuseSharedDirectory(directory);
    await makePrivateDirectory(directory);
    const partial = join(directory, 'partial');
    // A fill that was under way when the process stopped is not a blob.
    await rm(partial, { recursive: true, force: true });
    await makePrivateDirectory(partial);
    await makePrivateDirectory(join(directory, 'blobs'));
    const store = new BlobStore(directory, new CacheSpace(maxBytes), log);
    await store.index();
    return store;
  }

  static canHold(digest: string): boolean {
    return CACHEABLE_DIGEST.test(digest);
  }

  get bytes(): number {
    return this.space.bytes;
  }

  get count(): number {
    return this.space.count;
  }

  get maxBytes(): number {
    return this.space.maxBytes;
  }

  /** The size of the cached blob (a use: it becomes the most recently used), or undefined. */
  use(digest: string, now = Date.now()): number | undefined {
    const size = this.space.touch(digest);
    if (size !== undefined && now - (this.touchedAt.get(digest) ?? 0) >= TOUCH_INTERVAL_MS) {
      this.touchedAt.set(digest, now);
      const when = new Date(now);
      utimes(this.pathOf(digest), when, when).catch(() => undefined);
    }
    return size;
  }

  /** The cached blob's file, open for reading; undefined when it is gone (then forgotten). */
  async openBlob(digest: string): Promise<FileHandle | undefined> {
    try {
      return await open(this.pathOf(digest), 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      this.forget(digest);
      return undefined;
    }
  }

  /** Room for a blob of `bytes`, evicting the least recently used; undefined when it cannot fit. */
  reserve(bytes: number): Reservation | undefined {
    const room = this.space.reserve(bytes);
    if (room === undefined) return undefined;
    for (const digest of room.evicted) this.removeFile(digest);
    return room.reservation;
  }

  async createTemporary(): Promise<TemporaryBlobFile> {
    const path = join(this.directory, 'partial', randomBytes(12).toString('hex'));
    return { path, handle: await open(path, 'wx+', PRIVATE_FILE) };
  }

  /** A verified blob: flushed to disk, then renamed into place, then indexed. */
  async publish(reservation: Reservation, digest: string, size: number, temporary: TemporaryBlobFile): Promise<void> {
    try {
      await temporary.handle.sync();
      const [algorithm] = digest.split(':');
      await makePrivateDirectory(join(this.directory, 'blobs', algorithm as string));
      await rename(temporary.path, this.pathOf(digest));
    } catch (error) {
      await this.discard(reservation, temporary);
      throw error;
    }
    this.space.commit(reservation, digest, size);
    this.touchedAt.set(digest, Date.now());
  }

  /** A fill that failed or was abandoned: its file goes, its room is given back. */
  async discard(reservation: Reservation, temporary: TemporaryBlobFile | undefined): Promise<void> {
    this.space.release(reservation);
    if (temporary !== undefined) await rm(temporary.path, { force: true });
  }

  private forget(digest: string): void {
    this.space.forget(digest);
    this.touchedAt.delete(digest);
  }

  private removeFile(digest: string): void {
    this.touchedAt.delete(digest);
    // A reader with the file open keeps reading it; the name goes now.
    rm(this.pathOf(digest), { force: true }).catch((error: unknown) => this.log.warn({ digest, reason: (error as Error).message }, 'removing an evicted blob failed'));
  }

  private pathOf(digest: string): string {
    const [algorithm, hex] = digest.split(':');
    return join(this.directory, 'blobs', algorithm as string, hex as string);
  }

  private async index(): Promise<void> {
    const found: Array<{ digest: string; size: number; usedAt: number }> = [];
    const blobs = join(this.directory, 'blobs');
    for (const algorithm of await readdir(blobs)) {
      const folder = join(blobs, algorithm);
      const folderStat = await stat(folder);
      if (!folderStat.isDirectory()) continue;
      if ((folderStat.mode & 0o077) !== 0) await chmod(folder, PRIVATE_DIRECTORY);
      for (const hex of await readdir(folder)) {
        const digest = `${algorithm}:${hex}`;
        if (!BlobStore.canHold(digest)) continue;
        const file = join(folder, hex);
        const fileStat = await stat(file);
        if (!fileStat.isFile()) continue;
        if ((fileStat.mode & 0o077) !== 0) await chmod(file, PRIVATE_FILE);
        found.push({ digest, size: fileStat.size, usedAt: fileStat.mtimeMs });
      }
    }
    found.sort((a, b) => a.usedAt - b.usedAt);
    for (const blob of found) {
      this.touchedAt.set(blob.digest, blob.usedAt);
      for (const evicted of this.space.adopt(blob.digest, blob.size)) this.removeFile(evicted);
    }
    if (found.length > 0) this.log.info({ blobs: this.space.count, bytes: this.space.bytes }, 'blob cache indexed');
  }
}

/**
 * What the cache keeps in its directory (and what a file system may put at a mount point), and
 * the per-worker parts a gateway with server.workers > 1 keeps there: going back to one worker
 * must not make the cache's own directory look shared.
 */
const OWN_ENTRIES = new Set(['blobs', 'partial', 'lost+found']);
const WORKER_PART = /^worker-\d+$/;

/**
 * The cache's directory is made private and its partial files removed: pointed at a directory
 * that holds anything else (/tmp, a home directory) it refuses to start rather than do either.
 */
async function refuseSharedDirectory(path: string): Promise<void> {
  const problem = sharedDirectoryProblem(path);
  if (problem !== undefined) throw new Error(`backend.blobCache.path: ${problem}`);
}

/** Why `path` cannot be the blob cache's directory because something else keeps files there; also for `check`. */
export function sharedDirectoryProblem(path: string): string | undefined {
  let entries: string[];
  try {
    entries = readdirSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const foreign = entries.filter((entry) => !OWN_ENTRIES.has(entry) && !WORKER_PART.test(entry));
  return foreign.length === 0 ? undefined : `${path} holds other files (${foreign.slice(0, 3).join(', ')}); give the blob cache a directory of its own`;
}

/** Creates the directory 0700, or tightens an existing one: it is the cache's own. */
async function makePrivateDirectory(path: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: PRIVATE_DIRECTORY });
  const mode = (await stat(path)).mode & 0o777;
  if ((mode & ~PRIVATE_DIRECTORY) !== 0) await chmod(path, mode & PRIVATE_DIRECTORY);
}
