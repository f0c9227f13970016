/**
 * BulkClient: GET requests with large answers (blobs) to the backend's own origin, read into
 * pooled buffers (buffer-pool.ts) and handed to the consumer as views into them, so a GiB passes
 * through the gateway without a GiB of allocations. An ordinary HTTP client (undici, node:http)
 * gets a freshly allocated buffer from Node for every read of its socket; at these rates the
 * allocations, page faults and garbage collection cost more than the copying itself.
 *
 * Plain HTTP/1.1 over keep-alive connections (net or tls sockets with Node's `onread`, which reads
 * into the buffer it is given), bodies framed by Content-Length, chunked coding, or the
 * connection's end. The consumer's Writable gets each view with a callback; the buffer returns to
 * the pool only when every view into it has been written (so a sink that keeps bytes must copy
 * them). At most MAX_BUFFERS_IN_FLIGHT buffers per transfer are out: then reading pauses, which
 * is the backpressure. Connect, header and body (inactivity) timeouts end in BACKEND_TIMEOUT. A
 * request on a kept-alive connection the backend had closed meanwhile is tried once more on a new
 * one, as undici does.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { Writable } from 'node:stream';
import { RegistryError } from '../../errors/registry-error.js';
import { BufferPool } from './buffer-pool.js';
import { ChunkedDecoder } from './chunked-decoder.js';
import { MalformedResponse, parseResponseHead, type ResponseHead } from './response-head.js';

/**
 * 1 MiB reads: 0.25-0.28 s of gateway CPU per GiB passed through, against 0.35-0.37 with
 * 256 KiB and 0.30-0.33 with 512 KiB (bench scenario 5, one stream); 2 MiB did no better.
 */
const BUFFER_BYTES = 1024 * 1024;
/**
 * 2 MiB per transfer at most in the consumer's hands (one buffer read while the other is
 * written); beyond, the socket is not read. Four did not move the rate (same bench).
 */
const MAX_BUFFERS_IN_FLIGHT = 2;
/** Idle buffers kept for the next transfers (8 MiB); more are left to the garbage collector. */
const MAX_IDLE_BUFFERS = 8;
const IDLE_CONNECTION_MS = 30_000;
/** Interim (1xx) responses accepted before the final one; more is a backend that never answers. */
const MAX_INTERIM_HEADS = 8;

/** 1xx but 101: informational answers that a final one follows (RFC 9110 §15.2). */
function isInterim(status: number): boolean {
  return status >= 100 && status < 200 && status !== 101;
}

export interface BulkClientOptions {
  readonly origin: URL;
  readonly tls?: { readonly ca?: Buffer; readonly cert?: Buffer; readonly key?: Buffer };
  readonly connectTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly bodyTimeoutMs: number;
  /** Connections open at once; a transfer beyond waits for one. */
  readonly connections: number;
}

export interface BulkRequest {
  /** On the client's origin. */
  readonly url: URL;
  readonly headers: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal;
}

export type OpenSink = (status: number, headers: Record<string, string | string[]>) => Writable;

/** The connection failed before the backend said anything: safe to send the GET again. */
class NothingReceived extends Error {
  override readonly name = 'NothingReceived';
}

export class BulkClient {
  private readonly pool = new BufferPool(BUFFER_BYTES, MAX_IDLE_BUFFERS);
  private readonly idle: BulkConnection[] = [];
  private open = 0;
  private readonly waiting: Array<() => void> = [];
  private closed = false;

  constructor(private readonly options: BulkClientOptions) {}

