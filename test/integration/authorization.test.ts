/**
 * Who may see what, end to end: the real registry, real skopeo, the fake Katello, and the
 * gateway on a SQLite file. Logins, private pulls, non-disclosure, catalog and search per caller,
 * upstream call counts, upstream down, and a restart that keeps tokens.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startFakeKatello, type FakeKatello } from '../fake-katello/fake-katello.js';
import { httpRequest, type HttpResponse } from './harness/http-client.js';
import { startRegistry, type RunningRegistry } from './harness/registry.js';
import { seedRegistry, type SeedData } from './harness/seed.js';
import { dockerReference, runSkopeo, skopeoCopyToDir, skopeoInspect, verifyDirCopy } from './harness/skopeo.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { startPostgres, type RunningPostgres } from '../support/postgres.js';

const PUBLIC = 'library/alpine-ish';
const ALICE_REPO = 'org/team/app';
const BOB_REPO = 'multi/arch';
const MISSING = 'no/such/repo';

interface TokenBody {
  token: string;
  access_token: string;
  expires_in: number;
  issued_at: string;
}

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

function json<T>(response: HttpResponse): T {
  return JSON.parse(response.body.toString('utf8')) as T;
}

/** Status, body and headers that a caller can see, minus what differs per response by nature. */
function visible(response: HttpResponse): unknown {
  const anyName = (text: string) => text.replaceAll(/no\/such\/repo|org\/team\/app|multi\/arch/g, 'NAME');
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(response.headers)) {
    if (name !== 'date' && name !== 'keep-alive' && name !== 'connection') headers[name] = anyName(String(value));
  }
  return { status: response.status, headers, body: anyName(response.body.toString('utf8')) };
}

