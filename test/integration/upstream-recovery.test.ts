/**
 * The management server's circuit breaker as clients live it, against the fake Katello:
 * what a client sends (many or long scopes) never switches logins off for everybody, and when
 * the server comes back after an outage logins work again within two seconds, while a dead or
 * hanging server still costs the other clients no waiting.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startFakeKatello, type FakeKatello } from '../fake-katello/fake-katello.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { startScriptedBackend, type ScriptedBackend } from '../support/scripted-backend.js';
import { httpRequest } from './harness/http-client.js';

const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });
const codeOf = (body: Buffer) => (JSON.parse(body.toString()) as { errors?: Array<{ code: string }> }).errors?.[0]?.code;
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the management server circuit: only the server opens it, and it closes soon after recovery', () => {
  let katello: FakeKatello;
  let gateway: RunningGateway;
  before(async () => {
    katello = await startFakeKatello({ users: { alice: { password: 'right', repositories: [] } } });
    // Default circuit settings: what an operator gets.
    gateway = await startGateway({ backendUrl: 'http://127.0.0.1:1', upstreamUrl: katello.url, env: { CG_UPSTREAM_TIMEOUT_MS: '1500' } });
  });
  after(async () => {
    await gateway?.stop();
    await katello?.stop();
  });

  const login = (password = 'right', query = '') => httpRequest(`${gateway.url}/v2/token${query}`, { headers: basic('alice', password), timeoutMs: 15_000 });

  it('too many or too long scopes are refused at the edge (400) and never open the circuit', async () => {
    const longScope = `repository:${'a'.repeat(1000)}:pull`;
    const many = Array.from({ length: 55 }, (_unused, index) => `scope=repository:team/app${index}:pull`).join('&');
    katello.resetCounts();
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const mediumScope = `repository:${'b'.repeat(280)}:pull`;
      for (const query of [`?${many}`, `?scope=${longScope}`, `?${Array.from({ length: 20 }, () => `scope=${mediumScope}`).join('&')}`]) {
        const response = await httpRequest(`${gateway.url}/v2/token${query}`, { headers: basic('anyone', 'x') });
        assert.equal(response.status, 400, response.body.toString());
        assert.equal(codeOf(response.body), 'BAD_REQUEST');
        // Anonymous requests with the same scopes: the same refusal.
        assert.equal((await httpRequest(`${gateway.url}/v2/token${query}`)).status, 400);
      }
    }
    // Longer still is beyond what the gateway reads at all (16 KiB of headers): 431, before any scope is looked at.
    const huge = await httpRequest(`${gateway.url}/v2/token?${Array.from({ length: 55 }, () => `scope=${longScope}`).join('&')}`, { headers: basic('anyone', 'x') });
    assert.equal(huge.status, 431);
    assert.equal(codeOf(huge.body), 'BAD_REQUEST');
    assert.equal(katello.calls.token, 0, 'nothing of it reached the management server');
    assert.equal((await login()).status, 200, 'a correct password still logs in');
  });

  it('after an outage logins work again within two seconds of the recovery', async () => {
    assert.equal((await login()).status, 200);
    await katello.setMode('down-refuse');
    try {
      // An outage of a few seconds with clients trying all along.
      const outageEnds = Date.now() + 4_000;
      while (Date.now() < outageEnds) {
        const response = await login();
        assert.equal(response.status, 503);
        await pause(100);
      }
    } finally {
      await katello.setMode('up');
    }
    const recovered = Date.now();
    let status = 0;
    while (status !== 200 && Date.now() - recovered < 5_000) {
      status = (await login()).status;
      if (status !== 200) await pause(50);
    }
    const took = Date.now() - recovered;
    assert.equal(status, 200);
    assert.ok(took <= 2_000, `logins came back ${took} ms after the management server did`);
    const parallel = await Promise.all(Array.from({ length: 20 }, () => login()));
    assert.deepEqual(parallel.map((response) => response.status), Array.from({ length: 20 }, () => 200));
  });

  it('a hanging server: while the probe waits, everybody else gets 503 at once', async () => {
    await katello.setMode('hang');
    try {
      for (let attempt = 0; attempt < 3; attempt += 1) assert.equal((await login()).status, 503);
      await pause(1_100);
      const probe = login();
      await pause(100);
      const started = Date.now();
      const others = await Promise.all(Array.from({ length: 5 }, () => login()));
      const waited = Date.now() - started;
      assert.deepEqual(others.map((response) => response.status), [503, 503, 503, 503, 503]);
      assert.ok(waited < 500, `others waited ${waited} ms while the probe was out`);
      assert.equal((await probe).status, 503);
    } finally {
      await katello.setMode('up');
    }
  });
});

describe('a management server answering 4xx to what a client sent is not failing', () => {
  let upstream: ScriptedBackend;
  let gateway: RunningGateway;
  let refuseLongUrls = true;
  before(async () => {
    // A front proxy with a short URL limit, as Apache's LimitRequestLine: 414 for the client's request, not a dead server.
    upstream = await startScriptedBackend((request, response) => {
      response.setHeader('content-type', 'application/json');
      if (refuseLongUrls) {
        response.statusCode = 414;
        response.end('{"error":"URI too long"}');
        return;
      }
      response.end(request.url?.includes('_catalog') === true ? '{"repositories":[]}' : `{"token":"t-${Math.random().toString(36).slice(2)}","expires_in":300}`);
    });
    gateway = await startGateway({ backendUrl: 'http://127.0.0.1:1', upstreamUrl: upstream.url });
  });
  after(async () => {
    await gateway?.stop();
    await upstream?.close();
  });

  it('five 414s are five 502s, and the next good answer logs in at once', async () => {
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const response = await httpRequest(`${gateway.url}/v2/token?scope=repository:team/app:pull`, { headers: basic('alice', 'right') });
      assert.equal(response.status, 502, response.body.toString());
      assert.equal(codeOf(response.body), 'UPSTREAM_ERROR');
    }
    refuseLongUrls = false;
    const response = await httpRequest(`${gateway.url}/v2/token`, { headers: basic('alice', 'right') });
    assert.equal(response.status, 200, response.body.toString());
  });
});

