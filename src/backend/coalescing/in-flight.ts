/**
 * InFlight: reads in flight, by key, so that an identical read arriving while one is out joins it
 * instead of asking the backend again. An entry lives exactly as long as its backend call: the
 * answer is handed to those waiting and the entry is gone, so nothing is ever answered from an
 * earlier read (no staleness, only sharing).
 *
 * Every waiter may leave (its client disconnected): it stops waiting at once, and the others keep
 * waiting. Only when every waiter has left is the shared call cancelled, through the connection
 * the call watches (`SharedConnection`), exactly as a single client's leaving cancels its own call.
 */
import type { ClientConnection } from '../client.js';

/**
 * The connection a shared call watches: it closes when the last of its waiters has gone. Not an
 * EventEmitter: one is made per backend read, and the call only ever adds and removes one listener.
 */
class SharedConnection implements ClientConnection {
  readonly writableFinished = false;
  private waiting = 0;
  private listener: (() => void) | undefined;

  once(_event: 'close', listener: () => void): this {
    this.listener = listener;
    return this;
  }

  removeListener(_event: 'close', listener: () => void): this {
    if (this.listener === listener) this.listener = undefined;
    return this;
  }

  join(): void {
    this.waiting += 1;
  }

  /** Answers whether this was the last waiter. */
  leave(): boolean {
    this.waiting -= 1;
    if (this.waiting > 0) return false;
    const listener = this.listener;
    this.listener = undefined;
    listener?.();
    return true;
  }
}

interface Flight<T> {
  readonly answer: Promise<T>;
  readonly connection: SharedConnection;
}

/** Thrown to a waiter whose client left before the answer came; nobody sees it (the socket is gone). */
export class ClientLeft extends Error {
  override readonly name = 'ClientLeft';
  constructor() {
    super('the client went away');
  }
}

export class InFlight<T> {
  private readonly flights = new Map<string, Flight<T>>();

  /** Reads in flight right now (bounded by the requests in flight). */
  get size(): number {
    return this.flights.size;
  }

  /**
   * The answer of the read `key`: joins the one in flight, or starts it with `start`. `waiter` is
   * the client's connection (undefined: a caller that never leaves). `onJoined` is told when this
   * call joined another's read.
   */
  run(key: string, waiter: ClientConnection | undefined, start: (connection: ClientConnection) => Promise<T>, onJoined?: () => void): Promise<T> {
    let flight = this.flights.get(key);
    if (flight === undefined) {
      const connection = new SharedConnection();
      const answer = start(connection);
      const started: Flight<T> = { answer, connection };
      flight = started;
      this.flights.set(key, started);
      const forget = () => {
        if (this.flights.get(key) === started) this.flights.delete(key);
      };
      answer.then(forget, forget);
    } else {
      onJoined?.();
    }
    return this.wait(key, flight, waiter);
  }

  private wait(key: string, flight: Flight<T>, waiter: ClientConnection | undefined): Promise<T> {
    flight.connection.join();
    if (waiter === undefined) return flight.answer;
    return new Promise<T>((resolve, reject) => {
      const leave = () => {
        if (waiter.writableFinished) return;
        reject(new ClientLeft());
        // The last one out cancels; a later identical read must then start afresh, not join a cancelled one.
        if (flight.connection.leave() && this.flights.get(key) === flight) this.flights.delete(key);
      };
      waiter.once('close', leave);
      flight.answer.then(
        (value) => {
          waiter.removeListener('close', leave);
          resolve(value);
        },
        (error: unknown) => {
          waiter.removeListener('close', leave);
          reject(error);
        },
      );
    });
  }
}
