/** The store on a real SQLite database (a temp file, WAL), including the bulk paths' speed budget. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { UserTokens } from '../../../src/identity/user-tokens.js';
import { AccessFactsCache } from '../../../src/store/access-facts-cache.js';
import { openDatabase, type OpenDatabase } from '../../../src/store/connect.js';
import { GatewayStore } from '../../../src/store/gateway-store.js';
import { tokenChecksum } from '../../../src/token/checksum.js';

describe('GatewayStore on SQLite', () => {
  let dir: string;
  let database: OpenDatabase;
  let store: GatewayStore;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cg-store-'));
    database = await openDatabase({ url: `sqlite://${join(dir, 'gw.db')}` });
    store = new GatewayStore(database.db, database.dialect);
  });
  after(async () => {
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('migrations are recorded and idempotent', async () => {
    const again = await openDatabase({ url: `sqlite://${join(dir, 'gw.db')}` });
    assert.deepEqual(again.migrations.applied, []);
    await again.close();
  });

  it('stores token checksums, never tokens, and finds their owner until expiry', async () => {
    const token = 'a-real-upstream-token-value';
    await store.replaceRepositoryList(new Map([['priv/a', true]]));
    await store.recordLogin({ username: 'alice', tokenChecksum: tokenChecksum(token), expiresAt: 2_000, repositories: ['priv/a', 'unknown/x'] });
    const rows = await database.db.selectFrom('tokens').selectAll().execute();
    assert.equal(rows.length, 1);
    assert.notEqual(rows[0]?.token_checksum, token);
    const tokens = new UserTokens(store);
    assert.equal(await tokens.ownerOf(token, 1_000), 'alice');
    assert.equal(await tokens.ownerOf(token, 2_000), undefined, 'expired at expires_at');
    assert.equal(await tokens.ownerOf('another-token', 1_000), undefined);
    assert.equal(await store.pruneExpiredTokens(3_000), 1);
  });

  it('a login replaces that user\'s mappings only', async () => {
    await store.replaceRepositoryList(new Map([['priv/a', true], ['priv/b', true]]));
    await store.replaceUserMappings(new Map([['bob', ['priv/b']], ['alice', ['priv/a']]]));
    await store.recordLogin({ username: 'alice', tokenChecksum: 'x'.repeat(64), expiresAt: 10, repositories: ['priv/b'] });
    const facts = new AccessFactsCache(store);
    assert.deepEqual(await facts.visibleRepositories({ kind: 'user', username: 'alice', provider: 'katello' }), ['priv/b']);
    assert.deepEqual(await facts.visibleRepositories({ kind: 'user', username: 'bob', provider: 'katello' }), ['priv/b']);
  });

  it('a login again with the same repositories keeps the mapping; with others, replaces it', async () => {
    await store.replaceRepositoryList(new Map([['priv/a', true], ['priv/b', true], ['priv/c', true]]));
    const login = (repositories: string[]) => store.recordLogin({ username: 'carol', tokenChecksum: 'c'.repeat(64), expiresAt: 10, repositories });
    const mappedOf = async () => (await store.repositoryIdsOfUser('carol')).length;
    assert.deepEqual(await login(['priv/a', 'priv/b', 'unknown/x']), { subjects: 1, mappings: 2, unknownRepositories: 1 });
    assert.deepEqual(await login(['priv/b', 'priv/a', 'priv/a', 'unknown/x']), { subjects: 1, mappings: 2, unknownRepositories: 1 });
    assert.equal(await mappedOf(), 2);
    const facts = new AccessFactsCache(store);
    const carol = { kind: 'user', username: 'carol', provider: 'katello' } as const;
    assert.deepEqual(await facts.visibleRepositories(carol), ['priv/a', 'priv/b']);
    await login(['priv/a', 'priv/c']);
    facts.invalidateCaller(carol);
    assert.deepEqual(await facts.visibleRepositories(carol), ['priv/a', 'priv/c']);
    await login(['priv/a']);
    facts.invalidateCaller(carol);
    assert.deepEqual(await facts.visibleRepositories(carol), ['priv/a']);
  });

  it("a static or kubernetes user never inherits a Katello user's mappings by sharing the name", async () => {
    await store.replaceRepositoryList(new Map([['priv/a', true]]));
    await store.replaceUserMappings(new Map([['admin', ['priv/a']]]));
    const facts = new AccessFactsCache(store);
    assert.equal((await facts.factsFor({ kind: 'user', username: 'admin', provider: 'katello' }, 'priv/a')).callerMapped, true);
    for (const provider of ['static', 'kubernetes'] as const) {
      assert.equal((await facts.factsFor({ kind: 'user', username: 'admin', provider }, 'priv/a')).callerMapped, false, provider);
      assert.deepEqual(await facts.visibleRepositories({ kind: 'user', username: 'admin', provider }), [], provider);
    }
  });

  it('100,000 repositories in one replace, and a second different one, both applied whole', async () => {
    const first = new Map(Array.from({ length: 100_000 }, (_, i) => [`org${i % 100}/repo-${i}`, i % 10 === 0] as const));
    let started = performance.now();
    const counts = await store.replaceRepositoryList(first);
    const firstMs = performance.now() - started;
    assert.equal(counts.added, 100_000);
    const second = new Map(Array.from({ length: 100_000 }, (_, i) => [`org${i % 100}/repo-${i + 50_000}`, i % 3 === 0] as const));
    started = performance.now();
    const secondCounts = await store.replaceRepositoryList(second);
    const secondMs = performance.now() - started;
    assert.deepEqual({ added: secondCounts.added, removed: secondCounts.removed }, { added: 50_000, removed: 50_000 });
    // Timing is the benchmark's business (npm run bench); here only reported.
    console.log(`# replaceRepositoryList: 100k new in ${firstMs.toFixed(0)} ms, 50k swapped in ${secondMs.toFixed(0)} ms`);
  });
});
