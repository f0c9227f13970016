/**
 * Taking over a running smart_proxy_container_gateway: `container-gateway import-kcg` (the built
 * CLI, as an operator runs it) reads KCG's settings file and its database — SQLite and PostgreSQL,
 * built with KCG's own migrations (test/support/kcg-database.ts) — and the gateway then serves the
 * same users and hosts: a token KCG had issued pulls alice's private image from the real registry,
 * an expired one does not, the host keeps its mapping. Running it twice changes nothing; a
 * database that is not KCG's is refused with one clear line.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startGateway } from '../support/gateway.js';
import { buildKcgPostgres, buildKcgSqlite, type KcgContent } from '../support/kcg-database.js';
import { generateTestPki, type TestPki } from '../support/pki.js';
import { postgresAvailable, startPostgres, type RunningPostgres } from '../support/postgres.js';
import { httpRequest } from './harness/http-client.js';
import { startRegistry, type RunningRegistry } from './harness/registry.js';
import { seedRegistry } from './harness/seed.js';
import { runSkopeo } from './harness/skopeo.js';

const CLI = join(process.cwd(), 'dist', 'cli.js');
const HOST = '4b4c1e2a-1d5e-4f3a-9b6c-0a1b2c3d4e5f';

function importKcg(args: string[], env: Record<string, string>) {
  return spawnSync(process.execPath, [CLI, 'import-kcg', ...args], { env: { PATH: process.env.PATH ?? '', CG_CONFIG: '/dev/null', CG_LOG_LEVEL: 'silent', ...env }, encoding: 'utf8', timeout: 60_000 });
}

const CONTENT: KcgContent = {
  repositories: [
    { name: 'library/alpine-ish', authRequired: false },
    { name: 'org/team/app', authRequired: true },
    { name: 'multi/arch', authRequired: true },
    { name: 'Not A Valid/Name', authRequired: true },
  ],
  users: { alice: ['org/team/app'], bob: [] },
  hosts: { [HOST]: ['multi/arch'] },
  tokens: [
    { user: 'alice', token: 'kcg-issued-token-for-alice-0123456789', expiresAt: new Date(Date.now() + 3_600_000) },
    { user: 'alice', token: 'kcg-issued-token-expired-0123456789', expiresAt: new Date(Date.now() - 3_600_000) },
  ],
};

describe('import-kcg', () => {
  let dir: string;
  let registry: RunningRegistry;
  let postgres: RunningPostgres | undefined;
  let pki: TestPki;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cg-import-kcg-'));
    registry = await startRegistry();
    await seedRegistry(registry.url, join(dir, 'seed'));
    pki = await generateTestPki(join(dir, 'pki'));
    if (postgresAvailable()) postgres = await startPostgres();
  });
  after(async () => {
    await postgres?.stop();
    await registry?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  for (const kind of ['sqlite', 'postgres'] as const) {
    it(`takes over a KCG ${kind} database: its tokens keep working, twice is the same as once`, { skip: kind === 'postgres' && !postgresAvailable() ? 'PostgreSQL is not installed' : false }, async () => {
      const site = join(dir, kind);
      const kcgUrl = kind === 'sqlite' ? `sqlite://${join(dir, 'kcg.db')}` : (postgres as RunningPostgres).createDatabase('container_gateway');
      if (kind === 'sqlite') await buildKcgSqlite(join(dir, 'kcg.db'), CONTENT);
      else await buildKcgPostgres(kcgUrl, CONTENT);
      const settings = join(dir, `container_gateway-${kind}.yml`);
      writeFileSync(
        settings,
        [
          '---',
          ':enabled: true',
          ":pulp_endpoint: 'https://capsule.example.test'",
          `:pulp_client_ssl_ca: '${pki.ca.cert}'`,
          ":client_endpoint: 'https://capsule-lb.example.test'",
          kind === 'sqlite' ? `:sqlite_db_path: '${join(dir, 'kcg.db')}'` : `:db_connection_string: ${kcgUrl}`,
          '',
        ].join('\n'),
      );
      const gatewayDb = `sqlite://${join(site, 'gateway.db')}`;
      const env = { CG_DATABASE_URL: gatewayDb };
      const first = importKcg(['--settings', settings, '--proxy-settings', join(dir, 'none.yml')], env);
      assert.equal(first.status, 0, first.stderr);
      assert.match(first.stdout, /smart_proxy_container_gateway schema 5/);
      assert.match(first.stdout, /repositories: 3 \(2 private; 3 new/);
      assert.match(first.stdout, /users: 2 with 1 repository mappings/);
      assert.match(first.stdout, /hosts: 1 with 1 repository mappings/);
      assert.match(first.stdout, /tokens: 1 unexpired tokens keep working/);
      assert.match(first.stdout, /skipped: 1 invalid repository names, 0 invalid host UUIDs, 1 expired tokens/);
      // The configuration that does what KCG did: Pulp under /pulpcore_registry, the load balancer for redirects.
      assert.match(first.stdout, /url: https:\/\/capsule\.example\.test\/pulpcore_registry/);
      assert.match(first.stdout, /clientUrl: https:\/\/capsule-lb\.example\.test/);

      const second = importKcg(['--settings', settings, '--proxy-settings', join(dir, 'none.yml')], env);
      assert.equal(second.status, 0, second.stderr);
      assert.match(second.stdout, /repositories: 3 \(2 private; 0 new, 0 removed, 0 changed\)/);

      const gateway = await startGateway({ backendUrl: registry.url, dataDir: site, env: { CG_SERVER_TRUSTED_PROXIES: '127.0.0.1', CG_SERVER_PROXY_CLIENT_CA: pki.ca.cert } });
      try {
        const token = CONTENT.tokens[0]?.token ?? '';
        await runSkopeo('inspect', ({ authfile }) => ['--raw', '--tls-verify=false', '--authfile', authfile, '--registry-token', token, `docker://${gateway.host}/org/team/app:v1`]);
        const expired = await httpRequest(`${gateway.url}/v2/org/team/app/tags/list`, { headers: { authorization: `Bearer ${CONTENT.tokens[1]?.token ?? ''}` } });
        assert.equal(expired.status, 401);
        const notMapped = await httpRequest(`${gateway.url}/v2/multi/arch/tags/list`, { headers: { authorization: `Bearer ${token}` } });
        assert.equal(notMapped.status, 404);
        const host = await pki.issueClient(`host-${kind}`, HOST);
        const asHost = await httpRequest(`${gateway.url}/v2/multi/arch/tags/list`, { headers: { 'x-rhsm-ssl-client-cert': encodeURIComponent(await pki.pem(host.cert)) } });
        assert.equal(asHost.status, 200, asHost.body.toString());
        const users = await gateway.management('GET', '/users');
        assert.deepEqual(JSON.parse(users.body.toString()), { users: ['alice', 'bob'] });
      } finally {
        await gateway.stop();
      }
    });
  }

  it('refuses a database that is not KCG\'s, and a missing one, with one line and nothing imported', () => {
    const own = join(dir, 'own.db');
    const migrate = spawnSync(process.execPath, [CLI, 'migrate'], { env: { PATH: process.env.PATH ?? '', CG_CONFIG: '/dev/null', CG_DATABASE_URL: `sqlite://${own}` }, encoding: 'utf8' });
    assert.equal(migrate.status, 0, migrate.stderr);
    const target = { CG_DATABASE_URL: `sqlite://${join(dir, 'untouched', 'gateway.db')}` };
    for (const [database, message] of [
      [`sqlite://${own}`, /not a smart_proxy_container_gateway database: no schema_info, authentication_tokens, repositories_users tables/],
      [`sqlite://${join(dir, 'nothing.db')}`, /no such file/],
    ] as const) {
      const refused = importKcg(['--settings', join(dir, 'none.yml'), '--database', database], target);
      assert.equal(refused.status, 1);
      assert.match(refused.stderr, message);
      assert.equal(refused.stderr.trim().split('\n').length, 1, refused.stderr);
      assert.equal(refused.stdout, '');
    }
  });
});