  /**
   * Sends the GET and streams the answer's body into the Writable `openSink` gives for its status
   * and headers; resolves once the Writable has finished. Rejects on a network failure, a
   * timeout, a malformed answer, the signal, or the Writable's own error (it is destroyed then).
   */
  async stream(request: BulkRequest, openSink: OpenSink): Promise<void> {
    request.signal?.throwIfAborted();
    for (let attempt = 0; ; attempt += 1) {
      const { connection, reused } = await this.connection(request.signal);
      try {
        await connection.exchange(request, openSink);
        this.release(connection);
        return;
      } catch (error) {
        connection.destroy();
        this.forget();
        if (error instanceof NothingReceived && reused && attempt === 0) continue;
        throw error instanceof NothingReceived ? (error.cause ?? error) : error;
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const connection of this.idle.splice(0)) connection.destroy();
  }

  private async connection(signal: AbortSignal | undefined): Promise<{ connection: BulkConnection; reused: boolean }> {
    for (;;) {
      const kept = this.idle.pop();
      if (kept !== undefined) {
        kept.wake();
        if (kept.alive) return { connection: kept, reused: true };
        kept.destroy();
        this.forget();
        continue;
      }
      if (this.open < this.options.connections) {
        this.open += 1;
        try {
          return { connection: await BulkConnection.connect(this.options, this.pool, signal), reused: false };
        } catch (error) {
          this.forget();
          throw error;
        }
      }
      await this.turn(signal);
    }
  }

  /**
   * Waits for a connection to be freed. A request aborted meanwhile leaves the line at once (and
   * rejects), instead of waiting for a turn it would only pass on.
   */
  private turn(signal: AbortSignal | undefined): Promise<void> {
    signal?.throwIfAborted();
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const index = this.waiting.indexOf(wake);
        if (index !== -1) this.waiting.splice(index, 1);
        reject(signal?.reason);
      };
      const wake = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(wake);
    });
  }

  private release(connection: BulkConnection): void {
    if (this.closed || !connection.reusable) {
      connection.destroy();
      this.forget();
      return;
    }
    // Closed by the backend or unused for a while: it leaves the idle list at once.
    connection.sleep(IDLE_CONNECTION_MS, () => {
      const index = this.idle.indexOf(connection);
      if (index === -1) return;
      this.idle.splice(index, 1);
      this.forget();
    });
    this.idle.push(connection);
    this.waiting.shift()?.();
  }

  /** A connection is gone: room for another. */
  private forget(): void {
    this.open -= 1;
    this.waiting.shift()?.();
  }
}

type Receiver = (bytes: Buffer, buffer: Buffer) => boolean;

class BulkConnection {
  reusable = true;
  private receiver: Receiver | undefined;
  private onEnd: ((error?: Error) => void) | undefined;
  /** Set while idle: told when the connection goes (closed by the backend, or unused too long). */
  private onGone: (() => void) | undefined;

  private constructor(
    private readonly socket: net.Socket,
    private readonly pool: BufferPool,
    private readonly options: BulkClientOptions,
  ) {
    socket.on('error', (error) => this.onEnd?.(error));
    socket.on('close', () => {
      this.reusable = false;
      this.onEnd?.();
      this.gone();
    });
    socket.on('end', () => this.onEnd?.());
    // The idle timeout (sleep()); one listener for the connection's life, not one per reuse.
    socket.on('timeout', () => this.destroy());
  }

  get alive(): boolean {
    return this.reusable && !this.socket.destroyed;
  }

  static connect(options: BulkClientOptions, pool: BufferPool, signal: AbortSignal | undefined): Promise<BulkConnection> {
    const url = options.origin;
    const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    const host = url.hostname.replace(/^\[|\]$/g, '');
    let connection: BulkConnection | undefined;
    const onread = {
      buffer: () => pool.take(),
      callback: (nread: number, buffer: Buffer) => connection?.read(nread, buffer) ?? false,
    };
    const socket =
      url.protocol === 'https:'
        ? // tls.connect takes `onread` as net.connect does (Node's documentation); its types do not say so.
          tls.connect({ host, port, servername: net.isIP(host) === 0 ? host : undefined, ALPNProtocols: ['http/1.1'], onread, ...options.tls } as tls.ConnectionOptions)
        : net.connect({ host, port, onread, noDelay: true });
    connection = new BulkConnection(socket, pool, options);
    return new Promise((resolve, reject) => {
      const fail = (error: Error) => {
        done();
        socket.destroy();
        reject(error);
      };
      const timer = setTimeout(() => fail(new RegistryError('BACKEND_TIMEOUT')), options.connectTimeoutMs);
      const onAbort = () => fail((signal?.reason as Error) ?? new Error('aborted'));
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        socket.removeListener('error', fail);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      socket.once('error', fail);
      socket.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', () => {
        done();
        resolve(connection as BulkConnection);
      });
    });
  }

  /** Taken from the idle list for a request. */
  wake(): void {
    this.onGone = undefined;
    this.socket.setTimeout(0);
    this.socket.ref();
  }

  /** Put in the idle list: it does not keep the process alive, and closes after `ms` unused. */
  sleep(ms: number, onGone: () => void): void {
    this.onGone = onGone;
    this.socket.unref();
    this.socket.setTimeout(ms);
  }

  private gone(): void {
    const onGone = this.onGone;
    this.onGone = undefined;
    onGone?.();
  }

  destroy(): void {
    this.reusable = false;
    this.socket.destroy();
  }

  private read(nread: number, buffer: Buffer): boolean {
    const receiver = this.receiver;
    if (receiver === undefined) {
      // Bytes nobody asked for (on an idle connection): it cannot be trusted with another request.
      this.pool.give(buffer);
      this.destroy();
      return false;
    }
    return receiver(buffer.subarray(0, nread), buffer);
  }

  /** One request and its whole answer, the body into the sink. */
  exchange(request: BulkRequest, openSink: OpenSink): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      new Exchange(this, this.socket, this.pool, this.options, request, openSink, resolve, reject).start();
    });
  }

  /** The exchange under way receives the connection's bytes and its end. */
  attach(receiver: Receiver | undefined, onEnd: ((error?: Error) => void) | undefined): void {
    this.receiver = receiver;
    this.onEnd = onEnd;
  }
}

