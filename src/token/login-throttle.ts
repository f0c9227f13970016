/**
 * LoginThrottle: failed logins are slowed and then refused, per account and per client address,
 * so a password cannot be brute-forced through the gateway (and Katello is not hammered on its
 * behalf). Refusals are 429 with Retry-After, which podman and docker honour. A different account
 * keeps logging in from the same address as long as that address stays under its own, higher
 * limit. In-process: each worker counts on its own.
 */
export interface LoginThrottleOptions {
  /** Failures after which each further failure is answered only after `delayMs`. */
  readonly slowAfter: number;
  readonly delayMs: number;
  /** Failures within the window after which attempts are refused (429) without asking upstream. */
  readonly perAccount: number;
  readonly perAddress: number;
  readonly windowMs: number;
}

interface Failures {
  count: number;
  windowEndsAt: number;
}

const MAX_TRACKED = 100_000;

export type ThrottleVerdict = { readonly allowed: true } | { readonly allowed: false; readonly retryAfterSeconds: number };

export class LoginThrottle {
  private readonly accounts = new Map<string, Failures>();
  private readonly addresses = new Map<string, Failures>();

  constructor(private readonly options: LoginThrottleOptions) {}

  /** Before asking upstream: may this attempt go ahead? */
  check(account: string, address: string, now: number): ThrottleVerdict {
    const byAccount = this.current(this.accounts, account, now);
    const byAddress = this.current(this.addresses, address, now);
    const blocked = [
      byAccount !== undefined && byAccount.count >= this.options.perAccount ? byAccount : undefined,
      byAddress !== undefined && byAddress.count >= this.options.perAddress ? byAddress : undefined,
    ].filter((entry): entry is Failures => entry !== undefined);
    if (blocked.length === 0) return { allowed: true };
    const until = Math.max(...blocked.map((entry) => entry.windowEndsAt));
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((until - now) / 1000)) };
  }

  /** After a failed attempt: how long to hold the answer back (0 while under slowAfter). */
  recordFailure(account: string, address: string, now: number): number {
    const accountFailures = this.bump(this.accounts, account, now);
    this.bump(this.addresses, address, now);
    return accountFailures > this.options.slowAfter ? this.options.delayMs : 0;
  }

  recordSuccess(account: string): void {
    this.accounts.delete(account);
  }

  private current(map: Map<string, Failures>, key: string, now: number): Failures | undefined {
    const entry = map.get(key);
    if (entry === undefined) return undefined;
    if (entry.windowEndsAt <= now) {
      map.delete(key);
      return undefined;
    }
    return entry;
  }

  private bump(map: Map<string, Failures>, key: string, now: number): number {
    const entry = this.current(map, key, now) ?? { count: 0, windowEndsAt: now + this.options.windowMs };
    entry.count += 1;
    if (!map.has(key)) {
      if (map.size >= MAX_TRACKED) {
        const oldest = map.keys().next().value;
        if (oldest !== undefined) map.delete(oldest);
      }
      map.set(key, entry);
    }
    return entry.count;
  }
}
