/**
 * SharedStreams: one backend stream, fanned out to every client that asked for the same bytes
 * (same URL and forwarded headers, read-key.ts) while it was being opened. A client can join
 * until the first byte of the body has been passed on; after that an identical request starts a
 * stream of its own (it would have missed the beginning), so nothing is answered from an earlier
 * read.
 *
 * Backpressure: the slowest client governs. A chunk is passed to every client and the next one is
 * read from the backend only when each has taken it, so memory stays at one chunk per client
 * whatever their speeds; clients that read at different speeds are better served by the blob
 * cache, where the disk absorbs the difference (blob-cache/blob-fill.ts). A client that leaves is
 * dropped from the fan-out; the backend stream is cancelled only when every client has left.
 */
import type { ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import type { ClientConnection } from '../client.js';
import { ClientLeft } from './in-flight.js';

/** A client of a shared stream: its connection, and how to open its response (status and headers written) for the body. */
export interface StreamClient {
  readonly connection: ClientConnection;
  open(status: number, headers: Record<string, string>): Writable;
}

/** Opens the clients' responses once the backend has answered; the body goes into the Writable it answers. */
export type OpenClients = (status: number, headers: Record<string, string>) => Writable;

/** Backend bytes held while the clients catch up, per shared stream. */
const STREAM_BUFFER_BYTES = 1024 * 1024;

/**
 * A client that has taken nothing for this long is cut off: the slowest client governs the
 * stream, so one that stopped reading would otherwise hold every other client of the blob, and
 * the backend connection, for as long as it likes. One reading slowly is not cut.
 */
const STALLED_CLIENT_MS = 60_000;

class SharedStream {
  constructor(private readonly stalledClientMs: number) {}

  private readonly clients = new Map<StreamClient, Writable | undefined>();
  private head: { status: number; headers: Record<string, string> } | undefined;
  private bodyStarted = false;
  private finished = false;
  readonly controller = new AbortController();
  outcome!: Promise<unknown>;

  get joinable(): boolean {
    return !this.bodyStarted && !this.finished && !this.controller.signal.aborted;
  }

  add(client: StreamClient): void {
    this.clients.set(client, this.head === undefined ? undefined : client.open(this.head.status, this.head.headers));
    const onClose = () => {
      if (client.connection.writableFinished) return;
      this.clients.delete(client);
      if (this.clients.size === 0 && !this.finished) this.controller.abort(new ClientLeft());
    };
    client.connection.once('close', onClose);
    void this.settled().then(() => client.connection.removeListener('close', onClose));
  }

  private async settled(): Promise<void> {
    await this.outcome.then(
      () => undefined,
      () => undefined,
    );
  }

  finish(): void {
    this.finished = true;
  }

  /** The backend answered: every client's response is opened, and the body fans out to them. */
  readonly openClients: OpenClients = (status, headers) => {
    this.head = { status, headers };
    for (const client of this.clients.keys()) this.clients.set(client, client.open(status, headers));
    return new Writable({
      // The backend's socket keeps being read while the clients take the last chunks; at 16 KiB it
      // was paused and resumed for nearly every chunk (measured: 20 % more CPU per GiB).
      highWaterMark: STREAM_BUFFER_BYTES,
      // What piled up while the clients took the last write goes to each in one corked batch.
      writev: (chunks, done) => {
        this.bodyStarted = true;
        this.fanOut(chunks.map(({ chunk }) => chunk as Buffer)).then(() => done(), done);
      },
      final: (done) => {
        for (const response of this.clients.values()) response?.end();
        done();
      },
    });
  };

  /**
   * Resolves once every client's socket has taken the chunk (its write callback), not merely
   * buffered it: the chunk may be a view into a read buffer the backend client uses again as soon
   * as this write is done (bulk/bulk-client.ts).
   */
  private async fanOut(chunks: Buffer[]): Promise<void> {
    const writes: Array<Promise<void>> = [];
    for (const response of this.clients.values()) {
      if (response === undefined || response.destroyed) continue;
      writes.push(takenInTime(response, chunks, this.stalledClientMs));
    }
    if (writes.length > 0) await Promise.all(writes);
    if (this.clients.size === 0) throw new ClientLeft();
  }
}

export class SharedStreams {
  private readonly streams = new Map<string, SharedStream>();

  constructor(private readonly stalledClientMs = STALLED_CLIENT_MS) {}

  /**
   * The outcome of the stream `key` for `client`: joins the one being opened, or starts it with
   * `start` (which calls the backend with `signal` and opens the clients through `openClients`).
   */
  run<T>(key: string, client: StreamClient, start: (openClients: OpenClients, signal: AbortSignal) => Promise<T>, onJoined?: () => void): Promise<T> {
    const existing = this.streams.get(key);
    if (existing !== undefined && existing.joinable) {
      onJoined?.();
      existing.add(client);
      return existing.outcome as Promise<T>;
    }
    const stream = new SharedStream(this.stalledClientMs);
    this.streams.set(key, stream);
    const outcome = start(stream.openClients, stream.controller.signal);
    stream.outcome = outcome;
    stream.add(client);
    const forget = () => {
      stream.finish();
      if (this.streams.get(key) === stream) this.streams.delete(key);
    };
    outcome.then(forget, forget);
    return outcome;
  }
}

/**
 * writtenOrClosed, with the response destroyed (so closed) once it has taken nothing for `ms`: a
 * client reading slowly but steadily is never cut, one that stopped reading is. Progress is what
 * the kernel took from the socket's write queue; where Node does not show that queue, the chunks
 * must all be taken within `ms`.
 */
function takenInTime(response: Writable, chunks: Buffer[], ms: number): Promise<void> {
  let queued = queuedBytes(response);
  const watch = setInterval(() => {
    const now = queuedBytes(response);
    if (now === undefined || now === queued) response.destroy();
    queued = now;
  }, ms);
  return writtenOrClosed(response, chunks).finally(() => clearInterval(watch));
}

/** Bytes of the response's socket the kernel has not taken yet (libuv's write queue), when Node shows them. */
function queuedBytes(response: Writable): number | undefined {
  const socket = (response as Partial<ServerResponse>).socket as { _handle?: { writeQueueSize?: unknown } } | null | undefined;
  const size = socket?._handle?.writeQueueSize;
  return typeof size === 'number' ? size : undefined;
}

/** Resolves once the response has taken every chunk (the last write's callback: they come in order), or closed. */
function writtenOrClosed(response: Writable, chunks: Buffer[]): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      response.removeListener('close', done);
      resolve();
    };
    response.once('close', done);
    response.cork();
    chunks.forEach((chunk, index) => response.write(chunk, index === chunks.length - 1 ? done : undefined));
    response.uncork();
  });
}
