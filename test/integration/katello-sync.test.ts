/**
 * Katello drives the gateway unchanged. The gateway speaks HTTPS with a client CA, as a colocated
 * Container Gateway smart proxy does; the fake Katello (written from registry_proxies_controller.rb
 * and smart_proxy_extensions.rb) replays a whole capsule sync through `/container_gateway`, form
 * encoded byte for byte as rest-client 2.1 sends it, with Foreman's client certificate. Then the
 * real clients pull from the real registry through the gateway: skopeo and podman as a logged-in
 * user with stored credentials (public and private images, many pulls in a row — Katello answers
 * "unauthenticated" to any token request that names a public repository, which must not become a
 * failed login), and skopeo as a host by its certificate. On SQLite and on PostgreSQL.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { startFakeKatello, type FakeKatello } from '../fake-katello/fake-katello.js';
import { syncContainerGateway, type ProxyTls, type SyncCall } from '../fake-katello/katello-sync.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { generateTestPki, writeCertDir, type TestPki } from '../support/pki.js';
import { startPostgres, type RunningPostgres } from '../support/postgres.js';
import { podmanAvailable, podmanIn, preparePodmanHome } from './harness/podman.js';
import { startRegistry, type RunningRegistry } from './harness/registry.js';
import { seedRegistry, type SeedData } from './harness/seed.js';
import { runSkopeo } from './harness/skopeo.js';

const PUBLIC = 'library/alpine-ish';
const ALICES = 'org/team/app';
const HOSTS = 'multi/arch';
const NOBODYS = 'many/tags';

for (const database of ['sqlite', 'postgres'] as const) describe(`a Katello capsule sync, then pulls by users and hosts (${database})`, () => {
  let postgres: RunningPostgres | undefined;
  let dir: string;
  let pki: TestPki;
  let registry: RunningRegistry;
  let seed: SeedData;
  let katello: FakeKatello;
  let gateway: RunningGateway;
  let foreman: ProxyTls;
  let proxyUrl: string;
  let trustOnly: string;
  let asHost: string;

  const sync = () => syncContainerGateway(katello, { proxyUrl, tls: foreman });
  const ref = (repository: string, tag: string) => `docker://${gateway.host}/${repository}:${tag}`;
  const skopeoInspect = (certDir: string, reference: string, creds?: string) =>
    runSkopeo('inspect', ({ authfile }) => ['--raw', '--retry-times', '0', '--cert-dir', certDir, '--authfile', authfile, ...(creds === undefined ? [] : ['--creds', creds]), reference], { timeoutMs: 30_000 });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cg-katello-sync-'));
    pki = await generateTestPki(join(dir, 'pki'));
    registry = await startRegistry();
    seed = await seedRegistry(registry.url, join(dir, 'seed'));
    katello = await startFakeKatello({
      users: { alice: { password: 'alice-pw', repositories: [ALICES] }, bob: { password: 'bob-pw', repositories: [] } },
      hosts: { [pki.host.cn]: [HOSTS, PUBLIC] },
      publicRepositories: [PUBLIC],
    });
    katello.setUser('carol', 'carol-pw', [NOBODYS]);
    foreman = { ca: readFileSync(pki.ca.cert), cert: readFileSync(pki.katello.cert), key: readFileSync(pki.katello.key) };
    if (database === 'postgres') postgres = await startPostgres();
    gateway = await startGateway({
      backendUrl: registry.url,
      upstreamUrl: katello.url,
      ...(postgres === undefined ? {} : { databaseUrl: postgres.createDatabase('katello_sync') }),
      env: {
        CG_SERVER_TLS_CERT: pki.server.cert,
        CG_SERVER_TLS_KEY: pki.server.key,
        CG_SERVER_TLS_CLIENT_CA: pki.ca.cert,
        CG_MANAGEMENT_CLIENT_CERT_CNS: pki.katello.cn,
        // No bearer secret: Foreman's certificate is the only management credential, as on a capsule.
        CG_MANAGEMENT_TOKENS: '[]',
      },
    });
    proxyUrl = `https://${gateway.host}`;
    trustOnly = await writeCertDir(join(dir, 'certs.d', 'trust'), pki.ca.cert);
    asHost = await writeCertDir(join(dir, 'certs.d', 'host'), pki.ca.cert, pki.host);
  });

  after(async () => {
    await gateway?.stop();
    await katello?.stop();
    await registry?.stop();
    await postgres?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('takes the first sync as Katello sends it: every call 200, in Katello\'s order, form-encoded', async () => {
    const calls = await sync();
    assert.deepEqual(
      calls.map((call) => `${call.method} ${call.path} ${call.status}`),
      [
        'PUT /container_gateway/repository_list 200',
        // Nobody has logged in yet: GET /users is empty, so Katello sends no user mapping.
        'GET /container_gateway/users 200',
        'PUT /container_gateway/update_hosts 200',
        'PUT /container_gateway/host_repository_mapping 200',
      ],
      JSON.stringify(calls, null, 1),
    );
    const list = calls[0] as SyncCall;
    assert.match(list.body ?? '', /^repositories\[\]\[repository\]=library%2Falpine-ish&repositories\[\]\[auth_required\]=false&/);
    assert.deepEqual(JSON.parse(calls[1]?.answer ?? ''), { users: [] });
  });

  it('refuses a sync without Foreman\'s certificate, and changes nothing', async () => {
    const anonymous = await syncContainerGateway(katello, { proxyUrl, tls: { ca: foreman.ca, cert: readFileSync(pki.host.cert), key: readFileSync(pki.host.key) } });
    assert.ok(anonymous.every((call) => call.status === 401), JSON.stringify(anonymous));
  });

  it('logs alice in with skopeo\'s stored credentials, over and over, for public and private images: no 401, no 429', async () => {
    for (let pull = 0; pull < 20; pull += 1) {
      const repository = pull % 2 === 0 ? PUBLIC : ALICES;
      await skopeoInspect(trustOnly, ref(repository, pull % 2 === 0 ? '1.0' : 'v1'), 'alice:alice-pw');
    }
    // Katello was asked for alice's own token (account only), never with the client's scope.
    const tokenRequests = katello.requests.filter((entry) => entry.kind === 'token');
    assert.ok(tokenRequests.length >= 20);
    assert.ok(tokenRequests.every((entry) => entry.query.scope === undefined && entry.query.account === 'alice' && entry.status === 200));
    await assert.rejects(skopeoInspect(trustOnly, ref(NOBODYS, 't1'), 'alice:alice-pw'), /name unknown|denied|unauthorized/i);
  });

  it('learns alice at the next sync (GET /users) and takes her mapping', async () => {
    const calls = await sync();
    assert.deepEqual(JSON.parse(calls.find((call) => call.path.endsWith('/users'))?.answer ?? ''), { users: ['alice'] });
    const mapping = calls.find((call) => call.path.endsWith('/user_repository_mapping'));
    assert.equal(mapping?.status, 200, mapping?.answer);
    assert.match(mapping?.body ?? '', /^users\[\]\[alice\]\[\]\[repository\]=library%2Falpine-ish&users\[\]\[alice\]\[\]\[auth_required\]=false&users\[\]\[alice\]\[\]\[repository\]=org%2Fteam%2Fapp/);
    assert.ok(calls.every((call) => call.status === 200), JSON.stringify(calls));
  });

  it('lets the host pull what Katello mapped to it by its certificate, and nothing else', async () => {
    const manifest = await skopeoInspect(asHost, ref(HOSTS, 'latest'));
    assert.equal(manifest.stdout.length > 0, true);
    await skopeoInspect(asHost, ref(PUBLIC, '1.0'));
    await assert.rejects(skopeoInspect(asHost, ref(ALICES, 'v1')), /name unknown|denied|unauthorized/i);
  });

  it('shows the smart-proxy feature to Foreman\'s certificate, and nothing to anyone else', async () => {
    const agent = (client?: { cert: Buffer; key: Buffer }) => new Agent({ connect: { ca: foreman.ca, ...(client ?? {}) } });
    const asForeman = agent({ cert: foreman.cert as Buffer, key: foreman.key as Buffer });
    const stranger = agent();
    try {
      const features = await request(`${proxyUrl}/v2/features`, { dispatcher: asForeman });
      assert.equal(features.statusCode, 200);
      const body = (await features.body.json()) as Record<string, { state: string; https_enabled: boolean; capabilities: unknown[]; settings: object }>;
      assert.deepEqual(Object.keys(body), ['container_gateway']);
      assert.equal(body.container_gateway?.state, 'running');
      assert.equal(body.container_gateway?.https_enabled, true);
      const refused = await request(`${proxyUrl}/v2/features`, { dispatcher: stranger });
      assert.equal(refused.statusCode, 403);
      assert.doesNotMatch(await refused.body.text(), /container_gateway/);
      // smart-proxy's v1 /features and /version answer everyone, as smart-proxy's root_api.rb does.
      assert.deepEqual(await (await request(`${proxyUrl}/features`, { dispatcher: stranger })).body.json(), ['container_gateway']);
    } finally {
      await asForeman.close();
      await stranger.close();
    }
  });

  it('podman, logged in once, pulls public and private images again and again', { skip: podmanAvailable ? false : 'podman is not installed' }, async () => {
    // A short path of its own: podman refuses a run root longer than 50 characters.
    const home = mkdtempSync(join(tmpdir(), 'ks-'));
    preparePodmanHome(home);
    const certDir = ['--cert-dir', trustOnly];
    const podman = (args: string[]) => podmanIn(home, args);
    try {
      await podman(['login', ...certDir, '-u', 'alice', '-p', 'alice-pw', gateway.host]);
      for (let round = 0; round < 3; round += 1) {
        await podman(['pull', '-q', ...certDir, `${gateway.host}/${PUBLIC}:1.0`]);
        await podman(['pull', '-q', ...certDir, `${gateway.host}/${ALICES}:v1`]);
      }
      const digest = (await podman(['image', 'inspect', '--format', '{{.Digest}}', `${gateway.host}/${ALICES}:v1`])).stdout.toString().trim();
      assert.equal(digest, seed.images.app.manifest.digest);
    } finally {
      await podman(['system', 'reset', '--force']).catch(() => undefined);
      rmSync(home, { recursive: true, force: true });
    }
  });
});
