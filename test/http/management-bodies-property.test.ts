/**
 * Hostile management bodies, by class: whatever a caller with management credentials sends — in
 * the form encoding Katello uses or as JSON, well-formed or not, under either mount — the answer
 * is 200 or a 4xx in the OCI error format, never a 5xx, and a refused body changes nothing.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import fc from 'fast-check';
import { buildApp } from '../../src/app.js';
import { encodeRestClientForm, type RubyValue } from '../fake-katello/rest-client-form.js';
import { MANAGEMENT_TOKEN, testConfig } from '../support/config.js';

const ROUTES = ['/repository_list', '/user_repository_mapping', '/update_hosts', '/host_repository_mapping', '/update_host_repositories'] as const;
const auth = { authorization: `Bearer ${MANAGEMENT_TOKEN}` };

describe('management bodies (property)', () => {
  let app: FastifyInstance;
  before(async () => {
    app = await buildApp(testConfig({ CG_BACKEND_URL: 'http://127.0.0.1:1', CG_SERVER_BODY_LIMIT_BYTES: '100000' }));
    const seeded = await app.inject({
      method: 'PUT',
      url: '/repository_list',
      headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'repositories[][repository]=pub/a&repositories[][auth_required]=false&repositories[][repository]=priv/b&repositories[][auth_required]=true',
    });
    assert.equal(seeded.statusCode, 200, seeded.body);
  });
  after(async () => app.close());

  const state = async () => ({
    catalog: (await app.inject({ method: 'GET', url: '/v2/_catalog' })).body,
    users: (await app.inject({ method: 'GET', url: '/users', headers: auth })).body,
  });

  const checkAnswer = async (route: string, contentType: string, payload: string) => {
    const before = await state();
    const response = await app.inject({ method: 'PUT', url: route, headers: { ...auth, 'content-type': contentType }, payload });
    assert.ok(response.statusCode === 200 || (response.statusCode >= 400 && response.statusCode < 500), `${response.statusCode} for ${contentType} ${JSON.stringify(payload).slice(0, 300)}: ${response.body}`);
    if (response.statusCode !== 200) {
      const body = JSON.parse(response.body) as { errors?: Array<{ code?: string; message?: string }> };
      assert.equal(typeof body.errors?.[0]?.code, 'string');
      assert.deepEqual(await state(), before, 'a refused body changed something');
    }
    return response.statusCode;
  };

  it('raw form bodies made of the characters that matter never give a 5xx', async () => {
    const piece = fc.constantFrom('repositories', 'users', 'hosts', 'uuid', 'repository', 'auth_required', '[', ']', '[]', '&', '=', '%', '%2F', '%ZZ', '%C3', '+', 'true', 'FALSE', 'a/b', '', '__proto__', 'x'.repeat(50));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ROUTES), fc.array(piece, { maxLength: 40 }).map((parts) => parts.join('')), async (route, body) => {
        await checkAnswer(route, 'application/x-www-form-urlencoded', body);
      }),
      { numRuns: 300 },
    );
  });

  it('well-formed pushes of arbitrary shape, form-encoded as rest-client does and as JSON, never give a 5xx', async () => {
    const leaf: fc.Arbitrary<RubyValue> = fc.oneof(fc.string({ maxLength: 20 }), fc.boolean(), fc.constant(null), fc.integer());
    const value = fc.letrec<{ v: RubyValue }>((tie) => ({
      v: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, fc.array(tie('v'), { maxLength: 4 }), fc.dictionary(fc.string({ maxLength: 12 }), tie('v'), { maxKeys: 4 })),
    })).v;
    const topKey = fc.constantFrom('repositories', 'users', 'hosts', 'other');
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ROUTES), fc.dictionary(topKey, value, { maxKeys: 3 }), async (route, payload) => {
        const form = encodeRestClientForm(payload);
        if (form !== '') await checkAnswer(route, 'application/x-www-form-urlencoded', form);
        await checkAnswer(route, 'application/json', JSON.stringify(payload));
      }),
      { numRuns: 300 },
    );
  });

  it('a JSON content type with a form body, and the other way round, is a 400 that changes nothing', async () => {
    assert.equal(await checkAnswer('/repository_list', 'application/json', 'repositories[][repository]=x&repositories[][auth_required]=true'), 400);
    assert.equal(await checkAnswer('/repository_list', 'application/x-www-form-urlencoded', '{"repositories":[]}'), 400, 'JSON sent as a form: a key whose brackets do not pair up');
  });

  it('invalid UTF-8 in a form body is a 400 that changes nothing', async () => {
    const response = await app.inject({ method: 'PUT', url: '/repository_list', headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' }, payload: Buffer.from([0x72, 0x65, 0x70, 0xff, 0xfe, 0x3d, 0x31]) });
    assert.equal(response.statusCode, 400);
    assert.match(response.body, /UTF-8/);
  });

  it('the same answers under /container_gateway; encoded or dotted forms of the prefix reach nothing (over a real socket: no client tidies the path)', async () => {
    const body = 'repositories[][repository]=pub/a&repositories[][auth_required]=false&repositories[][repository]=priv/b&repositories[][auth_required]=true';
    const mounted = await app.inject({ method: 'PUT', url: '/container_gateway/repository_list', headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' }, payload: body });
    assert.equal(mounted.statusCode, 200);
    const address = await app.listen({ host: '127.0.0.1', port: 0 });
    const raw = (method: string, path: string, payload = '') =>
      new Promise<number>((resolve, reject) => {
        const { hostname, port } = new URL(address);
        const request = http.request({ hostname, port, path, method, headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(payload) } }, (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        });
        request.on('error', reject);
        request.end(payload);
      });
    for (const path of ['/container_gateway/../repository_list', '/%63ontainer_gateway/repository_list', '/container_gateway%2Frepository_list', '/container_gatewayrepository_list', '/container_gateway//repository_list', '/container_gateway/./repository_list']) {
      assert.equal(await raw('PUT', path, 'repositories'), 404, path);
    }
    for (const path of ['/container_gateway/../v2/priv/b/tags/list', '/container_gateway/%2e%2e/v2/priv/b/tags/list', '/%63ontainer_gateway/v2/priv/b/tags/list', '/container_gateway/v2/priv/../priv/b/tags/list']) {
      const status = await raw('GET', path);
      assert.ok(status === 404 || status === 400, `${path}: ${status}`);
    }
    assert.deepEqual(JSON.parse((await app.inject({ method: 'GET', url: '/v2/_catalog' })).body), { repositories: ['pub/a'] });
  });
});
