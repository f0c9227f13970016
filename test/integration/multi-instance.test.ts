/**
 * A large site: several gateway instances on one PostgreSQL, several workers on one SQLite file,
 * racing writers, and the move from SQLite to PostgreSQL. Real registry, real databases, the
 * fake Katello.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startFakeKatello, type FakeKatello } from '../fake-katello/fake-katello.js';
import { MANAGEMENT_TOKEN } from '../support/config.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { startPostgres, type RunningPostgres } from '../support/postgres.js';
import { httpRequest, type HttpResponse } from './harness/http-client.js';
import { findFreePort, startRegistry, type RunningRegistry } from './harness/registry.js';
import { seedRegistry } from './harness/seed.js';

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const repositoriesOf = (response: HttpResponse) => (JSON.parse(response.body.toString()) as { repositories: string[] }).repositories;

async function within<T>(ms: number, probe: () => Promise<T>, done: (value: T) => boolean): Promise<{ value: T; elapsed: number }> {
  const started = Date.now();
  for (;;) {
    const value = await probe();
    const elapsed = Date.now() - started;
    if (done(value)) return { value, elapsed };
    if (elapsed > ms) return { value, elapsed };
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('many instances, many workers', () => {
  let postgres: RunningPostgres;
  let registry: RunningRegistry;
  let katello: FakeKatello;
  let workDir: string;

  before(async () => {
    workDir = mkdtempSync(join(tmpdir(), 'cg-multi-'));
    [postgres, registry, katello] = await Promise.all([
      startPostgres(),
      startRegistry(),
      startFakeKatello({ users: { alice: { password: 'pw', repositories: ['org/team/app'] } } }),
    ]);
    await seedRegistry(registry.url, join(workDir, 'seed'));
  });
  after(async () => {
    await Promise.all([postgres?.stop(), registry?.stop(), katello?.stop()]);
    rmSync(workDir, { recursive: true, force: true });
  });

  describe('two instances on one PostgreSQL', () => {
    let a: RunningGateway;
    let b: RunningGateway;
    before(async () => {
      const databaseUrl = postgres.createDatabase('two_instances');
      a = await startGateway({ backendUrl: registry.url, upstreamUrl: katello.url, databaseUrl });
      b = await startGateway({ backendUrl: registry.url, upstreamUrl: katello.url, databaseUrl });
    });
    after(async () => {
      await a?.stop();
      await b?.stop();
    });

    it('a management update on one is honoured by the other within a second', async () => {
      await a.publish([{ name: 'library/alpine-ish' }]);
      assert.deepEqual(repositoriesOf(await httpRequest(`${b.url}/v2/_catalog`)), ['library/alpine-ish']);
      await a.publish([{ name: 'library/alpine-ish' }, { name: 'many/tags' }]);
      const seen = await within(1_000, () => httpRequest(`${b.url}/v2/_catalog`), (r) => repositoriesOf(r).length === 2);
      assert.deepEqual(repositoriesOf(seen.value), ['library/alpine-ish', 'many/tags'], `after ${seen.elapsed} ms`);
    });

    it('a login on one is honoured by the other, including a changed mapping, within a second', async () => {
      await a.publish([{ name: 'library/alpine-ish' }, { name: 'org/team/app', authRequired: true }, { name: 'multi/arch', authRequired: true }]);
      const login = await httpRequest(`${a.url}/v2/token`, { headers: { authorization: basic('alice', 'pw') } });
      const token = (JSON.parse(login.body.toString()) as { token: string }).token;
      const asAlice = { headers: { authorization: `Bearer ${token}` } };
      assert.equal((await httpRequest(`${b.url}/v2/org/team/app/tags/list`, asAlice)).status, 200);
      assert.equal((await httpRequest(`${b.url}/v2/multi/arch/tags/list`, asAlice)).status, 404);
      katello.setUser('alice', 'pw', ['multi/arch']);
      await httpRequest(`${a.url}/v2/token`, { headers: { authorization: basic('alice', 'pw') } });
      const seen = await within(1_000, () => httpRequest(`${b.url}/v2/multi/arch/tags/list`, asAlice), (r) => r.status === 200);
      assert.equal(seen.value.status, 200, `after ${seen.elapsed} ms`);
      katello.setUser('alice', 'pw', ['org/team/app']);
    });

    it('concurrent logins of one user and management pushes racing with them all succeed, nothing half-applied', async () => {
      const names = Array.from({ length: 2_000 }, (_, i) => ({ name: `bulk/r${i}` }));
      const results = await Promise.all([
        ...Array.from({ length: 12 }, (_, i) => httpRequest(`${(i % 2 === 0 ? a : b).url}/v2/token`, { headers: { authorization: basic('alice', 'pw') } })),
        ...Array.from({ length: 4 }, (_, i) => (i % 2 === 0 ? a : b).publish([...names, { name: 'org/team/app', authRequired: true }]).then(() => ({ status: 200 }))),
      ]);
      assert.deepEqual(results.map((r) => r.status), Array(16).fill(200));
      const catalog = repositoriesOf(await httpRequest(`${b.url}/v2/_catalog?n=5000`));
      assert.equal(catalog.length, 2_000);
      const token = (JSON.parse((await httpRequest(`${a.url}/v2/token`, { headers: { authorization: basic('alice', 'pw') } })).body.toString()) as { token: string }).token;
      assert.equal((await httpRequest(`${b.url}/v2/org/team/app/tags/list`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
    });

    it('a push of 100,000 repositories while pulls continue: no failed pull', async () => {
      await a.publish([{ name: 'library/alpine-ish' }]);
      const big = [{ name: 'library/alpine-ish' }, ...Array.from({ length: 100_000 }, (_, i) => ({ name: `big/list/r${i}` }))];
      let pushing = true;
      const push = a.publish(big).finally(() => {
        pushing = false;
      });
      const statuses: number[] = [];
      while (pushing) {
        const [fromA, fromB] = await Promise.all([httpRequest(`${a.url}/v2/library/alpine-ish/manifests/1.0`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } }), httpRequest(`${b.url}/v2/library/alpine-ish/tags/list`)]);
        statuses.push(fromA.status, fromB.status);
      }
      await push;
      assert.ok(statuses.length > 0);
      assert.deepEqual([...new Set(statuses)], [200]);
    });
  });

  it('starting on an empty PostgreSQL with database.migrateFrom copies every row and renames the SQLite file', async () => {
    const dataDir = join(workDir, 'sqlite-site');
    const sqliteGateway = await startGateway({ backendUrl: registry.url, upstreamUrl: katello.url, dataDir });
    await sqliteGateway.publish([{ name: 'library/alpine-ish' }, { name: 'org/team/app', authRequired: true }]);
    await sqliteGateway.management('PUT', '/update_hosts', { hosts: [{ uuid: 'host-1' }, { uuid: 'host-2' }] });
    await sqliteGateway.management('PUT', '/host_repository_mapping', { hosts: [{ 'host-1': [{ repository: 'org/team/app' }] }] });
    const token = (JSON.parse((await httpRequest(`${sqliteGateway.url}/v2/token`, { headers: { authorization: basic('alice', 'pw') } })).body.toString()) as { token: string }).token;
    const signingCertificates = (await httpRequest(`${sqliteGateway.url}/.well-known/registry-token-certificates.pem`)).body.toString();
    await sqliteGateway.stop();

    const sqliteFile = join(dataDir, 'gateway.db');
    const databaseUrl = postgres.createDatabase('migrated');
    const pgGateway = await startGateway({ backendUrl: registry.url, upstreamUrl: katello.url, databaseUrl, env: { CG_DATABASE_MIGRATE_FROM: sqliteFile } });
    try {
      assert.ok(!existsSync(sqliteFile), 'the SQLite file is renamed');
      assert.ok(readdirSync(dataDir).some((name) => name.startsWith('gateway.db.migrated-')), 'and kept');
      katello.resetCounts();
      const asAlice = { headers: { authorization: `Bearer ${token}` } };
      assert.equal((await httpRequest(`${pgGateway.url}/v2/org/team/app/tags/list`, asAlice)).status, 200, 'tokens, users and mappings came along');
      assert.deepEqual(repositoriesOf(await httpRequest(`${pgGateway.url}/v2/_catalog`)), ['library/alpine-ish']);
      assert.deepEqual(JSON.parse((await pgGateway.management('GET', '/users')).body.toString()), { users: ['alice'] });
      assert.equal(katello.calls.token + katello.calls.catalog, 0);
      // The token signing key came along too: registries that trust it need no new certificate.
      assert.equal((await httpRequest(`${pgGateway.url}/.well-known/registry-token-certificates.pem`)).body.toString(), signingCertificates);
      // New rows get fresh ids after the copied ones (sequences moved on).
      await pgGateway.publish([{ name: 'library/alpine-ish' }, { name: 'org/team/app', authRequired: true }, { name: 'new/one' }]);
      assert.deepEqual(repositoriesOf(await httpRequest(`${pgGateway.url}/v2/_catalog`)), ['library/alpine-ish', 'new/one']);
    } finally {
      await pgGateway.stop();
    }
  });

  describe('workers on one SQLite file', () => {
    let child: ChildProcess;
    let url: string;
    let output = '';
    before(async () => {
      const port = await findFreePort();
      url = `http://127.0.0.1:${port}`;
      child = spawn(process.execPath, [join(process.cwd(), 'dist', 'cli.js'), 'serve', '--workers', '2'], {
        env: {
          PATH: process.env.PATH ?? '',
          CG_CONFIG: '/dev/null',
          CG_SERVER_LISTEN: `127.0.0.1:${port}`,
          CG_DATABASE_URL: `sqlite://${join(workDir, 'workers', 'gw.db')}`,
          CG_BACKEND_URL: registry.url,
          CG_UPSTREAM_URL: katello.url,
          CG_MANAGEMENT_TOKENS: MANAGEMENT_TOKEN,
          CG_LOG_LEVEL: 'warn',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
      await within(20_000, () => httpRequest(`${url}/v2/`).catch(() => undefined), (r) => r !== undefined);
    });
    after(async () => {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
    });
    const put = (body: unknown) =>
      httpRequest(`${url}/repository_list`, { method: 'PUT', headers: { authorization: `Bearer ${MANAGEMENT_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

    it('concurrent pulls, logins and management writes: zero errors, and every worker sees the writes', async () => {
      const list = (extra: number) => ({ repositories: [{ repository: 'library/alpine-ish', auth_required: false }, { repository: 'org/team/app', auth_required: true }, ...Array.from({ length: extra }, (_, i) => ({ repository: `w/r${i}`, auth_required: false }))] });
      assert.equal((await put(list(0))).status, 200);
      const statuses: number[] = [];
      const pullers = Array.from({ length: 6 }, async () => {
        for (let i = 0; i < 40; i += 1) statuses.push((await httpRequest(`${url}/v2/library/alpine-ish/tags/list`)).status);
      });
      const writers = (async () => {
        for (let i = 1; i <= 10; i += 1) statuses.push((await put(list(i * 100))).status);
      })();
      const logins = Array.from({ length: 6 }, async () => statuses.push((await httpRequest(`${url}/v2/token`, { headers: { authorization: basic('alice', 'pw') } })).status));
      await Promise.all([...pullers, writers, ...logins]);
      assert.deepEqual([...new Set(statuses)], [200], output.slice(-3000));
      // Both workers (requests land on either) see the last push within a second.
      for (let i = 0; i < 6; i += 1) {
        const seen = await within(1_000, () => httpRequest(`${url}/v2/_catalog?n=5000`), (r) => repositoriesOf(r).length === 1_001);
        assert.equal(repositoriesOf(seen.value).length, 1_001);
      }
    });

    it('a worker killed mid-load is replaced and the gateway keeps answering', async () => {
      const pids = new Set<number>();
      // Find the workers: the gateway does not expose pids, so ask the OS for children of the primary.
      const { execFileSync } = await import('node:child_process');
      for (const line of execFileSync('ps', ['-o', 'pid=', '--ppid', String(child.pid)], { encoding: 'utf8' }).split('\n')) if (line.trim() !== '') pids.add(Number(line.trim()));
      assert.equal(pids.size, 2);
      const victim = [...pids][0] as number;
      process.kill(victim, 'SIGKILL');
      const statuses: number[] = [];
      for (let i = 0; i < 30; i += 1) statuses.push(await httpRequest(`${url}/v2/library/alpine-ish/tags/list`).then((r) => r.status, () => 0));
      assert.equal(statuses.at(-1), 200);
      const replaced = await within(10_000, async () => execFileSync('ps', ['-o', 'pid=', '--ppid', String(child.pid)], { encoding: 'utf8' }).split('\n').filter((l) => l.trim() !== '').map(Number), (list) => list.length === 2 && !list.includes(victim));
      assert.equal(replaced.value.length, 2, 'a replacement worker runs');
      assert.deepEqual([...new Set(statuses.slice(-10))], [200]);
    });

    it('SIGTERM stops every worker and exits 0', async () => {
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    });
  });
});
