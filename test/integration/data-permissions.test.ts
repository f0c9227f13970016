/**
 * The SQLite database holds the JWT signing key: the data directory is created 0700 and the
 * database files (with -wal and -shm) 0600, and an existing install with looser modes is
 * tightened at start, with a log line saying what changed. A directory that holds other files
 * too (the database configured somewhere shared) keeps its mode; the files are still tightened.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { buildApp } from '../../src/app.js';
import { openDatabase } from '../../src/store/connect.js';
import { testConfig } from '../support/config.js';

const modeOf = (path: string) => statSync(path).mode & 0o777;
const DATABASE_FILES = ['gateway.db', 'gateway.db-wal', 'gateway.db-shm'];

async function startWith(databaseFile: string) {
  const logs: Array<Record<string, unknown>> = [];
  const logStream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const app = await buildApp(testConfig({ CG_DATABASE_URL: `sqlite://${databaseFile}`, CG_BACKEND_URL: 'http://127.0.0.1:1', CG_LOG_LEVEL: 'info' }), { logStream });
  return { app, logs };
}

describe('data directory and database file permissions', () => {
  const root = mkdtempSync(join(tmpdir(), 'cg-permissions-'));
  const previousUmask = process.umask(0o022);
  after(() => {
    process.umask(previousUmask);
    rmSync(root, { recursive: true, force: true });
  });

  it('a fresh install: the data directory is 0700, the database files 0600, whatever the umask', async () => {
    const data = join(root, 'fresh', 'data');
    const { app } = await startWith(join(data, 'gateway.db'));
    try {
      assert.equal(modeOf(data).toString(8), '700');
      for (const name of DATABASE_FILES) {
        assert.ok(existsSync(join(data, name)), name);
        assert.equal(modeOf(join(data, name)).toString(8), '600', name);
      }
    } finally {
      await app.close();
    }
  });

  it('an existing install with 0755 and 0644 is tightened at start, and says so', async () => {
    const data = join(root, 'existing', 'data');
    mkdirSync(data, { recursive: true, mode: 0o755 });
    const database = await openDatabase({ url: `sqlite://${join(data, 'gateway.db')}` });
    await database.close();
    writeFileSync(join(data, 'gateway.db-wal'), '');
    writeFileSync(join(data, 'gateway.db-shm'), '');
    chmodSync(data, 0o755);
    for (const name of DATABASE_FILES) chmodSync(join(data, name), 0o644);
    const { app, logs } = await startWith(join(data, 'gateway.db'));
    try {
      assert.equal(modeOf(data).toString(8), '700');
      for (const name of DATABASE_FILES) assert.equal(modeOf(join(data, name)).toString(8), '600', name);
      const line = logs.find((entry) => Array.isArray(entry.tightened));
      assert.ok(line !== undefined, 'a log line names what was tightened');
      assert.ok((line.tightened as string[]).some((entry) => entry.includes(join(data, 'gateway.db'))), JSON.stringify(line));
    } finally {
      await app.close();
    }
  });

  it('a directory shared with other files keeps its mode; the database files are still 0600', async () => {
    const shared = join(root, 'shared');
    mkdirSync(shared, { recursive: true, mode: 0o755 });
    chmodSync(shared, 0o755);
    writeFileSync(join(shared, 'someone-elses.txt'), 'hello');
    const { app } = await startWith(join(shared, 'gateway.db'));
    try {
      assert.equal(modeOf(shared).toString(8), '755');
      assert.equal(modeOf(join(shared, 'gateway.db')).toString(8), '600');
    } finally {
      await app.close();
    }
  });
});
