/**
 * A failing management server: hanging, refusing connections, answering 500. The gateway answers
 * logins with a clean 503/502 quickly, stops waiting on a dead upstream once its circuit opens,
 * keeps serving pulls with tokens it already has, and recovers when upstream does.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startFakeKatello, type FakeKatello } from '../fake-katello/fake-katello.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { startScriptedBackend, type ScriptedBackend } from '../support/scripted-backend.js';
import { httpRequest } from './harness/http-client.js';

const basic = `Basic ${Buffer.from('alice:pw').toString('base64')}`;

describe('a failing upstream', () => {
  let katello: FakeKatello;
  let backend: ScriptedBackend;
  let gateway: RunningGateway;

  before(async () => {
    katello = await startFakeKatello({ users: { alice: { password: 'pw', repositories: ['priv/app'] } } });
    backend = await startScriptedBackend((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end('{"name":"priv/app","tags":["v1"]}');
    });
    gateway = await startGateway({
      backendUrl: backend.url,
      upstreamUrl: katello.url,
      env: { CG_UPSTREAM_TIMEOUT_MS: '400', CG_UPSTREAM_CIRCUIT_BREAKER_FAILURES: '3', CG_UPSTREAM_CIRCUIT_BREAKER_OPEN_SECONDS: '1' },
    });
    await gateway.publish([{ name: 'priv/app', authRequired: true }]);
  });
  after(async () => {
    await gateway?.stop();
    await katello?.stop();
    await backend?.close();
  });

  const login = async () => {
    const started = Date.now();
    const response = await httpRequest(`${gateway.url}/v2/token`, { headers: { authorization: basic } });
    return { response, ms: Date.now() - started };
  };

  it('a hanging upstream: three logins time out (503), then the circuit answers at once; pulls with a token go on', async () => {
    const { response: ok } = await login();
    const token = (JSON.parse(ok.body.toString()) as { token: string }).token;
    await katello.setMode('hang');
    try {
      for (let i = 0; i < 3; i += 1) {
        const { response, ms } = await login();
        assert.equal(response.status, 503);
        assert.ok(ms >= 300, `attempt ${i} waited ${ms} ms for the timeout`);
      }
      const { response, ms } = await login();
      assert.equal(response.status, 503);
      assert.equal((JSON.parse(response.body.toString()) as { errors: Array<{ code: string }> }).errors[0]?.code, 'UPSTREAM_UNAVAILABLE');
      assert.ok(ms < 200, `an open circuit answers at once (${ms} ms)`);
      assert.equal((await httpRequest(`${gateway.url}/v2/priv/app/tags/list`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
    } finally {
      await katello.setMode('up');
    }
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const { response: recovered } = await login();
    assert.equal(recovered.status, 200, 'after the open period one trial goes through, and it succeeds');
  });

  it('an upstream answering 500 is a 502 UPSTREAM_ERROR; wrong passwords never open the circuit', async () => {
    await katello.setMode('error-500');
    try {
      const { response } = await login();
      assert.equal(response.status, 502);
      assert.equal((JSON.parse(response.body.toString()) as { errors: Array<{ code: string }> }).errors[0]?.code, 'UPSTREAM_ERROR');
    } finally {
      await katello.setMode('up');
    }
    for (let i = 0; i < 5; i += 1) {
      const wrong = await httpRequest(`${gateway.url}/v2/token`, { headers: { authorization: `Basic ${Buffer.from('alice:nope').toString('base64')}` } });
      assert.equal(wrong.status, 401);
    }
    assert.equal((await login()).response.status, 200);
  });
});
