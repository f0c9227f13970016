/**
 * The management API as Katello drives it: credentials, every body shape it sends, and every
 * bad body refused with 400 and leaving the data exactly as it was.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { buildApp } from '../../src/app.js';
import { MANAGEMENT_TOKEN, testConfig } from '../support/config.js';

const auth = { authorization: `Bearer ${MANAGEMENT_TOKEN}` };

describe('management API', () => {
  let app: FastifyInstance;
  before(async () => {
    app = await buildApp(testConfig({ CG_BACKEND_URL: 'http://127.0.0.1:1', CG_SERVER_BODY_LIMIT_BYTES: '200000' }));
  });
  after(async () => app.close());

  const put = (url: string, payload: unknown, headers: Record<string, string> = auth) =>
    app.inject({ method: 'PUT', url, headers: { 'content-type': 'application/json', ...headers }, payload: typeof payload === 'string' ? payload : JSON.stringify(payload) } as InjectOptions);
  const catalogAs = async (headers: Record<string, string> = {}) =>
    (JSON.parse((await app.inject({ method: 'GET', url: '/v2/_catalog', headers })).body) as { repositories: string[] }).repositories;
  const users = async () => (JSON.parse((await app.inject({ method: 'GET', url: '/users', headers: auth })).body) as { users: string[] }).users;

  beforeEach(async () => {
    const reset = await put('/repository_list', {
      repositories: [
        { repository: 'pub/one', auth_required: 'false' },
        { repository: 'pub/two', auth_required: false },
        { repository: 'priv/one', auth_required: 'true' },
        { repository: 'priv/two', auth_required: true },
      ],
    });
    assert.equal(reset.statusCode, 200, reset.body);
  });

  describe('credentials', () => {
    const cases: Array<[string, Record<string, string>]> = [
      ['no Authorization header', {}],
      ['a wrong bearer secret', { authorization: 'Bearer wrong-secret-wrong-secret-wrong' }],
      ['a prefix of the right secret', { authorization: `Bearer ${MANAGEMENT_TOKEN.slice(0, -1)}` }],
      ['the right secret as Basic', { authorization: `Basic ${Buffer.from(`x:${MANAGEMENT_TOKEN}`).toString('base64')}` }],
    ];
    for (const [rule, headers] of cases) {
      it(`${rule} is refused with 401 and changes nothing`, async () => {
        const response = await put('/repository_list', { repositories: [] }, headers);
        assert.equal(response.statusCode, 401);
        assert.equal((JSON.parse(response.body) as { errors: Array<{ code: string }> }).errors[0]?.code, 'UNAUTHORIZED');
        assert.deepEqual(await catalogAs(), ['pub/one', 'pub/two']);
        assert.equal((await app.inject({ method: 'GET', url: '/users', headers })).statusCode, 401);
      });
    }
  });

  it('auth_required may be a boolean or "true"/"false": only public repositories are listed anonymously', async () => {
    assert.deepEqual(await catalogAs(), ['pub/one', 'pub/two']);
  });

  it('replacing the list adds, removes and flips repositories, and reports counts', async () => {
    const response = await put('/repository_list', {
      repositories: [
        { repository: 'pub/one', auth_required: 'true' },
        { repository: 'pub/three', auth_required: 'false' },
        { repository: 'priv/one', auth_required: 'true' },
      ],
    });
    assert.equal(response.statusCode, 200);
    assert.deepEqual(JSON.parse(response.body), { status: 'ok', total: 3, added: 1, removed: 2, changed: 1 });
    assert.deepEqual(await catalogAs(), ['pub/three']);
  });

  const badBodies: Array<[string, string, unknown, RegExp]> = [
    ['malformed JSON', '/repository_list', '{"repositories": [', /JSON/i],
    ['a JSON array instead of an object', '/repository_list', '[]', /body|expected/i],
    ['an entry that is public and private at once', '/repository_list', { repositories: [{ repository: 'x/y', auth_required: true }, { repository: 'x/y', auth_required: 'false' }] }, /repositories\[1\]\.auth_required: contradicts/],
    ['a repository-list entry without auth_required', '/repository_list', { repositories: [{ repository: 'x/y' }] }, /repositories\[0\]\.auth_required/],
    ['a repository without a name', '/repository_list', { repositories: [{ auth_required: true }] }, /repositories\[0\]\.repository/],
    ['an invalid repository name', '/repository_list', { repositories: [{ repository: 'pub/one' , auth_required: true }, { repository: 'Bad/../Name', auth_required: true }] }, /repositories\[1\]\.repository: not a valid repository name/],
    ['an over-long repository name', '/repository_list', { repositories: [{ repository: 'a'.repeat(256), auth_required: true }] }, /repositories\[0\]\.repository/],
    ['auth_required that is neither boolean nor "true"/"false"', '/repository_list', { repositories: [{ repository: 'x', auth_required: 'yes' }] }, /auth_required/],
    ['a body over the size limit', '/repository_list', { repositories: Array.from({ length: 5000 }, (_, i) => ({ repository: `r/${i}`, auth_required: false })) }, /too large|exceeds|body/i],
    ['users that is not a list', '/user_repository_mapping', { users: { alice: [] } }, /users/],
    ['a user mapped to an invalid name', '/user_repository_mapping', { users: [{ alice: [{ repository: '../etc' }] }] }, /users\[0\]\.alice\[0\]\.repository/],
    ['a host that is not an object', '/update_hosts', { hosts: ['aaaa'] }, /hosts\[0\]/],
    ['a host mapping that is not a list', '/host_repository_mapping', { hosts: [{ aaaa: 'priv/one' }] }, /hosts\[0\]\.aaaa/],
    ['no body at all', '/repository_list', '', /body/i],
  ];
  for (const [rule, url, payload, message] of badBodies) {
    it(`${url} with ${rule} → 400 naming the problem, nothing changed`, async () => {
      const before = { catalog: await catalogAs(), users: await users() };
      const response = await put(url, payload);
      assert.equal(response.statusCode, 400, response.body);
      const error = (JSON.parse(response.body) as { errors: Array<{ code: string; message: string }> }).errors[0];
      assert.ok(error?.code === 'BODY_INVALID' || error?.code === 'BODY_TOO_LARGE', error?.code);
      assert.match(error?.message ?? '', message);
      assert.deepEqual({ catalog: await catalogAs(), users: await users() }, before);
    });
  }

  it('a body with a non-JSON content type is a 400, not a 415', async () => {
    const response = await app.inject({ method: 'PUT', url: '/repository_list', headers: { ...auth, 'content-type': 'text/plain' }, payload: 'hello' });
    assert.equal(response.statusCode, 400);
  });

  it('user mappings create users; GET /users lists them sorted', async () => {
    const response = await put('/user_repository_mapping', {
      users: [{ bob: [{ repository: 'priv/one', auth_required: 'true' }] }, { alice: [{ repository: 'priv/two', auth_required: 'true' }, { repository: 'not/known', auth_required: 'true' }] }],
    });
    assert.equal(response.statusCode, 200, response.body);
    assert.deepEqual(JSON.parse(response.body), { status: 'ok', subjects: 2, mappings: 2, unknownRepositories: 1 });
    assert.deepEqual(await users(), ['alice', 'bob']);
  });

  it('hosts: replace the list, replace all mappings, merge per host', async () => {
    const a = 'aaaaaaaa-0000-4000-8000-000000000001';
    const b = 'bbbbbbbb-0000-4000-8000-000000000002';
    assert.equal((await put('/update_hosts', { hosts: [{ uuid: a }, { uuid: b }] })).statusCode, 200);
    const replaced = await put('/host_repository_mapping', { hosts: [{ [a]: [{ repository: 'priv/one', auth_required: 'true' }] }, { [b]: [{ repository: 'priv/two' }] }] });
    assert.deepEqual(JSON.parse(replaced.body), { status: 'ok', subjects: 2, mappings: 2, unknownRepositories: 0, skipped: 0 });
    const merged = await put('/update_host_repositories', { hosts: [{ [a]: [{ repository: 'priv/two', auth_required: 'true' }] }] });
    assert.deepEqual(JSON.parse(merged.body), { status: 'ok', subjects: 1, mappings: 1, unknownRepositories: 0, skipped: 0 });
    const removed = await put('/update_hosts', { hosts: [{ uuid: a }] });
    assert.deepEqual(JSON.parse(removed.body), { status: 'ok', total: 1, added: 0, removed: 1, changed: 0, skipped: 0 });
  });
});
