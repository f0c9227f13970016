/** /metrics in Prometheus format, and the counters moving as requests are made. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { MANAGEMENT_TOKEN, publishRepositories, testConfig } from '../support/config.js';
import { startScriptedBackend, type ScriptedBackend } from '../support/scripted-backend.js';
import { sampleOf } from '../support/metrics.js';

const sample = (text: string, name: string, labels: Record<string, string> = {}): number => sampleOf(text, name, labels) ?? 0;

describe('metrics', () => {
  let backend: ScriptedBackend;
  let upstream: ScriptedBackend;
  let app: FastifyInstance;
  before(async () => {
    backend = await startScriptedBackend((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end('{"name":"pub/a","tags":["v1"]}');
    });
    upstream = await startScriptedBackend((req, res) => {
      res.setHeader('content-type', 'application/json');
      if (req.headers.authorization === `Basic ${Buffer.from('alice:pw').toString('base64')}`) {
        res.end(req.url?.includes('/token') ? '{"token":"t-alice-1234567890","expires_in":300}' : '{"repositories":[]}');
      } else {
        res.statusCode = 401;
        res.end('{}');
      }
    });
    app = await buildApp(testConfig({ CG_BACKEND_URL: backend.url, CG_UPSTREAM_URL: upstream.url }));
    await publishRepositories(app, [{ name: 'pub/a' }]);
  });
  after(async () => {
    await app.close();
    await backend.close();
    await upstream.close();
  });

  const scrape = async () => {
    const response = await app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(response.statusCode, 200);
    assert.match(String(response.headers['content-type']), /^text\/plain/);
    return response.body;
  };

  it('counts requests by route family and status, backend calls, logins, token cache and management writes', async () => {
    const before = await scrape();
    await app.inject({ method: 'GET', url: '/v2/pub/a/tags/list' });
    await app.inject({ method: 'GET', url: '/v2/nope/tags/list' });
    const basic = (password: string) => ({ authorization: `Basic ${Buffer.from(`alice:${password}`).toString('base64')}` });
    const token = (JSON.parse((await app.inject({ method: 'GET', url: '/v2/token', headers: basic('pw') })).body) as { token: string }).token;
    await app.inject({ method: 'GET', url: '/v2/token', headers: basic('wrong') });
    await app.inject({ method: 'GET', url: '/v2/', headers: { authorization: `Bearer ${token}` } });
    await app.inject({ method: 'GET', url: '/v2/', headers: { authorization: `Bearer ${token}` } });
    await app.inject({ method: 'PUT', url: '/repository_list', headers: { authorization: `Bearer ${MANAGEMENT_TOKEN}` }, payload: { repositories: [{ repository: 'pub/a', auth_required: false }] } });
    const after = await scrape();

    const moved = (name: string, labels: Record<string, string> = {}) => sample(after, name, labels) - sample(before, name, labels);
    assert.equal(moved('cg_http_requests_total', { route: 'tags', method: 'GET', status: '200' }), 1);
    assert.equal(moved('cg_http_requests_total', { route: 'tags', method: 'GET', status: '401' }), 1);
    assert.equal(moved('cg_http_request_duration_seconds_count', { route: 'tags' }), 2);
    assert.equal(moved('cg_backend_requests_total', { outcome: '2xx' }), 1);
    assert.equal(moved('cg_logins_total', { outcome: 'success' }), 1);
    assert.equal(moved('cg_logins_total', { outcome: 'rejected' }), 1);
    assert.equal(moved('cg_upstream_calls_total', { call: 'login', outcome: 'ok' }), 1);
    assert.equal(moved('cg_upstream_calls_total', { call: 'login', outcome: 'rejected' }), 1);
    assert.equal(moved('cg_token_cache_total', { result: 'hit' }), 2);
    assert.equal(moved('cg_management_updates_total', { endpoint: 'repository_list', status: '200' }), 1);
    assert.ok(sample(after, 'cg_process_resident_memory_bytes') > 0);
    assert.equal(sample(after, 'cg_database_pool_waiting'), 0);
  });
});
