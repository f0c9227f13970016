/**
 * Brute force: failed logins are slowed, then refused with 429 and Retry-After without asking
 * Katello, while another user still logs in from the same address.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startFakeKatello, type FakeKatello } from '../fake-katello/fake-katello.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { httpRequest } from './harness/http-client.js';

const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

describe('failed-login limits', () => {
  let katello: FakeKatello;
  let gateway: RunningGateway;
  before(async () => {
    katello = await startFakeKatello({ users: { alice: { password: 'right', repositories: [] }, bob: { password: 'bobs', repositories: [] } } });
    gateway = await startGateway({
      backendUrl: 'http://127.0.0.1:1',
      upstreamUrl: katello.url,
      env: { CG_LIMITS_LOGINS_SLOW_AFTER: '2', CG_LIMITS_LOGINS_DELAY_MS: '300', CG_LIMITS_LOGINS_PER_ACCOUNT: '4', CG_LIMITS_LOGINS_PER_ADDRESS: '20', CG_LIMITS_LOGINS_WINDOW_SECONDS: '60' },
    });
  });
  after(async () => {
    await gateway?.stop();
    await katello?.stop();
  });

  it('a brute-force loop is slowed, then refused with 429 and Retry-After, without reaching Katello', async () => {
    const timings: number[] = [];
    for (let i = 0; i < 4; i += 1) {
      const started = Date.now();
      const response = await httpRequest(`${gateway.url}/v2/token`, { headers: basic('alice', `guess-${i}`) });
      timings.push(Date.now() - started);
      assert.equal(response.status, 401);
    }
    assert.ok(timings[3]! >= 280 && timings[2]! >= 280, `failures past the second are slowed: ${timings.join(', ')} ms`);
    katello.resetCounts();
    const refused = await httpRequest(`${gateway.url}/v2/token`, { headers: basic('alice', 'right') });
    assert.equal(refused.status, 429);
    assert.match(String(refused.headers['retry-after']), /^\d+$/);
    assert.ok(Number(refused.headers['retry-after']) > 0 && Number(refused.headers['retry-after']) <= 60);
    assert.equal((JSON.parse(refused.body.toString()) as { errors: Array<{ code: string }> }).errors[0]?.code, 'TOOMANYREQUESTS');
    assert.equal(katello.calls.token, 0, 'a refused attempt never reaches Katello');
  });

  it('meanwhile another user logs in from the same address', async () => {
    const response = await httpRequest(`${gateway.url}/v2/token`, { headers: basic('bob', 'bobs') });
    assert.equal(response.status, 200);
  });
});

describe('failed-login limits hold under concurrency: attempts are reserved when they start', () => {
  let katello: FakeKatello;
  let perAccount: RunningGateway;
  let perAddress: RunningGateway;
  before(async () => {
    // A slow Katello, so every attempt is in flight at once.
    katello = await startFakeKatello({ users: { alice: { password: 'right', repositories: [] } }, latencyMs: 300 });
    const limits = (account: string, address: string) => ({ CG_LIMITS_LOGINS_SLOW_AFTER: '100', CG_LIMITS_LOGINS_PER_ACCOUNT: account, CG_LIMITS_LOGINS_PER_ADDRESS: address, CG_LIMITS_LOGINS_WINDOW_SECONDS: '60' });
    perAccount = await startGateway({ backendUrl: 'http://127.0.0.1:1', upstreamUrl: katello.url, env: limits('5', '1000') });
    perAddress = await startGateway({ backendUrl: 'http://127.0.0.1:1', upstreamUrl: katello.url, env: limits('1000', '8') });
  });
  after(async () => {
    await perAccount?.stop();
    await perAddress?.stop();
    await katello?.stop();
  });

  it('40 concurrent wrong passwords for one account reach Katello at most perAccount (5) times', async () => {
    katello.resetCounts();
    const answers = await Promise.all(Array.from({ length: 40 }, (_unused, index) => httpRequest(`${perAccount.url}/v2/token`, { headers: basic('alice', `guess-${index}`) })));
    assert.ok(katello.calls.token <= 5, `Katello was asked ${katello.calls.token} times`);
    assert.equal(answers.filter((answer) => answer.status === 429).length, 40 - katello.calls.token);
    assert.ok(answers.every((answer) => answer.status === 401 || answer.status === 429));
  });

  it('40 concurrent logins of made-up accounts from one address reach Katello at most perAddress (8) times', async () => {
    katello.resetCounts();
    const answers = await Promise.all(Array.from({ length: 40 }, (_unused, index) => httpRequest(`${perAddress.url}/v2/token`, { headers: basic(`made-up-${index}`, 'guess') })));
    assert.ok(katello.calls.token <= 8, `Katello was asked ${katello.calls.token} times`);
    assert.ok(answers.every((answer) => answer.status === 401 || answer.status === 429));
  });

  it('a success releases its reservation: a correct password after the race still logs in on a fresh account', async () => {
    katello.setUser('carol', 'carols', []);
    const answers = await Promise.all(Array.from({ length: 3 }, () => httpRequest(`${perAccount.url}/v2/token`, { headers: basic('carol', 'carols') })));
    assert.deepEqual(answers.map((answer) => answer.status), [200, 200, 200]);
    for (let attempt = 0; attempt < 10; attempt += 1) assert.equal((await httpRequest(`${perAccount.url}/v2/token`, { headers: basic('carol', 'carols') })).status, 200);
  });
});
