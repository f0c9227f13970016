/**
 * LoginThrottle: failed logins are slowed and then refused, per account and per client address,
 * so a password cannot be brute-forced through the gateway (and Katello is not hammered on its
 * behalf). Refusals are 429 with Retry-After, which podman and docker honour. A different account
 * keeps logging in from the same address as long as that address stays under its own, higher
 * limit. In-process: each worker counts on its own.
 *
 * An attempt is counted when it starts, not when upstream has answered: otherwise 40 concurrent
 * guesses all pass the check before the first failure is recorded. Failures and attempts in
 * flight together may not pass a limit; an attempt that would pass it only because of attempts
 * still in flight waits for one of them to end and looks again — so 40 concurrent guesses reach
 * upstream at most `perAccount` times, while 40 concurrent correct logins of one CI robot all
 * succeed, a few at a time. An attempt ends as a failure (refused credentials), a success (given
 * back, the account's failures forgotten) or abandoned (upstream down: given back).
 */
import { BoundedCache, stringBytes, type CacheView, type HasCaches } from '../caches/bounded-cache.js';

export interface LoginThrottleOptions {
  /** Failures after which each further failure is answered only after `delayMs`. */
  readonly slowAfter: number;
  readonly delayMs: number;
  /** Failures within the window after which attempts are refused (429) without asking upstream. */
  readonly perAccount: number;
  readonly perAddress: number;
  readonly windowMs: number;
}

interface Counter {
  failures: number;
  inFlight: number;
  windowEndsAt: number;
  /** Attempts waiting for one in flight to end. */
  readonly waiting: Array<() => void>;
}

/** Accounts and addresses tracked at once; the least recently used are forgotten first. */
const MAX_TRACKED = 100_000;

/** One login attempt in flight: it says how it ended, once (later calls change nothing). */
export interface LoginAttempt {
  /** The credentials were accepted: the reservation is given back and the account's failures forgotten. */
  succeeded(): void;
  /** The credentials were refused: the reservation becomes a failure. Answers how long to hold the answer back. */
  failed(): number;
  /** Nobody could tell (upstream unreachable, bad request): the reservation is given back. */
  abandoned(): void;
}

export type ThrottleVerdict = { readonly allowed: true; readonly attempt: LoginAttempt } | { readonly allowed: false; readonly retryAfterSeconds: number };

export class LoginThrottle implements HasCaches {
  private readonly accounts: BoundedCache<string, Counter>;
  private readonly addresses: BoundedCache<string, Counter>;

  constructor(private readonly options: LoginThrottleOptions) {
    // A user name has at most 255 characters, an address about 45.
    const counters = (name: string) => new BoundedCache<string, Counter>(name, { maxEntries: MAX_TRACKED, maxBytes: MAX_TRACKED * 600, sizeOf: (_counter, key) => stringBytes(key) + 64 });
    this.accounts = counters('login-failures-by-account');
    this.addresses = counters('login-failures-by-address');
  }

  get caches(): readonly CacheView[] {
    return [this.accounts, this.addresses];
  }

  /**
   * Before asking upstream: may this attempt go ahead? Refused when the failures alone reach a
   * limit; waits while attempts in flight would make it pass one; else counted from now on.
   */
  async reserve(account: string, address: string, now: () => number): Promise<ThrottleVerdict> {
    for (;;) {
      const at = now();
      const byAccount = this.counter(this.accounts, account, at);
      const byAddress = this.counter(this.addresses, address, at);
      const refusedBy = [byAccount.failures >= this.options.perAccount ? byAccount : undefined, byAddress.failures >= this.options.perAddress ? byAddress : undefined].filter(
        (counter): counter is Counter => counter !== undefined,
      );
      if (refusedBy.length > 0) {
        const until = Math.max(...refusedBy.map((counter) => counter.windowEndsAt));
        return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((until - at) / 1000)) };
      }
      const busy = byAccount.failures + byAccount.inFlight >= this.options.perAccount ? byAccount : byAddress.failures + byAddress.inFlight >= this.options.perAddress ? byAddress : undefined;
      if (busy === undefined) return { allowed: true, attempt: this.start(account, byAccount, byAddress) };
      await new Promise<void>((resolve) => busy.waiting.push(resolve));
    }
  }

  private start(account: string, byAccount: Counter, byAddress: Counter): LoginAttempt {
    byAccount.inFlight += 1;
    byAddress.inFlight += 1;
    let settled = false;
    const settle = (failed: boolean): boolean => {
      if (settled) return false;
      settled = true;
      for (const counter of [byAccount, byAddress]) {
        counter.inFlight -= 1;
        if (failed) counter.failures += 1;
      }
      return true;
    };
    const wake = () => {
      for (const counter of [byAccount, byAddress]) for (const resume of counter.waiting.splice(0)) resume();
    };
    return {
      succeeded: () => {
        if (!settle(false)) return;
        byAccount.failures = 0;
        if (byAccount.inFlight === 0 && this.accounts.get(account) === byAccount) this.accounts.delete(account);
        wake();
      },
      failed: () => {
        if (!settle(true)) return 0;
        wake();
        return byAccount.failures > this.options.slowAfter ? this.options.delayMs : 0;
      },
      abandoned: () => {
        if (settle(false)) wake();
      },
    };
  }

  /** The key's counter, a new window once the old one has ended. */
  private counter(counters: BoundedCache<string, Counter>, key: string, now: number): Counter {
    const existing = counters.get(key);
    if (existing !== undefined && existing.windowEndsAt > now) return existing;
    if (existing !== undefined && existing.inFlight > 0) {
      // Attempts of the old window are still out: they keep this counter; its failures start over.
      existing.failures = 0;
      existing.windowEndsAt = now + this.options.windowMs;
      return existing;
    }
    const fresh: Counter = { failures: 0, inFlight: 0, windowEndsAt: now + this.options.windowMs, waiting: [] };
    // The window is judged by the caller's clock; the cache's own TTL only frees the memory.
    counters.set(key, fresh, { ttl: this.options.windowMs });
    return fresh;
  }
}
