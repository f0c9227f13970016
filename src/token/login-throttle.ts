/**
 * LoginThrottle: failed logins are slowed and then refused, per account and per client address,
 * so a password cannot be brute-forced through the gateway (and Katello is not hammered on its
 * behalf). Refusals are 429 with Retry-After, which podman and docker honour. A different account
 * keeps logging in from the same address as long as that address stays under its own, higher
 * limit. In-process: each worker counts on its own.
 *
 * An attempt is counted when it starts, not when upstream has answered: otherwise 40 concurrent
 * guesses all pass the check before the first failure is recorded. The reservation becomes a
 * failure if the credentials are refused, and is given back if they are accepted or if nobody
 * could tell (upstream down). The counters are bounded caches whose entries expire with their
 * window.
 */
import { LRUCache } from 'lru-cache';

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
  /** Failures and attempts in flight within the window. */
  count: number;
  readonly windowEndsAt: number;
}

/** Accounts and addresses tracked at once; the least recently used are forgotten first. */
const MAX_TRACKED = 100_000;

/** One login attempt in flight: it says how it ended, exactly once. */
export interface LoginAttempt {
  /** The credentials were accepted: the reservation is given back and the account's failures forgotten. */
  succeeded(): void;
  /** The credentials were refused: the reservation stays as a failure. Answers how long to hold the answer back. */
  failed(): number;
  /** Nobody could tell (upstream unreachable, bad request): the reservation is given back. */
  abandoned(): void;
}

export type ThrottleVerdict = { readonly allowed: true; readonly attempt: LoginAttempt } | { readonly allowed: false; readonly retryAfterSeconds: number };

export class LoginThrottle {
  private readonly accounts: LRUCache<string, Counter>;
  private readonly addresses: LRUCache<string, Counter>;

  constructor(private readonly options: LoginThrottleOptions) {
    const counters = () => new LRUCache<string, Counter>({ max: MAX_TRACKED });
    this.accounts = counters();
    this.addresses = counters();
  }

  /** Before asking upstream: may this attempt go ahead? If so it is counted from now on. */
  reserve(account: string, address: string, now: number): ThrottleVerdict {
    const byAccount = this.current(this.accounts, account, now);
    const byAddress = this.current(this.addresses, address, now);
    const blocked = [
      byAccount !== undefined && byAccount.count >= this.options.perAccount ? byAccount : undefined,
      byAddress !== undefined && byAddress.count >= this.options.perAddress ? byAddress : undefined,
    ].filter((entry): entry is Counter => entry !== undefined);
    if (blocked.length > 0) {
      const until = Math.max(...blocked.map((entry) => entry.windowEndsAt));
      return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((until - now) / 1000)) };
    }
    const accountCounter = this.bump(this.accounts, account, byAccount, now);
    const addressCounter = this.bump(this.addresses, address, byAddress, now);
    let settled = false;
    const giveBack = () => {
      if (settled) return false;
      settled = true;
      accountCounter.count = Math.max(0, accountCounter.count - 1);
      addressCounter.count = Math.max(0, addressCounter.count - 1);
      return true;
    };
    return {
      allowed: true,
      attempt: {
        succeeded: () => {
          if (giveBack() && this.accounts.get(account) === accountCounter) this.accounts.delete(account);
        },
        failed: () => {
          if (settled) return 0;
          settled = true;
          return accountCounter.count > this.options.slowAfter ? this.options.delayMs : 0;
        },
        abandoned: () => {
          giveBack();
        },
      },
    };
  }

  /** Entries tracked (accounts, addresses), for the metrics. */
  get size(): { accounts: number; addresses: number } {
    return { accounts: this.accounts.size, addresses: this.addresses.size };
  }

  private current(counters: LRUCache<string, Counter>, key: string, now: number): Counter | undefined {
    const entry = counters.get(key);
    if (entry === undefined) return undefined;
    if (entry.windowEndsAt <= now) {
      counters.delete(key);
      return undefined;
    }
    return entry;
  }

  private bump(counters: LRUCache<string, Counter>, key: string, existing: Counter | undefined, now: number): Counter {
    if (existing !== undefined) {
      existing.count += 1;
      return existing;
    }
    const entry: Counter = { count: 1, windowEndsAt: now + this.options.windowMs };
    // The window is checked against the caller's clock above; the cache's own TTL only frees the memory.
    counters.set(key, entry, { ttl: this.options.windowMs });
    return entry;
  }
}
