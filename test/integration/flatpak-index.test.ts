/**
 * The flatpak registry index (`GET /index/static`), end to end: a small node:http backend serving
 * a Pulp-style index at the configured backend.flatpakIndexPath, the fake Katello for logins, and
 * the gateway. Each caller gets the index filtered to the repositories it may see; the client's
 * query goes to the backend unchanged; the ETag is computed per caller from the filtered index;
 * a malformed backend index is a 502 OCI error, never a crash.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startFakeKatello, type FakeKatello } from '../fake-katello/fake-katello.js';
import { httpRequest, type HttpResponse } from './harness/http-client.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { generateTestPki, type TestPki } from '../support/pki.js';

const PUBLIC = 'library/alpine-ish';
const ALICE_REPO = 'org/team/app';
const HOST_REPO = 'flatpak/runtime';
const SECRET = 'secret/x';
/** In the backend's index but not in the gateway's repository list at all. */
const UNLISTED = 'not/published';
/** Katello's index path on Pulp (smart_proxy_container_gateway asks `{pulp}/pulpcore_registry/index/static`). */
const INDEX_PATH = '/pulpcore_registry/index/static';

function image(tag: string, ref: string) {
  return {
    Tags: [tag],
    Digest: `sha256:${Buffer.from(ref).toString('hex').padEnd(64, '0').slice(0, 64)}`,
    MediaType: 'application/vnd.oci.image.manifest.v1+json',
    OS: 'linux',
    Architecture: 'amd64',
    Labels: { 'org.flatpak.ref': ref, 'org.flatpak.metadata': '[Application]\nname=x\n' },
  };
}

const INDEX = {
  Registry: 'https://pulp.example.test/',
  Results: [
    { Name: ALICE_REPO, Images: [image('stable', 'app/org.team.App/x86_64/stable')] },
    { Name: PUBLIC, Images: [image('latest', 'runtime/org.alpine.Ish/x86_64/latest')] },
    { Name: SECRET, Images: [image('stable', 'app/org.secret.X/x86_64/stable')] },
    { Name: HOST_REPO, Images: [image('23.08', 'runtime/org.flatpak.Runtime/x86_64/23.08')] },
    { Name: UNLISTED, Images: [image('1', 'app/not.Published/x86_64/1')] },
  ],
};

type BackendMode = 'good' | 'not-json' | 'results-not-list' | 'array' | 'null' | 'error-500' | 'missing' | 'bad-query';

interface IndexBackend {
  readonly url: string;
  /** Path and query of every request it got. */
  readonly requests: Array<{ url: string; headers: http.IncomingHttpHeaders }>;
  mode: BackendMode;
  stop(): Promise<void>;
}

