/**
 * Wiring and the OCI error envelope, through inject(): refusals that must never reach the
 * backend, and every way the backend can fail ending in a clear 502/504.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { startScriptedBackend, type ScriptedBackend } from '../support/scripted-backend.js';
import { publishRepositories, testConfig } from '../support/config.js';

const digest = `sha256:${'b'.repeat(64)}`;

function assertOciError(response: { statusCode: number; headers: Record<string, unknown>; body: string }, status: number, code: string): void {
  assert.equal(response.statusCode, status, response.body);
  assert.match(String(response.headers['content-type']), /^application\/json/);
  const body = JSON.parse(response.body) as { errors: Array<{ code: string; message: string }> };
  assert.equal(body.errors[0]?.code, code);
  assert.ok((body.errors[0]?.message.length ?? 0) > 0);
}

describe('requests refused before the backend', () => {
  let backend: ScriptedBackend;
  let app: FastifyInstance;
  before(async () => {
    backend = await startScriptedBackend((_req, res) => res.end('{}'));
    app = await buildApp(testConfig({ CG_BACKEND_URL: backend.url }));
    await publishRepositories(app, [{ name: 'a' }]);
  });
  after(async () => {
    await app.close();
    await backend.close();
  });

  // inject() resolves `..` and `%2e%2e` segments like a browser would; those are sent raw over a
  // socket in test/integration/pull-path.test.ts instead.
  const cases: Array<[string, string, string, number, string]> = [
    ['encoded slash', 'GET', '/v2/a%2Fb/manifests/latest', 400, 'NAME_INVALID'],
    ['encoded dots inside a segment', 'HEAD', '/v2/a%2e%2eb/manifests/latest', 400, 'NAME_INVALID'],
    ['empty segment', 'GET', '/v2/a//b/tags/list', 400, 'NAME_INVALID'],
    ['over-long name', 'GET', `/v2/${'a'.repeat(300)}/tags/list`, 400, 'NAME_INVALID'],
    ['bad digest', 'GET', '/v2/a/blobs/sha256:zz', 400, 'DIGEST_INVALID'],
    ['bad reference', 'GET', '/v2/a/manifests/-x', 404, 'MANIFEST_UNKNOWN'],
    ['unknown endpoint', 'GET', '/v2/a/nothing', 404, 'NOT_FOUND'],
    ['manifest push', 'PUT', '/v2/a/manifests/latest', 405, 'UNSUPPORTED'],
    ['blob upload', 'POST', '/v2/a/blobs/uploads/', 405, 'UNSUPPORTED'],
    ['chunk upload', 'PATCH', '/v2/a/blobs/uploads/123', 405, 'UNSUPPORTED'],
    ['delete', 'DELETE', `/v2/a/manifests/${digest}`, 405, 'UNSUPPORTED'],
    ['upload status', 'GET', '/v2/a/blobs/uploads/123', 405, 'UNSUPPORTED'],
    ['bad page size', 'GET', '/v2/a/tags/list?n=abc', 400, 'PAGINATION_NUMBER_INVALID'],
  ];
  for (const [rule, method, url, status, code] of cases) {
    it(`${rule}: ${method} ${url.slice(0, 60)} → ${status} ${code}, backend untouched`, async () => {
      const before = backend.requests.length;
      const response = await app.inject({ method: method as 'GET', url, payload: method === 'PUT' || method === 'PATCH' ? '{"x":1}' : undefined, headers: { 'content-type': 'application/json' } });
      if (method === 'HEAD') assert.equal(response.statusCode, status);
      else assertOciError(response, status, code);
      assert.equal(backend.requests.length, before, 'the backend must not be called');
    });
  }

  it('every /v2 answer, errors included, carries the API version header', async () => {
    const response = await app.inject({ method: 'GET', url: '/v2/a%2Fb/tags/list' });
    assert.equal(response.headers['docker-distribution-api-version'], 'registry/2.0');
  });

  it('an unknown path outside /v2 is an OCI 404', async () => {
    assertOciError(await app.inject({ method: 'GET', url: '/nope' }), 404, 'NOT_FOUND');
  });
});

describe('backend failures', () => {
  let backend: ScriptedBackend;
  let app: FastifyInstance;
  before(async () => {
    backend = await startScriptedBackend((_req, res) => res.end('{}'));
    app = await buildApp(testConfig({ CG_BACKEND_URL: backend.url, CG_BACKEND_TIMEOUTS_HEADERS_MS: '300', CG_BACKEND_MODE: 'proxy' }));
    await publishRepositories(app, [{ name: 'a' }]);
  });
  after(async () => {
    await app.close();
    await backend.close();
  });

  it('a backend that never answers ends in 504 BACKEND_TIMEOUT, not a hang', async () => {
    backend.script = () => undefined;
    const started = Date.now();
    assertOciError(await app.inject({ method: 'GET', url: '/v2/a/manifests/latest' }), 504, 'BACKEND_TIMEOUT');
    assert.ok(Date.now() - started < 5_000);
  });

  it('a backend that resets the connection gives 502 BACKEND_UNREACHABLE', async () => {
    backend.script = (req) => req.socket.destroy();
    assertOciError(await app.inject({ method: 'GET', url: '/v2/a/manifests/latest' }), 502, 'BACKEND_UNREACHABLE');
  });

  it('a backend 500 gives 502 BACKEND_ERROR without the backend body', async () => {
    backend.script = (_req, res) => {
      res.statusCode = 500;
      res.end('panic: secret internals at /srv/registry');
    };
    const response = await app.inject({ method: 'GET', url: '/v2/a/manifests/latest' });
    assertOciError(response, 502, 'BACKEND_ERROR');
    assert.doesNotMatch(response.body, /secret internals/);
  });

  it('a backend refusing the gateway is a 502, never a 401 that would send clients to log in', async () => {
    backend.script = (_req, res) => {
      res.statusCode = 401;
      res.setHeader('www-authenticate', 'Basic realm="backend"');
      res.end();
    };
    const response = await app.inject({ method: 'GET', url: `/v2/a/blobs/${digest}` });
    assertOciError(response, 502, 'BACKEND_ERROR');
    assert.equal(response.headers['www-authenticate'], undefined);
  });

  it('a backend 404 keeps its OCI code', async () => {
    backend.script = (_req, res) => {
      res.statusCode = 404;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] }));
    };
    assertOciError(await app.inject({ method: 'GET', url: '/v2/a/manifests/nope' }), 404, 'MANIFEST_UNKNOWN');
  });

  it('a backend 404 without a body becomes the code of the route', async () => {
    backend.script = (_req, res) => {
      res.statusCode = 404;
      res.end();
    };
    assertOciError(await app.inject({ method: 'GET', url: `/v2/a/blobs/${digest}` }), 404, 'BLOB_UNKNOWN');
  });

  it('a malformed tag list from the backend is a 502, not a crash', async () => {
    backend.script = (_req, res) => res.end('{"tags": "not-a-list"}');
    assertOciError(await app.inject({ method: 'GET', url: '/v2/a/tags/list' }), 502, 'BACKEND_ERROR');
  });

  it('the client Authorization header never reaches the backend', async () => {
    backend.script = (_req, res) => res.end('{}');
    backend.requests.length = 0;
    await app.inject({ method: 'GET', url: '/v2/a/manifests/latest', headers: { authorization: 'Bearer client-secret', accept: 'application/vnd.oci.image.index.v1+json' } });
    assert.equal(backend.requests[0]?.headers.authorization, undefined);
    assert.equal(backend.requests[0]?.headers.accept, 'application/vnd.oci.image.index.v1+json');
  });
});

describe('a backend that is down', () => {
  it('answers 502 BACKEND_UNREACHABLE quickly', async () => {
    const app = await buildApp(testConfig({ CG_BACKEND_URL: 'http://127.0.0.1:1' }));
    await publishRepositories(app, [{ name: 'a' }]);
    try {
      assertOciError(await app.inject({ method: 'GET', url: '/v2/a/manifests/latest' }), 502, 'BACKEND_UNREACHABLE');
    } finally {
      await app.close();
    }
  });
});
