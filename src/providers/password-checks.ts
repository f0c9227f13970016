/**
 * PasswordChecks: bcrypt comparisons on a small pool of worker threads (bcryptjs, already a
 * dependency; a native binding would need a prebuilt download or a compiler at install time),
 * so the event loop keeps answering `/healthz` and pulls while a flood of logins is checked.
 * Checks waiting for a worker are bounded: past `queue` the check is refused at once with
 * PasswordChecksBusy (the token endpoint's 503 + Retry-After) instead of piling up. Every check
 * goes through here, the dummy one for unknown users included, so they cost the same.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

interface PasswordCheckRequest {
  readonly id: number;
  readonly password: string;
  readonly hash: string;
}

interface PasswordCheckAnswer {
  readonly id: number;
  readonly matches: boolean;
}

/**
 * The worker: one comparison at a time. Its source is evaluated as CommonJS with bcryptjs
 * resolved here, so it runs the same from dist/ and from the TypeScript sources under tsx (whose
 * hooks Node 20 does not apply to a worker's entry file). A malformed hash matches nothing.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const bcrypt = require(${JSON.stringify(createRequire(import.meta.url).resolve('bcryptjs'))});
parentPort.on('message', (request) => {
  let matches = false;
  try { matches = bcrypt.compareSync(request.password, request.hash); } catch {}
  parentPort.postMessage({ id: request.id, matches });
});
`;

/** Too many checks are waiting: the caller should come back in a moment. */
export class PasswordChecksBusy extends Error {
  override readonly name = 'PasswordChecksBusy';
}

export interface PasswordCheckLimits {
  /** Worker threads at most. */
  readonly workers: number;
  /** Checks that may wait for a free worker. */
  readonly queue: number;
  /** A worker idle this long is stopped (started again at the next check). */
  readonly idleMs?: number;
}

interface Pending {
  readonly request: PasswordCheckRequest;
  readonly settle: (matches: boolean | Error) => void;
}

interface Slot {
  worker: Worker;
  busyWith: Pending | undefined;
  idle: NodeJS.Timeout | undefined;
}

/**
 * A worker thread is a JavaScript engine of its own: about 15 MiB of memory (measured), for
 * logins that come now and then. So workers start with the first check and stop once idle.
 */
const DEFAULT_IDLE_MS = 30_000;

export class PasswordChecks {
  private readonly slots: Slot[] = [];
  private readonly waiting: Pending[] = [];
  private nextId = 0;
  private closed = false;

  constructor(private readonly limits: PasswordCheckLimits) {}

  /** Whether `password` matches the bcrypt `hash`; rejects with PasswordChecksBusy when the queue is full. */
  compare(password: string, hash: string): Promise<boolean> {
    if (this.closed) return Promise.reject(new PasswordChecksBusy('the gateway is shutting down'));
    const idle = this.slots.find((slot) => slot.busyWith === undefined) ?? (this.slots.length < this.limits.workers ? this.start() : undefined);
    if (idle === undefined && this.waiting.length >= this.limits.queue) return Promise.reject(new PasswordChecksBusy('too many password checks are waiting'));
    return new Promise<boolean>((resolve, reject) => {
      const pending: Pending = { request: { id: (this.nextId += 1), password, hash }, settle: (outcome) => (outcome instanceof Error ? reject(outcome) : resolve(outcome)) };
      if (idle !== undefined) this.dispatch(idle, pending);
      else this.waiting.push(pending);
    });
  }

  /** Checks in progress and waiting, for the metrics. */
  get load(): { running: number; waiting: number } {
    return { running: this.slots.filter((slot) => slot.busyWith !== undefined).length, waiting: this.waiting.length };
  }

  /** Worker threads running now. */
  get threads(): number {
    return this.slots.length;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const pending of this.waiting.splice(0)) pending.settle(new PasswordChecksBusy('the gateway is shutting down'));
    await Promise.all(this.slots.splice(0).map((slot) => this.stop(slot)));
  }

  private start(): Slot {
    const slot: Slot = { worker: new Worker(WORKER_SOURCE, { eval: true }), busyWith: undefined, idle: undefined };
    this.slots.push(slot);
    // Workers never keep a stopping process alive; the server's sockets do while there is work.
    slot.worker.unref();
    slot.worker.on('message', (answer: PasswordCheckAnswer) => {
      const pending = slot.busyWith;
      if (pending === undefined || pending.request.id !== answer.id) return;
      slot.busyWith = undefined;
      pending.settle(answer.matches);
      this.next(slot);
    });
    slot.worker.on('error', (error) => this.replace(slot, error));
    slot.worker.on('exit', () => this.replace(slot, new Error('password check worker exited')));
    return slot;
  }

  /** A worker that died fails its check (the login is refused, never granted); the next check starts another. */
  private replace(slot: Slot, error: Error): void {
    const index = this.slots.indexOf(slot);
    if (index === -1) return;
    this.slots.splice(index, 1);
    clearTimeout(slot.idle);
    slot.busyWith?.settle(error);
    slot.busyWith = undefined;
    if (this.closed) return;
    const pending = this.waiting.shift();
    if (pending !== undefined) this.dispatch(this.start(), pending);
  }

  private next(slot: Slot): void {
    const pending = this.waiting.shift();
    if (pending !== undefined) {
      this.dispatch(slot, pending);
      return;
    }
    slot.idle = setTimeout(() => this.retire(slot), this.limits.idleMs ?? DEFAULT_IDLE_MS);
    slot.idle.unref();
  }

  /** An idle worker goes; it is not replaced until a check needs one. */
  private retire(slot: Slot): void {
    const index = this.slots.indexOf(slot);
    if (index === -1 || slot.busyWith !== undefined) return;
    this.slots.splice(index, 1);
    void this.stop(slot);
  }

  private async stop(slot: Slot): Promise<void> {
    clearTimeout(slot.idle);
    slot.worker.removeAllListeners('exit');
    slot.worker.removeAllListeners('error');
    slot.worker.on('error', () => undefined);
    await slot.worker.terminate();
  }

  private dispatch(slot: Slot, pending: Pending): void {
    clearTimeout(slot.idle);
    slot.idle = undefined;
    slot.busyWith = pending;
    slot.worker.postMessage(pending.request);
  }
}