/** One GET on a connection: the head, then the body into the sink, with timeouts and backpressure. */
class Exchange {
  private head: ResponseHead | undefined;
  private headBytes: Buffer | undefined;
  private interimHeads = 0;
  private sink: Writable | undefined;
  private received = false;
  private remaining = 0;
  private decoder: ChunkedDecoder | undefined;
  /** Pooled buffers whose bytes the sink still holds, and how many views into each. */
  private readonly views = new Map<Buffer, number>();
  private paused = false;
  private settled = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly onAbort = () => {
    this.received = true;
    this.settle((this.request.signal?.reason as Error) ?? new Error('aborted'));
  };

  constructor(
    private readonly connection: BulkConnection,
    private readonly socket: net.Socket,
    private readonly pool: BufferPool,
    private readonly options: BulkClientOptions,
    private readonly request: BulkRequest,
    private readonly openSink: OpenSink,
    private readonly resolve: () => void,
    private readonly reject: (error: unknown) => void,
  ) {}

  start(): void {
    if (this.socket.destroyed) {
      this.settle(new Error('the connection closed before the request was sent'));
      return;
    }
    this.request.signal?.addEventListener('abort', this.onAbort, { once: true });
    // A connection whose last transfer ended while reading was paused for backpressure.
    this.socket.resume();
    this.connection.attach(
      (bytes, buffer) => this.receive(bytes, buffer),
      (error) => this.ended(error),
    );
    this.arm(this.options.headersTimeoutMs);
    this.socket.write(requestHead(this.request));
  }