for (const database of ['sqlite', 'postgres'] as const) describe(`who may see what (${database})`, () => {
  let postgres: RunningPostgres | undefined;
  let databaseUrl: string | undefined;
  let registry: RunningRegistry;
  let seed: SeedData;
  let katello: FakeKatello;
  let gateway: RunningGateway;
  let workDir: string;
  let dataDir: string;

  const login = async (user: string, password: string, query = '?service=gateway&scope=repository:org/team/app:pull') =>
    httpRequest(`${gateway.url}/v2/token${query}`, { headers: { authorization: basic(user, password) } });
  const tokenFor = async (user: string, password: string) => {
    const response = await login(user, password);
    assert.equal(response.status, 200, response.body.toString());
    return json<TokenBody>(response).token;
  };
  const get = (path: string, token?: string, method = 'GET') =>
    httpRequest(`${gateway.url}${path}`, { method, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });

  before(async () => {
    workDir = mkdtempSync(join(tmpdir(), 'cg-authz-'));
    dataDir = mkdtempSync(join(tmpdir(), 'cg-authz-data-'));
    registry = await startRegistry();
    seed = await seedRegistry(registry.url, workDir);
    katello = await startFakeKatello({
      users: {
        alice: { password: 'alice-password', repositories: [ALICE_REPO, PUBLIC] },
        bob: { password: 'bob-password', repositories: [BOB_REPO] },
      },
    });
    if (database === 'postgres') {
      postgres = await startPostgres();
      databaseUrl = postgres.createDatabase('authorization');
    }
    gateway = await startGateway({ backendUrl: registry.url, upstreamUrl: katello.url, dataDir, ...(databaseUrl === undefined ? {} : { databaseUrl }) });
    await gateway.publish([
      { name: PUBLIC },
      { name: 'many/tags' },
      { name: ALICE_REPO, authRequired: true },
      { name: BOB_REPO, authRequired: true },
    ]);
  });

  after(async () => {
    await gateway?.stop();
    await katello?.stop();
    await registry?.stop();
    await postgres?.stop();
    rmSync(workDir, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('skopeo login succeeds with good credentials and fails with bad ones', async () => {
    const authfile = join(workDir, 'auth-login.json');
    await runSkopeo('login', () => ['--tls-verify=false', '--authfile', authfile, '-u', 'alice', '-p', 'alice-password', gateway.host], { authfile });
    await assert.rejects(
      runSkopeo('login', () => ['--tls-verify=false', '--authfile', authfile, '-u', 'alice', '-p', 'wrong', gateway.host], { authfile }),
      /invalid username\/password|unauthorized|401/i,
    );
  });

  it('a logged-in user copies its private repository with skopeo, every blob verified', async () => {
    const dest = join(workDir, 'alice-copy');
    await skopeoCopyToDir(dockerReference(gateway.url, ALICE_REPO, 'v1'), dest, { creds: 'alice:alice-password' });
    const report = await verifyDirCopy(dest);
    assert.equal(report.manifestDigest, seed.images.app.manifest.digest);
  });

  it('a user cannot pull a private repository mapped to someone else', async () => {
    await assert.rejects(skopeoInspect(dockerReference(gateway.url, BOB_REPO, 'latest'), { creds: 'alice:alice-password', raw: true }));
    const token = await tokenFor('alice', 'alice-password');
    const response = await get(`/v2/${BOB_REPO}/manifests/latest`, token);
    assert.equal(response.status, 404);
    assert.equal(json<{ errors: Array<{ code: string }> }>(response).errors[0]?.code, 'NAME_UNKNOWN');
  });

  it('anonymous skopeo pulls public repositories and is refused private ones', async () => {
    const inspected = await skopeoInspect(dockerReference(gateway.url, PUBLIC, '1.0'), { raw: true });
    assert.equal(inspected.digest, seed.images.alpineIsh.manifest.digest);
    await assert.rejects(skopeoInspect(dockerReference(gateway.url, ALICE_REPO, 'v1'), { raw: true }));
  });

  describe('a hidden repository and a missing one look exactly the same', () => {
    const digest = `sha256:${'c'.repeat(64)}`;
    const routes = (name: string): Array<[string, string]> => [
      ['GET', `/v2/${name}/manifests/latest`],
      ['HEAD', `/v2/${name}/manifests/latest`],
      ['GET', `/v2/${name}/blobs/${digest}`],
      ['HEAD', `/v2/${name}/blobs/${digest}`],
      ['GET', `/v2/${name}/tags/list`],
      ['GET', `/v2/${name}/referrers/${digest}`],
    ];
    it('to an anonymous caller: the same 401 challenge, with and without the anonymous token', async () => {
      const anonymousToken = json<TokenBody>(await get('/v2/token')).token;
      for (const token of [undefined, anonymousToken]) {
        for (const [[method, hidden], [, missing]] of routes(ALICE_REPO).map((r, i) => [r, routes(MISSING)[i] ?? r] as const)) {
          const hiddenResponse = await get(hidden as string, token, method);
          const missingResponse = await get(missing as string, token, method);
          assert.equal(hiddenResponse.status, 401, `${method} ${hidden}`);
          assert.match(String(hiddenResponse.headers['www-authenticate']), /^Bearer realm="[^"]+\/v2\/token",service="[^"]+",scope="repository:org\/team\/app:pull"/);
          assert.deepEqual(visible(hiddenResponse), visible(missingResponse), `${method} ${hidden}`);
        }
      }
    });
    it('to a logged-in user: the same 404 NAME_UNKNOWN', async () => {
      const token = await tokenFor('bob', 'bob-password');
      for (const [[method, hidden], [, missing]] of routes(ALICE_REPO).map((r, i) => [r, routes(MISSING)[i] ?? r] as const)) {
        const hiddenResponse = await get(hidden as string, token, method);
        assert.equal(hiddenResponse.status, 404, `${method} ${hidden}`);
        assert.deepEqual(visible(hiddenResponse), visible(await get(missing as string, token, method)), `${method} ${hidden}`);
      }
    });
  });

  it('the catalog lists exactly what each caller may see, sorted and paginated', async () => {
    assert.deepEqual(json<{ repositories: string[] }>(await get('/v2/_catalog')).repositories, [PUBLIC, 'many/tags']);
    const alice = await tokenFor('alice', 'alice-password');
    assert.deepEqual(json<{ repositories: string[] }>(await get('/v2/_catalog', alice)).repositories, [PUBLIC, 'many/tags', ALICE_REPO]);
    const first = await get('/v2/_catalog?n=2', alice);
    assert.deepEqual(json<{ repositories: string[] }>(first).repositories, [PUBLIC, 'many/tags']);
    const link = /^<([^>]+)>; rel="next"$/.exec(String(first.headers.link))?.[1];
    assert.ok(link?.startsWith('/v2/_catalog?'), String(first.headers.link));
    const second = await get(link ?? '', alice);
    assert.deepEqual(json<{ repositories: string[] }>(second).repositories, [ALICE_REPO]);
    assert.equal(second.headers.link, undefined);
  });

  it('docker search searches the same set; identity never comes from query parameters', async () => {
    const alice = await tokenFor('alice', 'alice-password');
    const names = (response: HttpResponse) => json<{ results: Array<{ name: string }> }>(response).results.map((r) => r.name);
    assert.deepEqual(names(await get('/v1/search?q=app', alice)), [ALICE_REPO]);
    assert.deepEqual(names(await get('/v1/search?q=app&user=alice&account=alice')), []);
    assert.deepEqual(json<{ repositories: string[] }>(await get('/v2/_catalog?account=alice')).repositories, [PUBLIC, 'many/tags']);
    const paged = json<{ num_results: number; num_pages: number; results: unknown[] }>(await get('/v1/search?q=a&n=1&page=2', alice));
    assert.equal(paged.results.length, 1);
    assert.equal(paged.num_pages, paged.num_results);
    const v2client = await httpRequest(`${gateway.url}/v1/search?q=app`, { headers: { 'docker-distribution-api-version': 'registry/2.0' } });
    assert.equal(v2client.status, 404);
  });

  it('a login calls upstream twice; pulls after it call upstream zero times', async () => {
    katello.resetCounts();
    const token = await tokenFor('alice', 'alice-password');
    assert.deepEqual({ ...katello.calls }, { token: 1, catalog: 1, hostCatalog: 0 });
    const tokenRequest = katello.requests.find((r) => r.kind === 'token');
    assert.equal(tokenRequest?.query.account, 'alice');
    // Never the client's scope: Katello answers "unauthenticated" for a public one, whatever the password.
    assert.equal(tokenRequest?.query.scope, undefined);
    for (const path of ['/v2/', `/v2/${ALICE_REPO}/manifests/v1`, `/v2/${ALICE_REPO}/tags/list`, '/v2/_catalog', '/v1/search?q=a']) {
      assert.equal((await get(path, token)).status, path.includes('manifests') ? 404 : 200, path);
    }
    await skopeoInspect(dockerReference(gateway.url, ALICE_REPO, 'v1'), { creds: 'alice:alice-password', raw: true });
    assert.deepEqual({ ...katello.calls }, { token: 2, catalog: 2, hostCatalog: 0 }, 'only skopeo\'s own login reaches upstream');
  });

  it('the token answer suits every client: token = access_token, expires_in >= 60, RFC 3339 issued_at', async () => {
    const response = await login('alice', 'alice-password', '?scope=repository:127.0.0.1:5000/org/team/app:pull&scope=repository:library/alpine-ish:pull');
    const body = json<TokenBody>(response);
    assert.equal(body.token, body.access_token);
    assert.ok(body.expires_in >= 60);
    assert.match(body.issued_at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/);
    assert.deepEqual(katello.requests.filter((r) => r.kind === 'token').at(-1)?.query, { account: 'alice' });
  });

  it('containerd\'s OAuth2 POST form logs in; its failures are 400/401, never 415 or 500', async () => {
    const post = (body: string, type = 'application/x-www-form-urlencoded') =>
      httpRequest(`${gateway.url}/v2/token`, { method: 'POST', headers: { 'content-type': type }, body });
    const ok = await post('grant_type=password&username=alice&password=alice-password&service=gw&scope=repository%3Aorg%2Fteam%2Fapp%3Apull&client_id=containerd');
    assert.equal(ok.status, 200);
    const body = json<TokenBody>(ok);
    assert.equal((await get(`/v2/${ALICE_REPO}/tags/list`, body.access_token)).status, 200);
    assert.equal((await post('grant_type=password&username=alice&password=nope')).status, 401);
    assert.equal((await post('grant_type=refresh_token&refresh_token=x')).status, 400);
    assert.equal((await post('{"a":1}', 'application/json')).status, 400);
  });

  it('Katello\'s "unauthorized" token string is a 401 login, never a token; the string itself is only an anonymous bearer', async () => {
    katello.setOptions({ badPasswordStyle: 'unauthorized-token' });
    try {
      const response = await login('alice', 'wrong');
      assert.equal(response.status, 401);
      assert.doesNotMatch(response.body.toString(), /"token"/);
      // As smart_proxy_container_gateway (test_pingv2_unauthorized_token): the base answers, private content does not.
      assert.equal((await get('/v2/', 'unauthorized')).status, 200);
      assert.equal((await get(`/v2/${ALICE_REPO}/tags/list`, 'unauthorized')).status, 401);
      assert.equal((await get(`/v2/${PUBLIC}/tags/list`, 'unauthorized')).status, 200);
    } finally {
      katello.setOptions({ badPasswordStyle: '401' });
    }
  });

  it('malformed credentials and tokens are clean 4xx or anonymous, never a 500', async () => {
    assert.equal((await httpRequest(`${gateway.url}/v2/token`, { headers: { authorization: 'Basic !!!notbase64' } })).status, 400);
    assert.equal((await httpRequest(`${gateway.url}/v2/token`, { headers: { authorization: `Basic ${Buffer.from('nocolon').toString('base64')}` } })).status, 400);
    assert.equal((await httpRequest(`${gateway.url}/v2/token?scope=nonsense`)).status, 400);
    for (const token of ['garbage', 'anon.99999999999.forged', 'anon.1.x', `${'x'.repeat(9000)}`]) {
      assert.equal((await get('/v2/', token)).status, 401);
      assert.equal((await get(`/v2/${PUBLIC}/tags/list`, token)).status, 200);
    }
  });

  it('with upstream down: public pulls and existing tokens keep working, new logins fail cleanly', async () => {
    const token = await tokenFor('alice', 'alice-password');
    await katello.setMode('down-refuse');
    try {
      assert.equal((await get(`/v2/${ALICE_REPO}/tags/list`, token)).status, 200);
      await skopeoInspect(dockerReference(gateway.url, PUBLIC, '1.0'), { raw: true });
      const failed = await login('alice', 'alice-password');
      assert.equal(failed.status, 503);
      assert.equal(json<{ errors: Array<{ code: string }> }>(failed).errors[0]?.code, 'UPSTREAM_UNAVAILABLE');
      await katello.setMode('error-500');
      assert.equal((await login('alice', 'alice-password')).status, 502);
    } finally {
      await katello.setMode('up');
    }
  });

  it('after a restart, tokens issued before still work (the cache is the database)', async () => {
    const token = await tokenFor('alice', 'alice-password');
    await gateway.stop();
    gateway = await startGateway({ backendUrl: registry.url, upstreamUrl: katello.url, dataDir, ...(databaseUrl === undefined ? {} : { databaseUrl }) });
    katello.resetCounts();
    assert.equal((await get(`/v2/${ALICE_REPO}/tags/list`, token)).status, 200);
    assert.deepEqual(json<{ repositories: string[] }>(await get('/v2/_catalog', token)).repositories, [PUBLIC, 'many/tags', ALICE_REPO]);
    assert.equal(katello.calls.token + katello.calls.catalog, 0);
  });

  it('a repository_list push keeps the mappings of repositories that stay', async () => {
    const token = await tokenFor('alice', 'alice-password');
    await gateway.publish([{ name: PUBLIC }, { name: ALICE_REPO, authRequired: true }]);
    assert.equal((await get(`/v2/${ALICE_REPO}/tags/list`, token)).status, 200);
    await gateway.publish([{ name: PUBLIC }]);
    assert.equal((await get(`/v2/${ALICE_REPO}/tags/list`, token)).status, 404);
  });
});
