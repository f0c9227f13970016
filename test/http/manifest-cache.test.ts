/**
 * Manifests by digest are served from memory after the first fetch — but only after the access
 * decision, only for the same repository and Accept header, and never for tags.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { publishRepositories, testConfig } from '../support/config.js';
import { startScriptedBackend, type ScriptedBackend } from '../support/scripted-backend.js';

const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: {}, layers: [] }));
const digest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;
const accept = 'application/vnd.oci.image.manifest.v1+json';

describe('manifest cache', () => {
  let backend: ScriptedBackend;
  let app: FastifyInstance;
  before(async () => {
    backend = await startScriptedBackend((_req, res) => {
      res.setHeader('content-type', accept);
      res.setHeader('docker-content-digest', digest);
      res.setHeader('etag', `"${digest}"`);
      res.end(manifest);
    });
    app = await buildApp(testConfig({ CG_BACKEND_URL: backend.url, CG_BACKEND_MODE: 'proxy' }));
    await publishRepositories(app, [{ name: 'pub/a' }, { name: 'pub/b' }, { name: 'priv/c', authRequired: true }]);
  });
  after(async () => {
    await app.close();
    await backend.close();
  });

  const get = (url: string, headers: Record<string, string> = { accept }, method: 'GET' | 'HEAD' = 'GET') => app.inject({ method, url, headers });

  it('a second GET by digest does not reach the backend and is byte-identical', async () => {
    backend.requests.length = 0;
    const first = await get(`/v2/pub/a/manifests/${digest}`);
    const second = await get(`/v2/pub/a/manifests/${digest}`);
    assert.equal(backend.requests.length, 1);
    assert.equal(second.statusCode, 200);
    assert.deepEqual(second.rawPayload, manifest);
    assert.equal(second.headers['docker-content-digest'], digest);
    assert.equal(second.headers['content-type'], first.headers['content-type']);
    const head = await get(`/v2/pub/a/manifests/${digest}`, { accept }, 'HEAD');
    assert.equal(head.statusCode, 200);
    assert.equal(head.headers['content-length'], String(manifest.length));
    assert.equal(head.body, '');
    assert.equal(backend.requests.length, 1);
  });

  it('another repository, another Accept header or a tag goes to the backend', async () => {
    backend.requests.length = 0;
    await get(`/v2/pub/b/manifests/${digest}`);
    await get(`/v2/pub/a/manifests/${digest}`, { accept: 'application/vnd.docker.distribution.manifest.v2+json' });
    await get('/v2/pub/a/manifests/latest');
    await get('/v2/pub/a/manifests/latest');
    assert.equal(backend.requests.length, 4);
  });

  it('the access decision still runs for every cached request', async () => {
    await publishRepositories(app, [{ name: 'pub/a', authRequired: true }]);
    const response = await get(`/v2/pub/a/manifests/${digest}`);
    assert.equal(response.statusCode, 401);
  });
});
