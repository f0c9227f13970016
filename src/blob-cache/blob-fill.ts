/**
 * BlobFill: one blob on its way from the backend into the cache, read by clients while it grows.
 *
 * The backend's bytes go to a temporary file (never to a client directly) and through the
 * digest's hash. Every client of the blob — the one whose request started the fill and any that
 * asked for the same digest meanwhile — reads the file at its own pace: the disk absorbs the
 * difference, so a slow client never holds back the download or the other clients, and the
 * backend is read once at the speed it can send. Readers may send everything written except the
 * last byte until the whole blob is there and its digest checked; so a download that turns out
 * truncated or different from its digest is never delivered whole to anyone (their connections are
 * cut short of the end) and never becomes a cache entry.
 *
 * The download is cancelled only when every client waiting on it has gone. A fill is decided
 * when the backend answers: a whole blob of announced size that fits the cache is filled; anything
 * else (a redirect, an error, no length, too large, no room) is declined, and the clients that
 * joined get it another way.
 */
import { createHash, type Hash } from 'node:crypto';
import { Writable } from 'node:stream';
import type { ClientConnection } from '../backend/client.js';
import type { Reservation } from './cache-space.js';
import type { BlobStore, TemporaryBlobFile } from './blob-store.js';
import type { ByteSource } from './send-bytes.js';

type FillState = 'deciding' | 'filling' | 'verified' | 'failed' | 'declined';

/** Backend bytes held while the disk catches up, per download. */
const SINK_BUFFER_BYTES = 4 * 1024 * 1024;

/** Why a fill failed, for the log. */
export class FillFailed extends Error {
  override readonly name = 'FillFailed';

  constructor(
    message: string,
    /**
     * The local disk failed (a file could not be created, written or kept), not the download:
     * the blob itself is fine, so a client that has been sent nothing yet can be served
     * straight from the backend instead.
     */
    readonly local = false,
  ) {
    super(message);
  }
}

export interface FillEvents {
  /** The fill is over (verified and published, failed or declined): it may be forgotten. `local`: the disk failed, not the download. */
  settled(fill: BlobFill, outcome: 'cached' | 'failed' | 'declined', reason?: string, local?: boolean): void;
}

export class BlobFill {
  private state: FillState = 'deciding';
  private size = 0;
  private written = 0;
  private waiters = 0;
  private backendDone = false;
  /** Users of the temporary file's handle: the writer, each waiting client, and each reader while it reads. */
  private handleUsers = 0;
  private temporary: TemporaryBlobFile | undefined;
  private reservation: Reservation | undefined;
  private failure: FillFailed | undefined;
  private readonly hash: Hash;
  private readonly controller = new AbortController();
  private readonly decision: Promise<boolean>;
  private decide!: (fileBacked: boolean) => void;
  private progress: Promise<void>;
  private notify!: () => void;

  constructor(
    readonly digest: string,
    /** The repository whose request started the fill: the backend's 200 for it is that repository's confirmation. */
    readonly repository: string,
    private readonly store: BlobStore,
    private readonly events: FillEvents,
  ) {
    this.hash = createHash(digest.split(':')[0] as string);
    this.decision = new Promise((resolve) => (this.decide = resolve));
    this.progress = new Promise((resolve) => (this.notify = resolve));
  }

  /** Cancels the backend download; aborted when every waiting client has gone. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Resolves true when the blob is being written to the cache (clients read it there), false when declined. */
  decided(): Promise<boolean> {
    return this.decision;
  }

  get blobSize(): number {
    return this.size;
  }

  /** The local disk failed this fill (the download itself may be fine). */
  get failedOnDisk(): boolean {
    return this.failure?.local === true;
  }

  /**
   * A client waits on this fill. Call the answer when it is done with the fill (served, or gone
   * another way); a client whose connection closes first is counted out by itself.
   */
  join(connection: ClientConnection): () => void {
    this.waiters += 1;
    // A waiter keeps the file's handle open: one that asks for a reader only after the fill was
    // verified and published (it was confirming its own repository meanwhile) still reads it.
    this.handleUsers += 1;
    let counted = true;
    const leave = () => {
      if (!counted) return;
      counted = false;
      connection.removeListener('close', onClose);
      this.dropHandleUser();
      this.waiters -= 1;
      if (this.waiters === 0 && !this.backendDone && this.state !== 'verified') this.controller.abort(new FillFailed('every client waiting for the blob has gone'));
    };
    const onClose = () => {
      if (!connection.writableFinished) leave();
    };
    connection.once('close', onClose);
    return leave;
  }

