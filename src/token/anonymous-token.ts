/**
 * The anonymous token: what `GET /v2/token` without credentials hands out. It reaches public
 * repositories only, which an anonymous caller may pull anyway; it exists because clients expect
 * the Bearer dance to end in a token. Stateless (an HMAC over its expiry with a key kept in the
 * database), so issuing one writes nothing and checking one reads nothing.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { BoundedCache, stringBytes, type CacheView, type HasCaches } from '../caches/bounded-cache.js';

const PREFIX = 'anon.';

/** Verified tokens remembered, so the hot path does not compute an HMAC per request. */
const MAX_REMEMBERED = 10_000;

export class AnonymousTokens implements HasCaches {
  private readonly verified = new BoundedCache<string, number>('anonymous-tokens', {
    maxEntries: MAX_REMEMBERED,
    maxBytes: MAX_REMEMBERED * 256,
    sizeOf: (_expiry, token) => stringBytes(token) + 32,
  });

  get caches(): readonly CacheView[] {
    return [this.verified];
  }

  constructor(private readonly key: Buffer) {}

  issue(expiresAtSeconds: number): string {
    return `${PREFIX}${expiresAtSeconds}.${this.mac(expiresAtSeconds)}`;
  }

  /** True for a token this gateway issued that has not expired. */
  verify(token: string, nowMs: number): boolean {
    const remembered = this.verified.get(token);
    if (remembered !== undefined) return remembered > nowMs;
    if (!this.verifyMac(token)) return false;
    const expiresAtMs = Number(token.slice(PREFIX.length, token.indexOf('.', PREFIX.length))) * 1000;
    const lifetime = expiresAtMs - Date.now();
    if (lifetime > 0) this.verified.set(token, expiresAtMs, { ttl: lifetime });
    return expiresAtMs > nowMs;
  }

  private verifyMac(token: string): boolean {
    if (!token.startsWith(PREFIX)) return false;
    const [expiryText, mac] = token.slice(PREFIX.length).split('.');
    if (expiryText === undefined || mac === undefined || !/^\d{1,12}$/.test(expiryText)) return false;
    const expected = Buffer.from(this.mac(Number(expiryText)));
    const given = Buffer.from(mac);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  static isAnonymousForm(token: string): boolean {
    return token.startsWith(PREFIX);
  }

  private mac(expiresAtSeconds: number): string {
    return createHmac('sha256', this.key).update(`anonymous:${expiresAtSeconds}`).digest('base64url');
  }
}
