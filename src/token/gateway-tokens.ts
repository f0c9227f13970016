/**
 * GatewayTokens: the JWTs the gateway issues to users of the `static` and `kubernetes`
 * providers, in the form CNCF Distribution's token auth verifies (docs/spec/auth/jwt.md):
 * ES256, `kid` = libtrust key id, claims iss/sub/aud/exp/nbf/iat/jti and `access`
 * (type/name/actions granted for the requested scopes). So the same token works at the gateway
 * and at a registry that trusts the gateway's certificate.
 *
 * At the gateway a token proves who the caller is; each request is still decided by the
 * provider's current policy, so a rule removed takes effect at once. Verified tokens are kept
 * by checksum until they expire: a verification (about 150 µs) happens once per token.
 */
import { randomUUID } from 'node:crypto';
import { decodeProtectedHeader, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import { BoundedCache, stringBytes, type CacheView, type HasCaches } from '../caches/bounded-cache.js';
import type { ProviderName, UserIdentity } from '../access/identity.js';
import { tokenChecksum } from './checksum.js';
import type { KeyRing } from './key-ring.js';

const MAX_REMEMBERED = 100_000;
/** Identities carry groups and extra (a Kubernetes user's): the bytes are bounded as well as the count. */
const MAX_REMEMBERED_BYTES = 64 * 1024 * 1024;
const CLOCK_TOLERANCE_SECONDS = 60;
const PROVIDERS: ReadonlySet<string> = new Set<ProviderName>(['static', 'kubernetes']);

export interface AccessEntry {
  readonly type: string;
  readonly name: string;
  readonly actions: readonly string[];
}

export interface TokenSettings {
  readonly issuer: string;
  /** Accepted `aud` values; the first is the default when the client names no service. */
  readonly services: readonly string[];
  readonly lifetimeSeconds: number;
}

export interface IssuedToken {
  readonly token: string;
  readonly expiresIn: number;
  readonly issuedAt: Date;
}

interface Remembered {
  readonly identity: UserIdentity;
  readonly expiresAtMs: number;
}

export class GatewayTokens implements HasCaches {
  private readonly verified = new BoundedCache<string, Remembered>('gateway-tokens', {
    maxEntries: MAX_REMEMBERED,
    maxBytes: MAX_REMEMBERED_BYTES,
    sizeOf: (remembered, checksum) => stringBytes(checksum) + stringBytes(JSON.stringify(remembered.identity)) + 64,
  });

  get caches(): readonly CacheView[] {
    return [this.verified];
  }
  /** The key ring's generation the remembered verifications belong to. */
  private verifiedGeneration = 0;

  constructor(
    private readonly keys: KeyRing,
    readonly settings: TokenSettings,
  ) {}

  /** True for a compact JWS whose header names one of our algorithms; other tokens are Katello's or anonymous. */
  static looksLikeJwt(token: string): boolean {
    // Exactly two dots, found without splitting the token into pieces on every request.
    const first = token.indexOf('.');
    const second = first === -1 ? -1 : token.indexOf('.', first + 1);
    return token.startsWith('eyJ') && second !== -1 && token.indexOf('.', second + 1) === -1;
  }

  async issue(identity: UserIdentity, access: readonly AccessEntry[], audience: string, nowMs: number): Promise<IssuedToken> {
    const key = this.keys.signer(nowMs);
    const issuedAt = Math.floor(nowMs / 1000);
    const claims: JWTPayload = { access: access.map((entry) => ({ ...entry, actions: [...entry.actions] })), prv: identity.provider };
    if (identity.groups !== undefined && identity.groups.length > 0) claims.grp = [...identity.groups];
    if (identity.extra !== undefined) claims.ext = identity.extra;
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: key.kid })
      .setIssuer(this.settings.issuer)
      .setSubject(identity.username)
      .setAudience(audience)
      .setIssuedAt(issuedAt)
      .setNotBefore(issuedAt)
      .setExpirationTime(issuedAt + this.settings.lifetimeSeconds)
      .setJti(randomUUID())
      .sign(key.privateKey);
    return { token, expiresIn: this.settings.lifetimeSeconds, issuedAt: new Date(issuedAt * 1000) };
  }

  /** The caller a valid token names; undefined for anything forged, expired, or not ours. */
  verify(token: string, nowMs: number): UserIdentity | undefined | Promise<UserIdentity | undefined> {
    if (this.keys.generation !== this.verifiedGeneration) {
      // A key was removed: tokens it signed must not stay accepted from memory.
      this.verified.clear();
      this.verifiedGeneration = this.keys.generation;
    }
    const checksum = tokenChecksum(token);
    const remembered = this.verified.get(checksum);
    if (remembered !== undefined) {
      if (remembered.expiresAtMs > nowMs) return remembered.identity;
      this.verified.delete(checksum);
      return undefined;
    }
    let kid: string | undefined;
    try {
      const header = decodeProtectedHeader(token);
      if (header.alg !== 'ES256' || typeof header.kid !== 'string') return undefined;
      kid = header.kid;
    } catch {
      return undefined;
    }
    const key = this.keys.verifier(kid, nowMs);
    if (key === undefined) return undefined;
    return Promise.resolve(key).then(async (found) => {
      if (found === undefined) return undefined;
      try {
        const { payload } = await jwtVerify(token, found, {
          algorithms: ['ES256'],
          issuer: this.settings.issuer,
          audience: [...this.settings.services],
          clockTolerance: CLOCK_TOLERANCE_SECONDS,
          currentDate: new Date(nowMs),
          requiredClaims: ['sub', 'exp', 'iat'],
        });
        const identity = identityOf(payload);
        if (identity === undefined || payload.exp === undefined) return undefined;
        const lifetime = payload.exp * 1000 - Date.now();
        this.verified.set(checksum, { identity, expiresAtMs: payload.exp * 1000 }, lifetime > 0 ? { ttl: lifetime } : {});
        return identity;
      } catch {
        return undefined;
      }
    });
  }
}

function identityOf(payload: JWTPayload): UserIdentity | undefined {
  const provider = payload.prv;
  if (typeof payload.sub !== 'string' || payload.sub === '' || typeof provider !== 'string' || !PROVIDERS.has(provider)) return undefined;
  const groups = Array.isArray(payload.grp) ? payload.grp.filter((group): group is string => typeof group === 'string') : undefined;
  const extra = extraOf(payload.ext);
  return { kind: 'user', username: payload.sub, provider: provider as ProviderName, ...(groups === undefined ? {} : { groups }), ...(extra === undefined ? {} : { extra }) };
}

function extraOf(value: unknown): Record<string, string[]> | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>).map(([key, list]) => [key, Array.isArray(list) ? list.filter((item): item is string => typeof item === 'string') : []]),
  );
}
