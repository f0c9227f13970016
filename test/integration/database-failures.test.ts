/**
 * The database going away under a running gateway (PostgreSQL stopped): pulls that the in-process
 * caches can decide go on; anything that needs the database answers 503 with Retry-After, never a
 * 500 or a hang.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startFakeKatello, type FakeKatello } from '../fake-katello/fake-katello.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { startPostgres, type RunningPostgres } from '../support/postgres.js';
import { startScriptedBackend, type ScriptedBackend } from '../support/scripted-backend.js';
import { httpRequest } from './harness/http-client.js';

describe('the database going away', () => {
  let postgres: RunningPostgres;
  let katello: FakeKatello;
  let backend: ScriptedBackend;
  let gateway: RunningGateway;
  let token: string;

  before(async () => {
    postgres = await startPostgres();
    katello = await startFakeKatello({ users: { alice: { password: 'pw', repositories: ['priv/app'] } } });
    backend = await startScriptedBackend((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end('{"name":"x","tags":["v1"]}');
    });
    gateway = await startGateway({
      backendUrl: backend.url,
      upstreamUrl: katello.url,
      databaseUrl: postgres.createDatabase('failing'),
      env: { CG_DATABASE_CONNECTION_TIMEOUT_MS: '500' },
    });
    await gateway.publish([{ name: 'pub/app' }, { name: 'priv/app', authRequired: true }]);
    const login = await httpRequest(`${gateway.url}/v2/token`, { headers: { authorization: `Basic ${Buffer.from('alice:pw').toString('base64')}` } });
    token = (JSON.parse(login.body.toString()) as { token: string }).token;
    assert.equal((await httpRequest(`${gateway.url}/v2/priv/app/tags/list`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
    await postgres.stop();
  });
  after(async () => {
    await gateway?.stop();
    await katello?.stop();
    await backend?.close();
  });

  it('public pulls and pulls with a token already seen go on from the caches', async () => {
    assert.equal((await httpRequest(`${gateway.url}/v2/pub/app/tags/list`)).status, 200);
    assert.equal((await httpRequest(`${gateway.url}/v2/priv/app/tags/list`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
  });

  it('a login and a management push answer 503 UNAVAILABLE with Retry-After', async () => {
    const login = await httpRequest(`${gateway.url}/v2/token`, { headers: { authorization: `Basic ${Buffer.from('alice:pw').toString('base64')}` } });
    assert.equal(login.status, 503, login.body.toString());
    assert.equal(login.headers['retry-after'], '1');
    assert.equal((JSON.parse(login.body.toString()) as { errors: Array<{ code: string }> }).errors[0]?.code, 'UNAVAILABLE');
    const push = await gateway.management('PUT', '/repository_list', { repositories: [] });
    assert.equal(push.status, 503);
  });

  it('/readyz says not ready; /healthz still answers', async () => {
    assert.equal((await httpRequest(`${gateway.url}/readyz`)).status, 503);
    assert.equal((await httpRequest(`${gateway.url}/healthz`)).status, 200);
  });
});
