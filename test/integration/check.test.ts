/**
 * `container-gateway check` as an operator runs it: it must not pass what cannot work (a backend
 * that refuses the gateway, a wrong or unreachable management server, a database it cannot
 * write), it says what to do on every line, its exit code says whether the gateway would serve,
 * and it changes nothing on disk.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import bcrypt from 'bcryptjs';
import { startFakeKatello, type FakeKatello } from '../fake-katello/fake-katello.js';
import { startRegistry, type RunningRegistry } from './harness/registry.js';
import { generateTestPki, type TestPki } from '../support/pki.js';
import { startScriptedBackend, type ScriptedBackend } from '../support/scripted-backend.js';
import SqliteDatabase from 'better-sqlite3';

const CLI = join(process.cwd(), 'dist', 'cli.js');
/** Debian's nobody: a user without root's power to write anywhere. */
const NOBODY = { uid: 65534, gid: 65534 };

/** Runs `check` in its own process, asynchronously: the fake servers it probes live in this one. */
function check(env: Record<string, string>, options: { asNobody?: boolean; cwd?: string } = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, 'check'],
      {
        env: { PATH: process.env.PATH ?? '', CG_CONFIG: '/dev/null', ...env },
        encoding: 'utf8',
        timeout: 60_000,
        ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
        ...(options.asNobody === true ? NOBODY : {}),
      },
      (error, stdout, stderr) => resolve({ status: error === null ? 0 : typeof error.code === 'number' ? error.code : null, stdout, stderr }),
    );
  });
}

/** Every path under `dir` with what a write would change (mode, size, modification time, inode); not the access time. */
function snapshot(dir: string): Map<string, string> {
  const entries = new Map<string, string>();
  const walk = (path: string): void => {
    const stats = lstatSync(path);
    entries.set(path, `${stats.mode}:${stats.size}:${stats.mtimeMs}:${stats.ino}`);
    if (stats.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name));
  };
  walk(dir);
  return entries;
}