  /**
   * The backend answered the whole blob, `size` bytes: the Writable its body goes into, or
   * undefined when the cache cannot take it (then the fill is declined).
   */
  begin(size: number): Writable | undefined {
    const reservation = this.state === 'deciding' ? this.store.reserve(size) : undefined;
    if (reservation === undefined) {
      this.decline();
      return undefined;
    }
    this.reservation = reservation;
    this.size = size;
    this.state = 'filling';
    return new Writable({
      // The backend keeps sending while earlier chunks are written (in one writev each batch),
      // instead of waiting for the disk after every chunk.
      highWaterMark: SINK_BUFFER_BYTES,
      construct: (done) => {
        this.store.createTemporary().then(
          (temporary) => {
            this.temporary = temporary;
            this.handleUsers += 1;
            if (this.state !== 'filling') {
              // Abandoned while the file was being created.
              this.discardFile();
              this.dropHandleUser();
              this.decide(false);
              done(this.failure);
              return;
            }
            this.decide(true);
            done();
          },
          (error: Error) => {
            this.fail(`creating the cache file failed: ${error.message}`, true);
            this.decide(false);
            done(error);
          },
        );
      },
      writev: (chunks, done) => {
        const buffers = chunks.map(({ chunk }) => chunk as Buffer);
        this.write(buffers).then(
          () => done(),
          (error: Error) => {
            // The file would not take the bytes (a full or failing disk), as opposed to a download that went wrong.
            if (!(error instanceof FillFailed)) this.fail(`writing the cache file failed: ${error.message}`, true);
            done(error);
          },
        );
      },
      final: (done) => {
        this.backendDone = true;
        const problem = this.verify();
        if (problem !== undefined) {
          this.fail(problem);
          done(this.failure);
          return;
        }
        done();
      },
      destroy: (error, done) => {
        this.backendDone = true;
        if (this.state === 'filling') this.fail(error?.message ?? 'the download ended early');
        done(error);
      },
    });
  }

  /** The backend's answer was not a blob to cache: clients that joined go another way. */
  decline(): void {
    if (this.state !== 'deciding') return;
    this.state = 'declined';
    this.decide(false);
    this.events.settled(this, 'declined');
  }

  /** The backend call is over (its answer went elsewhere, or it failed before deciding). */
  backendFinished(): void {
    this.backendDone = true;
    if (this.state === 'deciding') this.decline();
  }

  /** The growing file, for one client to read: release it when done. */
  reader(): { source: ByteSource; release: () => void } {
    const temporary = this.temporary;
    if (temporary === undefined) throw new FillFailed('the fill has no file');
    this.handleUsers += 1;
    let released = false;
    return {
      source: {
        handle: temporary.handle,
        readable: () => this.readable(),
        changed: () => this.progress,
        failure: () => this.failure,
      },
      release: () => {
        if (released) return;
        released = true;
        this.dropHandleUser();
      },
    };
  }

  /** Bytes a reader may send now: everything once verified; until then all written but the last byte. */
  private readable(): number {
    if (this.state === 'verified') return this.size;
    return Math.min(this.written, this.size - 1);
  }

  private async write(buffers: Buffer[]): Promise<void> {
    const temporary = this.temporary;
    if (temporary === undefined || this.state !== 'filling') throw this.failure ?? new FillFailed('the fill is over');
    let length = 0;
    for (const buffer of buffers) {
      this.hash.update(buffer);
      length += buffer.length;
    }
    if (this.written + length > this.size) throw new FillFailed(`the backend sent more than the ${this.size} bytes it announced`);
    let offset = 0;
    while (offset < length) {
      const remaining = offset === 0 ? buffers : sliceFrom(buffers, offset);
      const { bytesWritten } = await temporary.handle.writev(remaining, this.written);
      offset += bytesWritten;
      this.written += bytesWritten;
    }
    this.wake();
  }

  /** Why the download is not the blob, or undefined when it is. */
  private verify(): string | undefined {
    if (this.written !== this.size) return `the download ended after ${this.written} of ${this.size} bytes`;
    const digest = `${this.digest.split(':')[0]}:${this.hash.digest('hex')}`;
    if (digest !== this.digest) return `the download's digest is ${digest}`;
    this.state = 'verified';
    this.wake();
    const temporary = this.temporary as TemporaryBlobFile;
    const reservation = this.reservation as Reservation;
    this.reservation = undefined;
    this.store.publish(reservation, this.digest, this.size, temporary).then(
      () => {
        this.events.settled(this, 'cached');
        this.dropHandleUser();
      },
      (error: Error) => {
        this.events.settled(this, 'failed', `keeping the verified blob failed: ${error.message}`, true);
        this.dropHandleUser();
      },
    );
    return undefined;
  }

  private fail(reason: string, local = false): void {
    if (this.state !== 'filling') return;
    this.state = 'failed';
    this.failure = new FillFailed(reason, local);
    this.wake();
    this.discardFile();
    this.events.settled(this, 'failed', reason, local);
    if (this.temporary !== undefined) this.dropHandleUser();
  }

  /** Gives the room back and removes the partial file (once). */
  private discardFile(): void {
    const reservation = this.reservation;
    if (reservation === undefined) return;
    this.reservation = undefined;
    void this.store.discard(reservation, this.temporary).catch(() => undefined);
  }

  private wake(): void {
    const notify = this.notify;
    this.progress = new Promise((resolve) => (this.notify = resolve));
    notify();
  }

  private dropHandleUser(): void {
    this.handleUsers -= 1;
    if (this.handleUsers === 0) void this.temporary?.handle.close().catch(() => undefined);
  }
}

/** The buffers from byte `offset` on (after a partial write). */
function sliceFrom(buffers: Buffer[], offset: number): Buffer[] {
  const rest: Buffer[] = [];
  let skip = offset;
  for (const buffer of buffers) {
    if (skip >= buffer.length) {
      skip -= buffer.length;
      continue;
    }
    rest.push(skip === 0 ? buffer : buffer.subarray(skip));
    skip = 0;
  }
  return rest;
}
