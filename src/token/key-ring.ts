/**
 * KeyRing: the signing keys this process holds in memory, so that verifying a token never
 * touches the database. Loaded at start, and again when another instance announces a new key
 * (change feed) or a token names a key id we have not seen (at most once per few seconds, so
 * forged key ids cannot turn into a query flood).
 */
import { X509Certificate, type KeyObject } from 'node:crypto';
import { exportJWK, type JWK } from 'jose';
import type { GatewayStore } from '../store/gateway-store.js';
import { generateSigningKey, libtrustKeyId, signingKeyFromPem, toSigningKey, type SigningKey } from './signing-keys.js';

const UNKNOWN_KID_RELOAD_MS = 5_000;

export interface KeySource {
  /** PEM of a configured signing key (tokens.signingKey); the database holds the keys otherwise. */
  readonly signingKeyPem?: Buffer;
  /** Certificates of retired keys that still verify (tokens.verifyCertificates). */
  readonly verifyCertificates: readonly Buffer[];
}

export class KeyRing {
  private keys: readonly SigningKey[] = [];
  private readonly extraVerifiers = new Map<string, { key: KeyObject; certificate: string }>();
  private lastUnknownReload = 0;
  /** Moves whenever a key stops verifying, so what was verified with it can be forgotten. */
  private removals = 0;

  private constructor(
    private readonly store: GatewayStore,
    private readonly source: KeySource,
  ) {}

  static async open(store: GatewayStore, source: KeySource, now: number): Promise<KeyRing> {
    const ring = new KeyRing(store, source);
    for (const pem of source.verifyCertificates) {
      const certificate = new X509Certificate(pem);
      ring.extraVerifiers.set(libtrustKeyId(certificate.publicKey), { key: certificate.publicKey, certificate: certificate.toString() });
    }
    if (source.signingKeyPem !== undefined) {
      ring.keys = [toSigningKey(await signingKeyFromPem(source.signingKeyPem, now))];
      return ring;
    }
    await ring.reload();
    if (ring.keys.length === 0) {
      // First start: make a key. Two instances starting at once may both add one; both verify everywhere.
      await store.addSigningKey(await generateSigningKey(now));
      await ring.reload();
    }
    return ring;
  }

  get fromDatabase(): boolean {
    return this.source.signingKeyPem === undefined;
  }

  async reload(): Promise<void> {
    if (!this.fromDatabase) return;
    const loaded = (await this.store.signingKeys()).map(toSigningKey);
    const kept = new Set(loaded.map((key) => key.kid));
    if (this.keys.some((key) => !kept.has(key.kid))) this.removals += 1;
    this.keys = loaded;
  }

  /** Changes when a key has been removed (pruned, or deleted by hand after a leak). */
  get generation(): number {
    return this.removals;
  }

  /** The newest key that has activated; keys activating later are published but do not sign yet. */
  signer(now: number): SigningKey {
    let chosen: SigningKey | undefined;
    for (const key of this.keys) if (key.activatesAt <= now && (chosen === undefined || key.activatesAt >= chosen.activatesAt)) chosen = key;
    const fallback = chosen ?? this.keys[0];
    if (fallback === undefined) throw new Error('no token signing key is available');
    return fallback;
  }

  /** The verifying key for `kid`; an unknown id triggers a bounded reload (another instance may have rotated). */
  verifier(kid: string, now: number): KeyObject | undefined | Promise<KeyObject | undefined> {
    const known = this.lookup(kid);
    if (known !== undefined || !this.fromDatabase || now - this.lastUnknownReload < UNKNOWN_KID_RELOAD_MS) return known;
    this.lastUnknownReload = now;
    return this.reload().then(() => this.lookup(kid));
  }

  private lookup(kid: string): KeyObject | undefined {
    return this.keys.find((key) => key.kid === kid)?.publicKey ?? this.extraVerifiers.get(kid)?.key;
  }

  /** Every certificate whose key verifies: what a registry's rootcertbundle should contain. */
  certificateBundle(): string {
    const pems = [...this.keys.map((key) => key.certificate), ...[...this.extraVerifiers.values()].map((entry) => entry.certificate)];
    return pems.map((pem) => pem.trim()).join('\n') + '\n';
  }

  async jwks(): Promise<{ keys: JWK[] }> {
    const entries = [...this.keys.map((key) => [key.kid, key.publicKey] as const), ...[...this.extraVerifiers].map(([kid, entry]) => [kid, entry.key] as const)];
    return { keys: await Promise.all(entries.map(async ([kid, key]) => ({ ...(await exportJWK(key)), kid, alg: 'ES256', use: 'sig' }))) };
  }

  /**
   * Drops database keys that no longer verify anything: superseded by a newer active key for
   * longer than a token lives. The signing key is never dropped.
   */
  async prune(now: number, tokenLifetimeMs: number): Promise<string[]> {
    if (!this.fromDatabase) return [];
    const signer = this.signer(now);
    const supersededBefore = now - tokenLifetimeMs - 60_000;
    const expired = this.keys.filter((key) => key.kid !== signer.kid && key.activatesAt < signer.activatesAt && signer.activatesAt < supersededBefore).map((key) => key.kid);
    await this.store.removeSigningKeys(expired);
    await this.reload();
    return expired;
  }
}
