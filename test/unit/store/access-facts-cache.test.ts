import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AccessFactsCache } from '../../../src/store/access-facts-cache.js';
import { openDatabase, type OpenDatabase } from '../../../src/store/connect.js';
import { GatewayStore } from '../../../src/store/gateway-store.js';

const alice = { kind: 'user', username: 'alice', provider: 'katello' } as const;

/** A real SQLite store with private repositories (alice mapped to priv/a), and a cache over it. */
async function factsOverSqlite(repositories: ReadonlyMap<string, boolean>): Promise<{ dir: string; database: OpenDatabase; facts: AccessFactsCache }> {
  const dir = mkdtempSync(join(tmpdir(), 'cg-facts-'));
  const database = await openDatabase({ url: `sqlite://${join(dir, 'gw.db')}` });
  const store = new GatewayStore(database.db, database.dialect, database.reads);
  await store.replaceRepositoryList(repositories);
  await store.replaceUserMappings(new Map([['alice', ['priv/a']]]));
  return { dir, database, facts: new AccessFactsCache(store) };
}

describe('AccessFactsCache when the database goes away', () => {
  let dir: string;
  let database: OpenDatabase;
  let facts: AccessFactsCache;

  before(async () => {
    ({ dir, database, facts } = await factsOverSqlite(new Map([['pub/a', false], ['priv/a', true], ['priv/b', true]])));
    assert.deepEqual(await facts.visibleRepositories(alice), ['priv/a', 'pub/a']);
    await database.close();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('an invalidated caller is still answered from what was known', async () => {
    facts.invalidateCaller(alice);
    assert.deepEqual(await facts.visibleRepositories(alice), ['priv/a', 'pub/a']);
    assert.equal((await facts.factsFor(alice, 'priv/a')).callerMapped, true);
  });

  it('after "everything changed" the old snapshot and mappings keep answering', async () => {
    facts.invalidateAll();
    assert.deepEqual(await facts.visibleRepositories(alice), ['priv/a', 'pub/a']);
    assert.deepEqual(await facts.visibleRepositories({ kind: 'anonymous', withToken: false }), ['pub/a']);
  });

  it('a caller never loaded still needs the database', async () => {
    await assert.rejects(facts.visibleRepositories({ kind: 'user', username: 'bob', provider: 'katello' }));
  });
});

describe('AccessFactsCache: a change notice that lands while mappings load', () => {
  let dir: string;
  let database: OpenDatabase;
  let facts: AccessFactsCache;

  before(async () => {
    ({ dir, database, facts } = await factsOverSqlite(new Map([['priv/a', true]])));
    await facts.visibleRepositories({ kind: 'anonymous', withToken: false });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('the mappings it loaded still answer once the database is gone', async () => {
    const loading = facts.factsFor(alice, 'priv/a');
    // Our own login's notice, arriving over the change feed while the load is under way.
    facts.invalidateCaller(alice);
    assert.equal((await loading).callerMapped, true);
    await database.close();
    assert.equal((await facts.factsFor(alice, 'priv/a')).callerMapped, true);
  });
});
