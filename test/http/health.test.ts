import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { testConfig } from '../support/config.js';
import { startScriptedBackend, type ScriptedBackend } from '../support/scripted-backend.js';

describe('health endpoints', () => {
  let backend: ScriptedBackend;
  let app: FastifyInstance;
  before(async () => {
    backend = await startScriptedBackend((_req, res) => {
      res.statusCode = 200;
      res.end('{}');
    });
    app = await buildApp(testConfig({ CG_BACKEND_URL: backend.url, CG_UPSTREAM_URL: 'http://127.0.0.1:1' }));
  });
  after(async () => {
    await app.close();
    await backend.close();
  });

  it('/healthz answers while the process is up', async () => {
    assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
  });

  it('/readyz is ready with database and backend up, and reports the (down) upstream without becoming unready', async () => {
    const response = await app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(response.statusCode, 200);
    const body = JSON.parse(response.body) as { checks: Record<string, { ok: boolean }> };
    assert.equal(body.checks.database?.ok, true);
    assert.equal(body.checks.backend?.ok, true);
    assert.equal(body.checks.upstream?.ok, false);
  });

  it('/readyz is 503 when the backend does not answer', async () => {
    backend.script = (_req, res) => {
      res.statusCode = 500;
      res.end();
    };
    const response = await app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(response.statusCode, 503);
    assert.equal((JSON.parse(response.body) as { checks: { backend: { ok: boolean } } }).checks.backend.ok, false);
  });
});