describe('check tells the truth', () => {
  let dir: string;
  let registry: RunningRegistry;
  let lockedRegistry: RunningRegistry;
  let katello: FakeKatello;
  let pki: TestPki;
  const plain = () => ({ CG_BACKEND_URL: registry.url, CG_DATABASE_URL: `sqlite://${join(dir, 'plain', 'gateway.db')}`, CG_MANAGEMENT_TOKENS: 'check-management-secret-0123456789', CG_UPSTREAM_URL: katello.url });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cg-check-'));
    chmodSync(dir, 0o755);
    const users = join(dir, 'registry.htpasswd');
    writeFileSync(users, `robot:${bcrypt.hashSync('robot-secret', 5)}\n`);
    [registry, lockedRegistry, katello, pki] = await Promise.all([
      startRegistry(),
      // What Debian's packaged configuration does: htpasswd auth on every request.
      startRegistry({ auth: { htpasswd: { realm: 'Registry Realm', path: users } } }),
      startFakeKatello({ users: {} }),
      generateTestPki(join(dir, 'pki')),
    ]);
  });
  after(async () => {
    await Promise.all([registry?.stop(), lockedRegistry?.stop(), katello?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('a complete configuration passes; a database not yet created is a warning that says it will be created, exit 0', async () => {
    const result = await check(plain());
    assert.equal(result.status, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /warn database\s+sqlite .*\/plain\/gateway\.db does not exist yet: serve \(or migrate\) will create it/);
    assert.match(result.stdout, /ok\s+backend\s+http:\/\/127\.0\.0\.1:\d+ answers \/v2\/ \(200/);
    assert.match(result.stdout, /ok\s+upstream\s+.*\/v2\/token answers with a token/);
    assert.match(result.stdout, /the gateway would serve; read the 1 warning\(s\) above\n$/);
  });

  it('a backend that answers 401 while backend.auth is not set: FAIL, every pull would fail, exit 1', async () => {
    const result = await check({ ...plain(), CG_BACKEND_URL: lockedRegistry.url });
    assert.equal(result.status, 1);
    assert.match(result.stdout, /FAIL backend\s+http:\/\/127\.0\.0\.1:\d+ refuses the gateway: \/v2\/ answered 401 \(Basic challenge\) and backend\.auth is not set, so every pull would fail with 502\. Fix: set backend\.auth/);
    assert.match(result.stdout, /the gateway would NOT serve as configured: 1 problem\(s\) above\n$/);
  });

  it('backend.auth is tried: a wrong password FAILs, the right one passes', async () => {
    const wrong = await check({ ...plain(), CG_BACKEND_URL: lockedRegistry.url, CG_BACKEND_AUTH_USERNAME: 'robot', CG_BACKEND_AUTH_PASSWORD: 'not-it' });
    assert.equal(wrong.status, 1);
    assert.match(wrong.stdout, /FAIL backend\s+.* refuses backend\.auth \(robot\): \/v2\/ answered 401/);
    const right = await check({ ...plain(), CG_BACKEND_URL: lockedRegistry.url, CG_BACKEND_AUTH_USERNAME: 'robot', CG_BACKEND_AUTH_PASSWORD: 'robot-secret' });
    assert.equal(right.status, 0, right.stdout);
    assert.match(right.stdout, /ok\s+backend\s+.* answers \/v2\/ with backend\.auth \(robot\): 200/);
  });

  it('an unreachable backend: FAIL naming what to do', async () => {
    const result = await check({ ...plain(), CG_BACKEND_URL: 'http://127.0.0.1:1' });
    assert.equal(result.status, 1);
    assert.match(result.stdout, /FAIL backend\s+http:\/\/127\.0\.0\.1:1 refuses connections \(nothing listens there\)\. Fix: start it, or correct backend\.url/);
  });

  describe('the management server', () => {
    let loginPage: ScriptedBackend;
    let tlsKatello: Server;
    let tlsUrl: string;
    before(async () => {
      loginPage = await startScriptedBackend((_request, response) => {
        response.writeHead(302, { location: '/users/login' }).end();
      });
      tlsKatello = createServer({ cert: readFileSync(pki.server.cert), key: readFileSync(pki.server.key) }, (_request, response) => {
        response.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"unauthenticated"}');
      });
      await new Promise<void>((resolve) => tlsKatello.listen(0, '127.0.0.1', resolve));
      const address = tlsKatello.address();
      tlsUrl = `https://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
    });
    after(async () => {
      await loginPage?.close();
      tlsKatello?.closeAllConnections();
      await new Promise<void>((resolve) => tlsKatello?.close(() => resolve()));
    });

    it('a URL that is not a registry token endpoint (404): FAIL, every login would fail', async () => {
      const result = await check({ ...plain(), CG_UPSTREAM_URL: registry.url });
      assert.equal(result.status, 1);
      assert.match(result.stdout, /FAIL upstream\s+http:\/\/127\.0\.0\.1:\d+\/v2\/token does not exist \(404\), so every login would fail\. Fix: upstream\.url must be/);
    });

    it('a redirect to a login page: FAIL', async () => {
      const result = await check({ ...plain(), CG_UPSTREAM_URL: loginPage.url });
      assert.equal(result.status, 1);
      assert.match(result.stdout, /FAIL upstream\s+.*redirects \(302\) to \/users\/login/);
    });

    it('unreachable: FAIL', async () => {
      const result = await check({ ...plain(), CG_UPSTREAM_URL: 'http://127.0.0.1:1' });
      assert.equal(result.status, 1);
      assert.match(result.stdout, /FAIL upstream\s+http:\/\/127\.0\.0\.1:1 refuses connections .*every Katello login would fail\. Fix: start it, or correct upstream\.url/);
    });

    it('HTTPS signed by a CA the gateway was not given: FAIL naming upstream.tls.ca; with it: ok', async () => {
      const untrusted = await check({ ...plain(), CG_UPSTREAM_URL: tlsUrl });
      assert.equal(untrusted.status, 1);
      assert.match(untrusted.stdout, /FAIL upstream\s+https:\/\/127\.0\.0\.1:\d+: its TLS certificate is not trusted \(\w+\).*Fix: set upstream\.tls\.ca/);
      const trusted = await check({ ...plain(), CG_UPSTREAM_URL: tlsUrl, CG_UPSTREAM_TLS_CA: pki.ca.cert });
      assert.match(trusted.stdout, /ok\s+upstream\s+https:.*answers with a token/);
    });

    it('none configured while katello is the only provider: warnings that nobody can log in, exit 0', async () => {
      const { CG_UPSTREAM_URL: _unused, ...withoutUpstream } = plain();
      const result = await check(withoutUpstream);
      assert.equal(result.status, 0, result.stdout);
      assert.match(result.stdout, /warn logins\s+nobody can log in \(katello needs upstream\.url/);
      assert.match(result.stdout, /warn upstream\s+not configured \(upstream\.url\): Katello logins answer 503 "not configured"/);
    });
  });

  it('certificates: one expiring within 30 days is a warning saying to renew it; an expired one FAILs', async () => {
    const result = await check({ ...plain(), CG_SERVER_TLS_CERT: pki.server.cert, CG_SERVER_TLS_KEY: pki.server.key, CG_UPSTREAM_TLS_CA: pki.ca.cert });
    // The test PKI's certificates live 30 days: under the warning threshold from their first day.
    assert.match(result.stdout, /warn tls\s+server\.tls\.cert: .*\(\d+ days left\)\. Fix: renew the certificate in server\.tls\.cert \(SIGHUP .*\) before then/);
    assert.equal(result.status, 0, result.stdout);
    const expired = await check({ ...plain(), CG_BACKEND_TLS_CERT: pki.expired.cert, CG_BACKEND_TLS_KEY: pki.expired.key });
    assert.match(expired.stdout, /FAIL tls\s+backend\.tls\.cert: .*\(not valid now\)\. Fix: replace the file named by backend\.tls\.cert/);
    assert.equal(expired.status, 1);
  });

  it('a data directory the gateway user cannot write: FAIL with the path and the chown that fixes it', async () => {
    const locked = join(dir, 'locked');
    mkdirSync(locked, { mode: 0o755 });
    const result = await check({ ...plain(), CG_DATABASE_URL: `sqlite://${join(locked, 'data', 'gateway.db')}` }, { asNobody: true, cwd: dir });
    assert.equal(result.status, 1, result.stdout + result.stderr);
    assert.match(
      result.stdout,
      new RegExp(`FAIL database\\s+sqlite ${locked}/data/gateway\\.db does not exist and cannot be created: ${locked} is not writable by uid 65534 \\(nobody\\) \\(EACCES\\)\\. Fix: create ${locked}/data for the gateway's user \\(mkdir -p ${locked}/data && chown 65534 ${locked}/data\\)`),
    );
  });

  it('a database others may read that belongs to another user: FAIL as the gateway user, who could not make it private; check and serve alike', async () => {
    // A place nobody may reach (the test's own directory is root's, 0700).
    const shared = mkdtempSync(join(tmpdir(), 'cg-check-shared-'));
    chmodSync(shared, 0o777);
    // Not the database's own directory (it holds something else): only the files are the gateway's to tighten.
    writeFileSync(join(shared, 'README'), 'shared\n');
    const file = join(shared, 'gateway.db');
    const migrated = spawnSync(process.execPath, [CLI, 'migrate'], { env: { PATH: process.env.PATH ?? '', CG_CONFIG: '/dev/null', CG_DATABASE_URL: `sqlite://${file}` }, encoding: 'utf8' });
    assert.equal(migrated.status, 0, migrated.stderr);
    // Root's file, writable by everyone (so SQLite could open it), readable by everyone.
    chmodSync(file, 0o666);
    const env = { ...plain(), CG_DATABASE_URL: `sqlite://${file}` };
    const result = await check(env, { asNobody: true, cwd: dir });
    assert.equal(result.status, 1, result.stdout + result.stderr);
    assert.match(result.stdout, new RegExp(`FAIL database\\s+sqlite ${file} may be read by other local users \\(mode 666, owned by uid 0\\) and only its owner may change that; ${file} holds the gateway's token signing keys`));
    assert.match(result.stdout, new RegExp(`Fix: give it to the gateway's user \\(chown 65534 ${file}\\) or make it private \\(chmod 600 ${file}\\)`));
    const served = spawnSync(process.execPath, [CLI, 'serve'], { env: { PATH: process.env.PATH ?? '', CG_CONFIG: '/dev/null', ...env }, encoding: 'utf8', cwd: dir, ...NOBODY, timeout: 30_000 });
    assert.notEqual(served.status, 0, served.stderr);
    assert.match(served.stderr, /cannot start here:\n {2}database: .* may be read by other local users/);
    assert.equal(statSync(file).mode & 0o777, 0o666, 'nothing was changed');
    rmSync(shared, { recursive: true, force: true });
  });

  it('a file that is not a SQLite database: FAIL', async () => {
    const file = join(dir, 'not-a-database.db');
    writeFileSync(file, 'this is a text file, not a database, and long enough to have a header'.repeat(3));
    const result = await check({ ...plain(), CG_DATABASE_URL: `sqlite://${file}` });
    assert.equal(result.status, 1);
    assert.match(result.stdout, /FAIL database\s+sqlite .*not-a-database\.db: .*not a database/);
  });

  it('a blob cache directory that holds other files: FAIL before serve would refuse it; its own directory: ok', async () => {
    const shared = join(dir, 'shared-cache');
    mkdirSync(shared);
    writeFileSync(join(shared, 'notes.txt'), 'not the cache');
    const refused = await check({ ...plain(), CG_BACKEND_BLOB_CACHE_PATH: shared, CG_BACKEND_BLOB_CACHE_MAX_BYTES: '1048576' });
    assert.equal(refused.status, 1);
    assert.match(refused.stdout, /FAIL blob cache\s+.*shared-cache holds other files \(notes\.txt\)/);
    const own = await check({ ...plain(), CG_BACKEND_BLOB_CACHE_PATH: join(dir, 'own-cache'), CG_BACKEND_BLOB_CACHE_MAX_BYTES: '1048576' });
    assert.match(own.stdout, /ok\s+blob cache\s+.*own-cache, up to 1048576 bytes/);
    assert.equal(existsSync(join(dir, 'own-cache')), false, 'check created the cache directory');
  });

  it('changes nothing on disk: no database, directory, journal or audit file appears, and an existing database is not touched', async () => {
    const site = join(dir, 'site');
    mkdirSync(site);
    const env = { ...plain(), CG_DATABASE_URL: `sqlite://${join(site, 'data', 'gateway.db')}`, CG_AUDIT_DESTINATION: join(site, 'log', 'audit.log') };
    const empty = snapshot(site);
    const fresh = await check(env, { cwd: site });
    // It ran through (a crash would change nothing too) and said what serve would create.
    assert.match(fresh.stdout, /warn\s+database\s+sqlite .*does not exist yet/);
    assert.deepEqual(snapshot(site), empty, 'check on a fresh site created something');

    // An existing database, closed cleanly by migrate: no -wal or -shm file may appear, nothing may change.
    const migrated = spawnSync(process.execPath, [CLI, 'migrate'], { env: { PATH: process.env.PATH ?? '', CG_CONFIG: '/dev/null', ...env }, encoding: 'utf8' });
    assert.equal(migrated.status, 0, migrated.stderr);
    const before = snapshot(site);
    const result = await check(env, { cwd: site });
    assert.match(result.stdout, /ok\s+database\s+sqlite .*schema up to date/);
    assert.deepEqual(snapshot(site), before, 'check changed the site');
  });

  it('a database a newer version migrated: FAIL naming that migration, where serve would refuse to start', async () => {
    const file = join(dir, 'newer', 'gateway.db');
    const env = { ...plain(), CG_DATABASE_URL: `sqlite://${file}` };
    const migrated = spawnSync(process.execPath, [CLI, 'migrate'], { env: { PATH: process.env.PATH ?? '', CG_CONFIG: '/dev/null', ...env }, encoding: 'utf8' });
    assert.equal(migrated.status, 0, migrated.stderr);
    const database = new SqliteDatabase(file);
    database.prepare("INSERT INTO kysely_migration (name, timestamp) VALUES ('2099-01-01-001-from-the-future', '2099-01-01T00:00:00.000Z')").run();
    database.close();
    const result = await check(env);
    assert.equal(result.status, 1);
    assert.match(result.stdout, /FAIL database\s+sqlite .* was migrated by a newer version of the gateway \(2099-01-01-001-from-the-future\); this one refuses to start on it\. Fix: /);
    const served = spawnSync(process.execPath, [CLI, 'migrate'], { env: { PATH: process.env.PATH ?? '', CG_CONFIG: '/dev/null', ...env }, encoding: 'utf8' });
    assert.notEqual(served.status, 0, 'migrate (as serve) refuses it too');
  });
});
