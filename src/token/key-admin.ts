/**
 * The operator's side of the signing keys (`container-gateway token-certificates`,
 * `container-gateway rotate-signing-key`): what to put in a registry's rootcertbundle, and a
 * new key. Rotation adds the key first and lets it sign only after `activateInSeconds`, so
 * registries can be given the new certificate before any token depends on it; the old key keeps
 * verifying until its last token has expired, then `serve` drops it.
 */
import type { GatewayConfig } from '../config/compiled.js';
import { openDatabase } from '../store/connect.js';
import { GatewayStore } from '../store/gateway-store.js';
import { KeyRing } from './key-ring.js';
import { generateSigningKey } from './signing-keys.js';

async function withKeyRing<T>(config: GatewayConfig, work: (ring: KeyRing, store: GatewayStore) => Promise<T>): Promise<T> {
  const database = await openDatabase(config.database);
  try {
    const store = new GatewayStore(database.db, database.dialect, database.reads);
    return await work(await KeyRing.open(store, config.tokens, Date.now()), store);
  } finally {
    await database.close();
  }
}

export function certificateBundle(config: GatewayConfig): Promise<string> {
  return withKeyRing(config, async (ring) => ring.certificateBundle());
}

export function rotateSigningKey(config: GatewayConfig, activateInSeconds: number): Promise<{ kid: string; activatesAt: Date; bundle: string }> {
  return withKeyRing(config, async (ring, store) => {
    if (!ring.fromDatabase) throw new Error('tokens.signingKey is set: rotate by replacing that file (and listing the old certificate in tokens.verifyCertificates)');
    const now = Date.now();
    const key = await generateSigningKey(now, now + activateInSeconds * 1000);
    await store.addSigningKey(key);
    await ring.reload();
    return { kid: key.kid, activatesAt: new Date(key.activatesAt), bundle: ring.certificateBundle() };
  });
}