/** Serves INDEX_PATH in the chosen mode, with its own ETag (which must never reach a client). */
async function startIndexBackend(): Promise<IndexBackend> {
  const requests: IndexBackend['requests'] = [];
  const state = { mode: 'good' as BackendMode };
  const server = http.createServer((req, res) => {
    req.resume();
    requests.push({ url: req.url ?? '', headers: req.headers });
    const path = (req.url ?? '').split('?')[0];
    const send = (status: number, body: string, type = 'application/json') => {
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), etag: '"backend-etag"', 'last-modified': 'Mon, 01 Jan 2024 00:00:00 GMT' });
      res.end(body);
    };
    if (path !== INDEX_PATH || state.mode === 'missing') return send(404, JSON.stringify({ errors: [{ code: 'NOT_FOUND', message: 'no index here' }] }));
    switch (state.mode) {
      case 'good':
        return send(200, JSON.stringify(INDEX));
      case 'not-json':
        return send(200, '<html>Pulp is having a bad day</html>', 'text/html');
      case 'results-not-list':
        return send(200, JSON.stringify({ Registry: INDEX.Registry, Results: { Name: SECRET } }));
      case 'array':
        return send(200, JSON.stringify(INDEX.Results));
      case 'null':
        return send(200, 'null');
      case 'error-500':
        return send(500, JSON.stringify({ detail: 'internal error' }));
      case 'bad-query':
        return send(400, JSON.stringify({ detail: 'label:org.flatpak.ref:exists=1 is required' }));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    get mode() {
      return state.mode;
    },
    set mode(mode: BackendMode) {
      state.mode = mode;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

interface Index {
  Registry: string;
  Results: Array<{ Name: string; Images: unknown[] }>;
}

function json<T>(response: HttpResponse): T {
  return JSON.parse(response.body.toString('utf8')) as T;
}

describe('flatpak index (/index/static)', () => {
  let workDir: string;
  let backend: IndexBackend;
  let katello: FakeKatello;
  let gateway: RunningGateway;
  let pki: TestPki;
  let aliceToken: string;

  const QUERY = '?label%3Aorg.flatpak.ref%3Aexists=1&architecture=amd64&tag=stable&tag=latest';

  const index = (query = '', headers: Record<string, string> = {}) => httpRequest(`${gateway.url}/index/static${query}`, { headers });
  const asAlice = (): Record<string, string> => ({ authorization: `Bearer ${aliceToken}` });
  const names = (response: HttpResponse) => json<Index>(response).Results.map((result) => result.Name);
  const errorCode = (response: HttpResponse) => json<{ errors: Array<{ code: string }> }>(response).errors[0]?.code;

  before(async () => {
    workDir = mkdtempSync(join(tmpdir(), 'cg-flatpak-'));
    [backend, katello, pki] = await Promise.all([
      startIndexBackend(),
      startFakeKatello({ users: { alice: { password: 'alice-password', repositories: [ALICE_REPO] } } }),
      generateTestPki(join(workDir, 'pki')),
    ]);
    gateway = await startGateway({
      backendUrl: backend.url,
      upstreamUrl: katello.url,
      env: { CG_BACKEND_FLATPAK_INDEX_PATH: INDEX_PATH, CG_SERVER_TRUSTED_PROXIES: '127.0.0.1' },
    });
    await gateway.publish([
      { name: PUBLIC },
      { name: ALICE_REPO, authRequired: true },
      { name: SECRET, authRequired: true },
      { name: HOST_REPO, authRequired: true },
    ]);
    // Katello's order (sync_container_gateway): the host list, then the mappings of those hosts.
    assert.equal((await gateway.management('PUT', '/update_hosts', { hosts: [{ uuid: pki.host.cn }] })).status, 200);
    const mapping = await gateway.management('PUT', '/host_repository_mapping', { hosts: [{ [pki.host.cn]: [{ repository: HOST_REPO, auth_required: 'true' }] }] });
    assert.equal(mapping.status, 200, mapping.body.toString());
    const login = await httpRequest(`${gateway.url}/v2/token?account=alice&service=gateway`, {
      headers: { authorization: `Basic ${Buffer.from('alice:alice-password').toString('base64')}` },
    });
    assert.equal(login.status, 200, login.body.toString());
    aliceToken = json<{ token: string }>(login).token;
  });

  after(async () => {
    await gateway?.stop();
    await katello?.stop();
    await backend?.stop();
    if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
  });

  it('an anonymous caller gets only the public entries, everything else of the index intact', async () => {
    backend.mode = 'good';
    const response = await index(QUERY);
    assert.equal(response.status, 200, response.body.toString());
    assert.match(String(response.headers['content-type']), /^application\/json/);
    const body = json<Index>(response);
    assert.deepEqual(body.Results, INDEX.Results.filter((result) => result.Name === PUBLIC), 'entries are kept whole');
    assert.equal(body.Registry, `${gateway.url}/`, 'flatpak pulls through the gateway, not from the backend');
    assert.equal(response.body.includes(SECRET), false);
    assert.equal(response.body.includes('org.secret.X'), false);
  });

  it('a logged-in user gets the public entries and its own, never another caller\'s or unlisted ones', async () => {
    const response = await index(QUERY, asAlice());
    assert.equal(response.status, 200);
    assert.deepEqual(names(response).sort(), [ALICE_REPO, PUBLIC].sort());
    // Identity never comes from query parameters.
    assert.deepEqual(names(await index('?account=alice&user=alice')), [PUBLIC]);
  });

  it('a host identified by its certificate (from a trusted proxy) gets its mapped entries', async () => {
    const pem = encodeURIComponent(await pki.pem(pki.host.cert));
    const response = await index('', { 'x-rhsm-ssl-client-cert': pem });
    assert.equal(response.status, 200);
    assert.deepEqual(names(response).sort(), [HOST_REPO, PUBLIC].sort());
  });

  it('the client\'s query parameters reach the backend unchanged, at backend.flatpakIndexPath', async () => {
    backend.requests.length = 0;
    await index(QUERY);
    await index('?label%3Aorg.flatpak.ref%3Aexists=1&os=linux', asAlice());
    assert.deepEqual(
      backend.requests.map((r) => r.url),
      [`${INDEX_PATH}${QUERY}`, `${INDEX_PATH}?label%3Aorg.flatpak.ref%3Aexists=1&os=linux`],
    );
    // The caller's credentials are the gateway's business, not the backend's.
    assert.ok(backend.requests.every((r) => r.headers['x-rhsm-ssl-client-cert'] === undefined));
    assert.ok(backend.requests.every((r) => r.headers.authorization === undefined || !r.headers.authorization.includes(aliceToken)));
  });

  it('the ETag is the caller\'s own: different visibility, different ETag; never the backend\'s', async () => {
    const anonymous = await index(QUERY);
    const alice = await index(QUERY, asAlice());
    const anonymousEtag = String(anonymous.headers.etag);
    const aliceEtag = String(alice.headers.etag);
    assert.match(anonymousEtag, /^"[^"]+"$/);
    assert.match(aliceEtag, /^"[^"]+"$/);
    assert.notEqual(anonymousEtag, aliceEtag);
    assert.notEqual(anonymousEtag, '"backend-etag"');
    assert.equal(anonymous.headers['last-modified'], undefined, 'the backend\'s validators are not passed through');
    // Stable for the same caller and the same backend index.
    assert.equal((await index(QUERY)).headers.etag, anonymousEtag);
    assert.match(String(anonymous.headers['cache-control']), /private/);
  });

  it('If-None-Match: 304 for the same caller\'s ETag, a full answer for another caller\'s or the backend\'s', async () => {
    const anonymousEtag = String((await index(QUERY)).headers.etag);
    const aliceEtag = String((await index(QUERY, asAlice())).headers.etag);

    const notModified = await index(QUERY, { 'if-none-match': anonymousEtag });
    assert.equal(notModified.status, 304);
    assert.equal(notModified.body.length, 0);
    assert.equal(notModified.headers.etag, anonymousEtag);
    assert.equal((await index(QUERY, { ...asAlice(), 'if-none-match': aliceEtag })).status, 304);
    assert.equal((await index(QUERY, { ...asAlice(), 'if-none-match': `W/${aliceEtag}` })).status, 304, 'weak comparison');
    assert.equal((await index(QUERY, { ...asAlice(), 'if-none-match': `"nope", ${aliceEtag}` })).status, 304, 'a list of ETags');

    // Alice's ETag held by an anonymous caller (or the other way round) must not validate.
    const crossed = await index(QUERY, { 'if-none-match': aliceEtag });
    assert.equal(crossed.status, 200);
    assert.deepEqual(names(crossed), [PUBLIC]);
    const crossedBack = await index(QUERY, { ...asAlice(), 'if-none-match': anonymousEtag });
    assert.equal(crossedBack.status, 200);
    assert.deepEqual(names(crossedBack).sort(), [ALICE_REPO, PUBLIC].sort());
    assert.equal((await index(QUERY, { 'if-none-match': '"backend-etag"' })).status, 200);
  });

  it('when the visible set changes, the ETag changes and the old one no longer validates', async () => {
    const before = String((await index(QUERY)).headers.etag);
    await gateway.publish([
      { name: PUBLIC },
      { name: ALICE_REPO, authRequired: true },
      { name: SECRET }, // now public
      { name: HOST_REPO, authRequired: true },
    ]);
    try {
      const after = await index(QUERY, { 'if-none-match': before });
      assert.equal(after.status, 200);
      assert.deepEqual(names(after).sort(), [PUBLIC, SECRET].sort());
      assert.notEqual(after.headers.etag, before);
    } finally {
      await gateway.publish([
        { name: PUBLIC },
        { name: ALICE_REPO, authRequired: true },
        { name: SECRET, authRequired: true },
        { name: HOST_REPO, authRequired: true },
      ]);
    }
  });

  it('a malformed backend index is a 502 OCI error; the backend\'s own errors pass through as they are', async () => {
    try {
      for (const mode of ['not-json', 'results-not-list', 'array', 'null'] as const) {
        backend.mode = mode;
        const response = await index(QUERY, asAlice());
        assert.equal(response.status, 502, `${mode}: ${response.body.toString()}`);
        assert.match(String(response.headers['content-type']), /^application\/json/);
        assert.equal(errorCode(response), 'BACKEND_ERROR', mode);
        assert.equal(response.body.includes(SECRET), false);
      }
      // smart_proxy_container_gateway's test_flatpak_static_index_error_response and _server_error.
      const passedThrough: Array<[typeof backend.mode, number, string]> = [
        ['bad-query', 400, JSON.stringify({ detail: 'label:org.flatpak.ref:exists=1 is required' })],
        ['error-500', 500, JSON.stringify({ detail: 'internal error' })],
      ];
      for (const [mode, status, body] of passedThrough) {
        backend.mode = mode;
        const response = await index('');
        assert.equal(response.status, status, mode);
        assert.equal(response.body.toString(), body, mode);
      }
      backend.mode = 'missing';
      const missing = await index(QUERY);
      assert.equal(missing.status, 404);
    } finally {
      backend.mode = 'good';
    }
    const healthy = await index(QUERY, asAlice());
    assert.equal(healthy.status, 200);
    assert.deepEqual(names(healthy).sort(), [ALICE_REPO, PUBLIC].sort());
  });

  it('a backend that is down is a 502 too', async () => {
    const downGateway = await startGateway({ backendUrl: 'http://127.0.0.1:9', upstreamUrl: katello.url });
    try {
      const response = await httpRequest(`${downGateway.url}/index/static`);
      assert.equal(response.status, 502);
      assert.equal(errorCode(response), 'BACKEND_UNREACHABLE');
    } finally {
      await downGateway.stop();
    }
  });
});
