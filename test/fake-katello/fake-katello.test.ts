/**
 * Proves each behaviour of the fake Katello with plain HTTP (node:http through the harness client,
 * and an undici keep-alive pool where connection reuse matters).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Pool } from 'undici';
import { httpRequest, type HttpResponse } from '../integration/harness/http-client.js';
import { startFakeKatello, type FakeKatello } from './fake-katello.js';

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

function json(res: HttpResponse): Record<string, unknown> {
  return JSON.parse(res.body.toString('utf8')) as Record<string, unknown>;
}

async function get(fake: FakeKatello, pathAndQuery: string, headers: Record<string, string> = {}, timeoutMs = 5_000): Promise<HttpResponse> {
  return httpRequest(`${fake.url}${pathAndQuery}`, { headers, timeoutMs });
}

function connectionRefused(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ECONNREFUSED';
}

describe('fake Katello: token (registry_proxies_controller.rb)', () => {
  let fake: FakeKatello;
  before(async () => {
    fake = await startFakeKatello({ users: { alice: { password: 'wonderland', repositories: ['org/a', 'org/b'] } }, publicRepositories: ['lib/pub'] });
  });
  after(() => fake.stop());

  it('listens on 127.0.0.1 and reports its url and port', () => {
    assert.match(fake.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(fake.url, `http://127.0.0.1:${fake.port}`);
    assert.equal(fake.registryPath, '/v2/');
    assert.equal(fake.mode, 'up');
  });

  it('gives a user one PersonalAccessToken, reused with its expiry moved on, issued_at its creation (RFC 3339)', async () => {
    const before = Date.now();
    const first = await get(fake, '/v2/token?account=alice&scope=repository:org/a:pull&service=gw', { Authorization: basic('alice', 'wonderland') });
    const second = await get(fake, '/v2/token?account=alice', { Authorization: basic('alice', 'wonderland') });
    assert.equal(first.status, 200);
    assert.equal(second.status, 200);
    assert.equal(first.headers['docker-distribution-api-version'], 'registry/2.0');
    assert.match(String(first.headers['content-type']), /^application\/json/);
    const a = json(first);
    const b = json(second);
    assert.ok((a.token as string).length >= 32);
    assert.equal(a.token, b.token, 'the same "registry" token until revoked');
    assert.equal(a.expires_in, 3600);
    assert.equal(a.issued_at, b.issued_at);
    assert.match(String(a.issued_at), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    const issued = Date.parse(String(a.issued_at));
    assert.ok(issued >= before - 1_000 && issued <= Date.now() + 1_000, `issued_at ${String(a.issued_at)} is not now`);
    assert.deepEqual(fake.issuedTokens, [a.token]);
    fake.revokeToken('alice');
    const third = json(await get(fake, '/v2/token?account=alice', { Authorization: basic('alice', 'wonderland') }));
    assert.notEqual(third.token, a.token);
  });

  it('answers "unauthenticated" for a public scope whatever the credentials, and when neither scope nor account is asked', async () => {
    for (const [query, headers] of [
      ['?account=alice&scope=repository:lib/pub:pull', { Authorization: basic('alice', 'wonderland') }],
      ['?account=alice&scope=repository:lib/pub:pull', { Authorization: basic('alice', 'WRONG') }],
      ['?scope=repository:lib/pub:pull', {}],
      ['', { Authorization: basic('alice', 'wonderland') }],
      ['', {}],
    ] as const) {
      const res = await get(fake, `/v2/token${query}`, headers);
      assert.equal(res.status, 200, query);
      const body = json(res);
      assert.equal(body.token, 'unauthenticated', query);
      assert.equal(body.expires_in, 180);
    }
  });

  it('asks for the password when the scope is private, names no repository with exactly "pull", or an account is given', async () => {
    for (const query of ['?account=alice', '?scope=repository:org/a:pull', '?scope=repository:lib/pub:pull,push', '?scope=repository:nowhere:pull']) {
      assert.equal((await get(fake, `/v2/token${query}`)).status, 401, query);
      assert.equal((await get(fake, `/v2/token${query}`, { Authorization: basic('alice', 'wonderland') })).status, 200, query);
    }
  });

  it('answers a wrong password, an unknown user and a non-Basic header with Foreman\'s 401 by default', async () => {
    for (const authorization of [basic('alice', 'nope'), basic('mallory', 'wonderland'), 'Bearer abc', 'Basic !!!']) {
      const res = await get(fake, '/v2/token?account=alice', { Authorization: authorization });
      assert.equal(res.status, 401, authorization);
      assert.match(String((json(res).error as { message?: string } | undefined)?.message), /^Unable to authenticate user/);
      assert.equal(res.body.includes('token'), false);
    }
  });

  it('honours expiresIn and badPasswordStyle changed at runtime', async () => {
    fake.setOptions({ expiresIn: 42, badPasswordStyle: 'unauthorized-token' });
    try {
      fake.revokeToken('alice');
      const good = await get(fake, '/v2/token?account=alice', { Authorization: basic('alice', 'wonderland') });
      assert.equal(json(good).expires_in, 42);
      const bad = await get(fake, '/v2/token?account=alice', { Authorization: basic('alice', 'nope') });
      assert.equal(bad.status, 200);
      assert.deepEqual(json(bad), { token: 'unauthorized' });
    } finally {
      fake.setOptions({ expiresIn: 3600, badPasswordStyle: '401' });
    }
  });

  it('sees users changed at runtime', async () => {
    fake.setUser('bob', 'first', ['x/y']);
    assert.equal((await get(fake, '/v2/token?account=bob', { Authorization: basic('bob', 'first') })).status, 200);
    fake.setUser('bob', 'second', ['x/y']);
    assert.equal((await get(fake, '/v2/token?account=bob', { Authorization: basic('bob', 'first') })).status, 401);
    assert.equal((await get(fake, '/v2/token?account=bob', { Authorization: basic('bob', 'second') })).status, 200);
    fake.removeUser('bob');
    assert.equal((await get(fake, '/v2/token?account=bob', { Authorization: basic('bob', 'second') })).status, 401);
  });
});

describe('fake Katello: badPasswordStyle option at start', () => {
  it("answers {token:'unauthorized'} with 200 when started with 'unauthorized-token'", async () => {
    const fake = await startFakeKatello({
      badPasswordStyle: 'unauthorized-token',
      expiresIn: 90,
      users: { carol: { password: 'pw', repositories: [] } },
    });
    try {
      const bad = await get(fake, '/v2/token?account=carol', { Authorization: basic('carol', 'wrong') });
      assert.equal(bad.status, 200);
      assert.deepEqual(json(bad), { token: 'unauthorized' });
      const good = await get(fake, '/v2/token?account=carol', { Authorization: basic('carol', 'pw') });
      assert.equal(json(good).expires_in, 90);
      assert.equal(fake.issuedTokens.length, 1, 'the unauthorized string is not an issued token');
    } finally {
      await fake.stop();
    }
  });
});

describe('fake Katello: catalog (registry_proxies_controller.rb catalog)', () => {
  let fake: FakeKatello;
  before(async () => {
    fake = await startFakeKatello({
      users: { alice: { password: 'wonderland', repositories: ['org/a', 'org/b'] } },
      hosts: { 'host-1': ['org/h'] },
      publicRepositories: ['lib/pub'],
    });
  });
  after(() => fake.stop());

  it("lists a user's repositories and the public ones, for Basic credentials or the user's token", async () => {
    const res = await get(fake, '/v2/_catalog', { Authorization: basic('alice', 'wonderland') });
    assert.equal(res.status, 200);
    assert.deepEqual(json(res), { repositories: ['lib/pub', 'org/a', 'org/b'] });
    const token = json(await get(fake, '/v2/token?account=alice', { Authorization: basic('alice', 'wonderland') })).token as string;
    assert.deepEqual(json(await get(fake, '/v2/_catalog', { Authorization: `Bearer ${token}` })), { repositories: ['lib/pub', 'org/a', 'org/b'] });
  });

  it('answers 401 for wrong Basic credentials and the public list without any', async () => {
    assert.equal((await get(fake, '/v2/_catalog', { Authorization: basic('alice', 'x') })).status, 401);
    assert.deepEqual(json(await get(fake, '/v2/_catalog')), { repositories: ['lib/pub'] });
  });

  it("lists a known host's own repositories for HostUUID, the public ones for an unknown host", async () => {
    const known = await get(fake, '/v2/_catalog', { HostUUID: 'host-1' });
    assert.equal(known.status, 200);
    assert.deepEqual(json(known), { repositories: ['org/h'] });
    assert.deepEqual(json(await get(fake, '/v2/_catalog', { HostUUID: 'host-unknown' })), { repositories: ['lib/pub'] });
  });

  it('sees user and host repositories changed at runtime, and copies lists in', async () => {
    const repos = ['new/one'];
    fake.setUser('alice', 'wonderland', repos);
    repos.push('sneaky/alias');
    fake.setHost('host-2', ['h2/r']);
    assert.deepEqual(json(await get(fake, '/v2/_catalog', { Authorization: basic('alice', 'wonderland') })), { repositories: ['lib/pub', 'new/one'] });
    assert.deepEqual(json(await get(fake, '/v2/_catalog', { HostUUID: 'host-2' })), { repositories: ['h2/r'] });
    fake.removeHost('host-2');
    assert.deepEqual(json(await get(fake, '/v2/_catalog', { HostUUID: 'host-2' })), { repositories: ['lib/pub'] });
  });

  it('answers 404 elsewhere and 405 for other methods', async () => {
    assert.equal((await get(fake, '/v2/')).status, 404);
    assert.equal((await get(fake, '/api/v2/token')).status, 404);
    const post = await httpRequest(`${fake.url}/v2/token`, { method: 'POST', body: '' });
    assert.equal(post.status, 405);
  });
});

describe('fake Katello: counting and the request log', () => {
  it('counts token, catalog and host catalog calls, logs them without the password, and resets', async () => {
    const fake = await startFakeKatello({
      users: { alice: { password: 's3cret-Pa55', repositories: ['r'] } },
      hosts: { h: ['r'] },
    });
    try {
      await get(fake, '/v2/token?account=alice&scope=repository:r:pull&scope=repository:q:pull&service=gw', {
        Authorization: basic('alice', 's3cret-Pa55'),
      });
      await get(fake, '/v2/token');
      await get(fake, '/v2/_catalog', { Authorization: basic('alice', 's3cret-Pa55') });
      await get(fake, '/v2/_catalog', { HostUUID: 'h' });
      await get(fake, '/v2/_catalog', { HostUUID: 'h' });
      await get(fake, '/elsewhere');
      assert.deepEqual(fake.calls, { token: 2, catalog: 1, hostCatalog: 2 });
      assert.equal(fake.requests.length, 6);
      const [login, anonymous, catalog, host] = fake.requests;
      assert.deepEqual(login, {
        kind: 'token',
        method: 'GET',
        path: '/v2/token',
        query: { account: 'alice', scope: ['repository:r:pull', 'repository:q:pull'], service: 'gw' },
        hasAuthorization: true,
        hasHostUuid: false,
        user: 'alice',
        mode: 'up',
        status: 200,
      });
      assert.equal(anonymous?.hasAuthorization, false);
      assert.equal(anonymous?.user, undefined);
      assert.equal(catalog?.kind, 'catalog');
      assert.equal(host?.kind, 'hostCatalog');
      assert.equal(host?.hostUuid, 'h');
      assert.equal(host?.hasAuthorization, false);
      const logged = JSON.stringify(fake.requests);
      assert.equal(logged.includes('s3cret-Pa55'), false, 'the password is never stored');
      assert.equal(logged.includes(Buffer.from('alice:s3cret-Pa55').toString('base64')), false);

      const calls = fake.calls;
      const requests = fake.requests;
      fake.resetCounts();
      assert.equal(fake.calls, calls, 'reset in place');
      assert.equal(fake.requests, requests, 'reset in place');
      assert.deepEqual(fake.calls, { token: 0, catalog: 0, hostCatalog: 0 });
      assert.equal(fake.requests.length, 0);
      assert.equal(fake.issuedTokens.length, 0);
    } finally {
      await fake.stop();
    }
  });
});

describe('fake Katello: failure modes', () => {
  let fake: FakeKatello;
  before(async () => {
    fake = await startFakeKatello({ users: { alice: { password: 'pw', repositories: ['r'] } } });
  });
  after(() => fake.stop());

  it('down-refuse closes the listener (and kept-alive connections); up listens again on the same port', async () => {
    const pool = new Pool(fake.url, { connections: 1 });
    try {
      const warm = await pool.request({ path: '/v2/token', method: 'GET' });
      await warm.body.text();
      assert.equal(warm.statusCode, 200);

      await fake.setMode('down-refuse');
      assert.equal(fake.mode, 'down-refuse');
      await assert.rejects(get(fake, '/v2/token'), connectionRefused);
      await assert.rejects(
        pool.request({ path: '/v2/token', method: 'GET' }).then((r) => r.body.text()),
        'the kept-alive connection is gone too',
      );
      const before = fake.calls.token;

      await fake.setMode('up');
      assert.equal(fake.url, `http://127.0.0.1:${fake.port}`);
      const res = await get(fake, '/v2/token', { Authorization: basic('alice', 'pw') });
      assert.equal(res.status, 200);
      assert.equal(fake.calls.token, before + 1, 'nothing was counted while down');
    } finally {
      await pool.close();
    }
  });

  it('error-500 answers 500 to everything, and counts the calls', async () => {
    await fake.setMode('error-500');
    try {
      fake.resetCounts();
      assert.equal((await get(fake, '/v2/token', { Authorization: basic('alice', 'pw') })).status, 500);
      assert.equal((await get(fake, '/v2/_catalog', { HostUUID: 'x' })).status, 500);
      assert.deepEqual(fake.calls, { token: 1, catalog: 0, hostCatalog: 1 });
      assert.equal(fake.requests[0]?.mode, 'error-500');
      assert.equal(fake.requests[0]?.status, 500);
    } finally {
      await fake.setMode('up');
    }
  });

  it('hang never answers; switching back releases the hung request and answers again', async () => {
    await fake.setMode('hang');
    fake.resetCounts();
    const started = Date.now();
    await assert.rejects(get(fake, '/v2/token', {}, 400), /timed out/);
    assert.ok(Date.now() - started >= 390);
    assert.equal(fake.calls.token, 1);
    assert.equal(fake.requests[0]?.status, undefined);

    // A request left hanging is destroyed when the mode changes.
    const pending = get(fake, '/v2/_catalog', { HostUUID: 'h' }, 10_000);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await fake.setMode('up');
    await assert.rejects(pending);
    assert.equal((await get(fake, '/v2/token')).status, 200);
  });

  it('stop() resolves even with a request hanging, and is idempotent', async () => {
    const other = await startFakeKatello();
    await other.setMode('hang');
    const pending = get(other, '/v2/token', {}, 10_000);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await Promise.all([other.stop(), other.stop()]);
    await assert.rejects(pending);
    await assert.rejects(get(other, '/v2/token'), connectionRefused);
    await assert.rejects(other.setMode('up'), /stopped/);
  });
});

describe('fake Katello: latency and registryPath', () => {
  it('answers instantly by default and after latencyMs when set', async () => {
    const fake = await startFakeKatello({ latencyMs: 200 });
    try {
      let started = Date.now();
      await get(fake, '/v2/token');
      assert.ok(Date.now() - started >= 190, 'latency applied');
      fake.setOptions({ latencyMs: 0 });
      started = Date.now();
      await get(fake, '/v2/token');
      assert.ok(Date.now() - started < 150, 'instant again');
    } finally {
      await fake.stop();
    }
  });

  it('serves under a custom registryPath', async () => {
    const fake = await startFakeKatello({ registryPath: '/katello/v2/', users: { u: { password: 'p', repositories: ['a'] } } });
    try {
      assert.equal((await get(fake, '/katello/v2/token', { Authorization: basic('u', 'p') })).status, 200);
      assert.deepEqual(json(await get(fake, '/katello/v2/_catalog', { Authorization: basic('u', 'p') })), {
        repositories: ['a'],
      });
      assert.equal((await get(fake, '/v2/token')).status, 404);
    } finally {
      await fake.stop();
    }
    await assert.rejects(startFakeKatello({ registryPath: 'v2' }), /registryPath/);
  });
});
