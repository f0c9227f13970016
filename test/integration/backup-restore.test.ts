/**
 * docs/backup.md's commands, run as written: SQLite's online `.backup` while the gateway serves,
 * then a restore into a fresh place; pg_dump and pg_restore for PostgreSQL. A gateway started on
 * the restored database knows the repository list, the user mappings and its signing keys.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { httpRequest } from './harness/http-client.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { postgresAvailable, startPostgres, type RunningPostgres } from '../support/postgres.js';

const has = (command: string) => spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;

/** What a restore must bring back: the signing certificates, the mapped users, the public repositories. */
async function stateOf(gateway: RunningGateway): Promise<{ certificates: string; users: string[]; catalog: string[] }> {
  const certificates = (await httpRequest(`${gateway.url}/.well-known/registry-token-certificates.pem`)).body.toString();
  const users = (JSON.parse((await gateway.management('GET', '/users')).body.toString()) as { users: string[] }).users;
  const token = (JSON.parse((await httpRequest(`${gateway.url}/v2/token?scope=registry:catalog:*`)).body.toString()) as { token: string }).token;
  const catalog = (JSON.parse((await httpRequest(`${gateway.url}/v2/_catalog`, { headers: { authorization: `Bearer ${token}` } })).body.toString()) as { repositories: string[] }).repositories;
  return { certificates, users, catalog };
}

async function fill(gateway: RunningGateway): Promise<void> {
  await gateway.publish([{ name: 'pub/a' }, { name: 'priv/b', authRequired: true }]);
  const mapped = await gateway.management('PUT', '/user_repository_mapping', { users: [{ alice: [{ repository: 'priv/b', auth_required: 'true' }] }] });
  assert.equal(mapped.status, 200);
}

describe('backup and restore as documented', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cg-backup-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('SQLite: .backup while the gateway serves, restore after removing the journal files, same state', { skip: has('sqlite3') ? false : 'sqlite3 is not installed (apt-get install -y sqlite3)' }, async () => {
    const live = join(dir, 'live');
    const restored = join(dir, 'restored');
    mkdirSync(live);
    mkdirSync(restored);
    const first = await startGateway({ backendUrl: 'http://127.0.0.1:1', dataDir: live });
    let before;
    try {
      await fill(first);
      before = await stateOf(first);
      // Online: the gateway is running, recent writes are in gateway.db-wal.
      execFileSync('sqlite3', [join(live, 'gateway.db'), `.backup '${join(dir, 'gateway-backup.db')}'`]);
    } finally {
      await first.stop();
    }
    rmSync(join(restored, 'gateway.db-wal'), { force: true });
    rmSync(join(restored, 'gateway.db-shm'), { force: true });
    copyFileSync(join(dir, 'gateway-backup.db'), join(restored, 'gateway.db'));
    const second = await startGateway({ backendUrl: 'http://127.0.0.1:1', dataDir: restored });
    try {
      assert.deepEqual(await stateOf(second), before);
      assert.deepEqual(before.users, ['alice']);
      assert.deepEqual(before.catalog, ['pub/a']);
    } finally {
      await second.stop();
    }
  });

  describe('PostgreSQL', { skip: postgresAvailable() && has('pg_dump') ? false : 'PostgreSQL is not installed (apt-get install -y postgresql)' }, () => {
    let postgres: RunningPostgres;
    before(async () => {
      postgres = await startPostgres();
    });
    after(async () => postgres?.stop());

    it('pg_dump --format=custom, pg_restore --no-owner into an empty database, same state', async () => {
      const original = postgres.createDatabase('gateway');
      const first = await startGateway({ backendUrl: 'http://127.0.0.1:1', databaseUrl: original });
      let before;
      try {
        await fill(first);
        before = await stateOf(first);
        execFileSync('pg_dump', ['--format=custom', `--file=${join(dir, 'gateway.dump')}`, original]);
      } finally {
        await first.stop();
      }
      const empty = postgres.createDatabase('gateway_restored');
      execFileSync('pg_restore', ['--no-owner', `--dbname=${empty}`, join(dir, 'gateway.dump')]);
      const second = await startGateway({ backendUrl: 'http://127.0.0.1:1', databaseUrl: empty });
      try {
        assert.deepEqual(await stateOf(second), before);
      } finally {
        await second.stop();
      }
    });
  });
});