  private arm(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.settle(new RegistryError('BACKEND_TIMEOUT')), ms);
    this.timer.unref();
  }

  private receive(bytes: Buffer, buffer: Buffer): boolean {
    if (this.settled) {
      this.pool.give(buffer);
      return false;
    }
    this.received = true;
    this.timer?.refresh();
    // The pooled buffer goes back once: here, after the sink wrote its views, or in the catch.
    let owned: Buffer | undefined = buffer;
    try {
      if (this.head !== undefined) return this.body(bytes, buffer);
      const joined = this.headBytes === undefined ? bytes : Buffer.concat([this.headBytes, bytes]);
      // Interim responses (100 Continue, 103 Early Hints: RFC 9110 §15.2) come before the final
      // one and are skipped, a few of them. A GET never asks to switch protocols: a 101 is final
      // (and an error to the caller), as is a backend that sends nothing but interim heads.
      let unread = joined;
      let parsed = parseResponseHead(unread, 'GET');
      while (parsed !== undefined && isInterim(parsed.head.status)) {
        this.interimHeads += 1;
        if (this.interimHeads > MAX_INTERIM_HEADS) throw new MalformedResponse(`more than ${MAX_INTERIM_HEADS} interim responses`);
        unread = unread.subarray(parsed.length);
        parsed = parseResponseHead(unread, 'GET');
      }
      if (parsed === undefined) {
        this.headBytes = Buffer.from(unread);
        this.pool.give(buffer);
        return true;
      }
      const head = parsed.head;
      this.head = head;
      // A 101 switched the connection to another protocol: it never carries another request.
      this.connection.reusable = head.keepAlive && head.framing.kind !== 'until-close' && head.status !== 101;
      this.remaining = head.framing.kind === 'length' ? head.framing.length : 0;
      this.decoder = head.framing.kind === 'chunked' ? new ChunkedDecoder() : undefined;
      this.arm(this.options.bodyTimeoutMs);
      const sink = this.openSink(head.status, head.headers);
      this.sink = sink;
      sink.once('error', (error) => this.settle(error));
      const rest = unread.subarray(parsed.length);
      if (joined !== bytes) {
        // The head spanned reads: its body bytes are in a copy, not in the pooled buffer.
        this.pool.give(buffer);
        owned = undefined;
        return this.body(rest, undefined);
      }
      return this.body(rest, buffer);
    } catch (error) {
      if (owned !== undefined && !this.views.has(owned)) this.pool.give(owned);
      this.settle(error instanceof MalformedResponse ? new RegistryError('BACKEND_ERROR', { message: `the backend answered malformed HTTP: ${error.message}` }) : (error as Error));
      return false;
    }
  }

  /** Body bytes (in `buffer`, pooled, or a copy when undefined) to the sink; answers whether to read on. */
  private body(bytes: Buffer, buffer: Buffer | undefined): boolean {
    const framing = (this.head as ResponseHead).framing;
    let parts: Buffer[];
    let complete: boolean;
    if (framing.kind === 'length') {
      const take = Math.min(this.remaining, bytes.length);
      this.remaining -= take;
      parts = [bytes.subarray(0, take)];
      complete = this.remaining === 0;
      // Bytes after the body: the backend sent more than it framed; this connection is done.
      if (take < bytes.length) this.connection.reusable = false;
    } else if (framing.kind === 'chunked') {
      const decoder = this.decoder as ChunkedDecoder;
      const decoded = decoder.push(bytes);
      if (decoded.consumed < bytes.length) this.connection.reusable = false;
      parts = decoded.data;
      complete = decoder.done;
    } else {
      parts = [bytes];
      complete = false;
    }
    const readOn = this.deliver(parts, buffer);
    if (!complete) return readOn;
    this.finish();
    // Reading goes on while the connection is idle: a close, or bytes nobody asked for, end it.
    return true;
  }

  private deliver(parts: Buffer[], buffer: Buffer | undefined): boolean {
    const sink = this.sink as Writable;
    const nonEmpty = parts.filter((part) => part.length > 0);
    if (buffer !== undefined && nonEmpty.length === 0) this.pool.give(buffer);
    if (buffer !== undefined && nonEmpty.length > 0) this.views.set(buffer, nonEmpty.length);
    for (const part of nonEmpty) sink.write(part, buffer === undefined ? undefined : () => this.written(buffer));
    if (this.views.size < MAX_BUFFERS_IN_FLIGHT) return true;
    // The sink holds enough: stop reading (and the inactivity clock) until it gives some back.
    this.paused = true;
    clearTimeout(this.timer);
    return false;
  }

  /** One view into `buffer` was written by the sink. */
  private written(buffer: Buffer): void {
    const left = (this.views.get(buffer) ?? 1) - 1;
    if (left > 0) {
      this.views.set(buffer, left);
      return;
    }
    this.views.delete(buffer);
    this.pool.give(buffer);
    if (this.paused && !this.settled && this.views.size < MAX_BUFFERS_IN_FLIGHT) {
      this.paused = false;
      this.arm(this.options.bodyTimeoutMs);
      this.socket.resume();
    }
  }

  private finish(): void {
    this.connection.attach(undefined, undefined);
    clearTimeout(this.timer);
    (this.sink as Writable).end(() => this.settle());
  }

  private ended(error: Error | undefined): void {
    if (this.head?.framing.kind === 'until-close' && error === undefined && this.sink !== undefined) {
      this.finish();
      return;
    }
    this.settle(error ?? new Error('the backend closed the connection before its answer was complete'));
  }

  private settle(error?: Error): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    this.connection.attach(undefined, undefined);
    this.request.signal?.removeEventListener('abort', this.onAbort);
    if (error === undefined) {
      this.resolve();
      return;
    }
    this.connection.destroy();
    if (this.sink !== undefined && !this.sink.destroyed) this.sink.destroy(error);
    this.reject(this.received ? error : new NothingReceived(error.message, { cause: error }));
  }
}

function requestHead(request: BulkRequest): string {
  let head = `GET ${request.url.pathname}${request.url.search} HTTP/1.1\r\nhost: ${request.url.host}\r\n`;
  for (const [name, value] of Object.entries(request.headers)) {
    // Header values come from the gateway (robot credentials) and checked client headers; never a second line.
    if (name === 'host' || /[\r\n]/.test(value)) continue;
    head += `${name}: ${value}\r\n`;
  }
  return `${head}\r\n`;
}
