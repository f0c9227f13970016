/**
 * UserTokens: Bearer token → user, by checksum, with an in-process cache in front of the
 * tokens table (the table is the truth, so tokens survive restarts). Expiry is checked on every
 * use; unknown checksums are remembered briefly so a flood of garbage tokens costs no queries.
 */
import type { GatewayStore, TokenOwner } from '../store/gateway-store.js';
import { tokenChecksum } from '../token/checksum.js';

const MAX_ENTRIES = 100_000;
const UNKNOWN_TTL_MS = 5_000;

export class UserTokens {
  private readonly known = new Map<string, TokenOwner>();
  private readonly unknown = new Map<string, number>();

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
        remember(this.unknown, checksum, nowMs + UNKNOWN_TTL_MS);
        return undefined;
      }
      remember(this.known, checksum, found);
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
    remember(this.known, checksum, owner);
  }

  forgetAll(): void {
    this.known.clear();
    this.unknown.clear();
  }
}

function remember<V>(map: Map<string, V>, key: string, value: V): void {
  if (map.size >= MAX_ENTRIES) {
    const oldest = map.keys().next().value;
    if (oldest !== undefined) map.delete(oldest);
  }
  map.set(key, value);
}
