/**
 * UserTokens: Bearer token → user, by checksum, with an in-process cache in front of the
 * tokens table (the table is the truth, so tokens survive restarts). Expiry is checked on every
 * use; unknown checksums are remembered briefly so a flood of garbage tokens costs no queries.
 */
import { BoundedCache, stringBytes, type CacheView, type HasCaches } from '../caches/bounded-cache.js';
import type { GatewayStore, TokenOwner } from '../store/gateway-store.js';
import { tokenChecksum } from '../token/checksum.js';

const MAX_ENTRIES = 100_000;
/** A checksum (64 hex characters) and a user name of up to 255. */
const MAX_ENTRY_BYTES = 2 * (64 + 255) + 64;
const UNKNOWN_TTL_MS = 5_000;

export class UserTokens implements HasCaches {
  private readonly known = new BoundedCache<string, TokenOwner>('user-tokens', {
    maxEntries: MAX_ENTRIES,
    maxBytes: MAX_ENTRIES * MAX_ENTRY_BYTES,
    sizeOf: (owner, checksum) => stringBytes(checksum) + stringBytes(owner.username) + 64,
  });
  /** Garbage tokens (a flood of made-up ones) are remembered briefly, so they cost no queries. */
  private readonly unknown = new BoundedCache<string, number>('unknown-tokens', {
    maxEntries: MAX_ENTRIES,
    maxBytes: MAX_ENTRIES * 256,
    sizeOf: (_until, checksum) => stringBytes(checksum) + 32,
    ttlMs: UNKNOWN_TTL_MS,
  });

  get caches(): readonly CacheView[] {
    return [this.known, this.unknown];
  }

  constructor(
    private readonly store: GatewayStore,
    private readonly onLookup: (hit: boolean) => void = () => undefined,
  ) {}

  /**
   * The owner of a valid, unexpired token, or undefined. Answers synchronously from the cache
   * (the hot path), with a promise only when the database must be asked.
   */
  ownerOf(token: string, nowMs: number): string | undefined | Promise<string | undefined> {
    const checksum = tokenChecksum(token);
    const owner = this.known.get(checksum);
    this.onLookup(owner !== undefined);
    if (owner !== undefined) return this.unexpired(checksum, owner, nowMs);
    const unknownUntil = this.unknown.get(checksum);
    if (unknownUntil !== undefined && unknownUntil > nowMs) return undefined;
    return this.store.findTokenOwner(checksum).then((found) => {
      if (found === undefined) {
        this.unknown.set(checksum, nowMs + UNKNOWN_TTL_MS);
        return undefined;
      }
      this.rememberOwner(checksum, found);
      return this.unexpired(checksum, found, nowMs);
    });
  }

  private unexpired(checksum: string, owner: TokenOwner, nowMs: number): string | undefined {
    if (owner.expiresAt > nowMs) return owner.username;
    this.known.delete(checksum);
    return undefined;
  }

  /** Called after a login stored a token, so a recent "unknown" answer does not shadow it. */
  remember(checksum: string, owner: TokenOwner): void {
    this.unknown.delete(checksum);
    this.rememberOwner(checksum, owner);
  }

  /** Kept until the token expires (by the wall clock; expiry itself is judged by the caller's clock on every use). */
  private rememberOwner(checksum: string, owner: TokenOwner): void {
    const lifetime = owner.expiresAt - Date.now();
    this.known.set(checksum, owner, lifetime > 0 ? { ttl: lifetime } : {});
  }

  forgetAll(): void {
    this.known.clear();
    this.unknown.clear();
  }
}

