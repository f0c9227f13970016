/** LoginThrottle (src/token/login-throttle.ts): attempts are counted when they start. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LoginThrottle, type LoginAttempt, type ThrottleVerdict } from '../../../src/token/login-throttle.js';

let clock = 0;
const now = () => clock;
const throttle = () => new LoginThrottle({ slowAfter: 2, delayMs: 500, perAccount: 3, perAddress: 5, windowMs: 60_000 });
const allowed = async (verdict: Promise<ThrottleVerdict>): Promise<LoginAttempt> => {
  const settled = await verdict;
  assert.ok(settled.allowed);
  return settled.attempt;
};
/** Whether the promise is still pending after the microtasks have run. */
const pending = async (promise: Promise<unknown>) => {
  let done = false;
  void promise.then(() => (done = true));
  await new Promise((resolve) => setImmediate(resolve));
  return !done;
};

describe('LoginThrottle', () => {
  it('attempts in flight count: a fourth concurrent attempt on an account waits; three failures then refuse it', async () => {
    clock = 0;
    const limits = throttle();
    const first = await Promise.all([0, 1, 2].map(() => allowed(limits.reserve('alice', '10.0.0.1', now))));
    const fourth = limits.reserve('alice', '10.0.0.2', now);
    assert.equal(await pending(fourth), true);
    for (const attempt of first) attempt.failed();
    const verdict = await fourth;
    assert.ok(!verdict.allowed && verdict.retryAfterSeconds === 60);
  });

  it('a waiting attempt goes ahead when one in flight succeeds', async () => {
    clock = 0;
    const limits = throttle();
    const first = await Promise.all([0, 1, 2].map(() => allowed(limits.reserve('robot', 'a', now))));
    const fourth = limits.reserve('robot', 'a', now);
    assert.equal(await pending(fourth), true);
    first[0]?.succeeded();
    assert.equal((await fourth).allowed, true);
  });

  it('the address limit counts attempts in flight across accounts too', async () => {
    clock = 0;
    const limits = throttle();
    const five = await Promise.all([0, 1, 2, 3, 4].map((i) => allowed(limits.reserve(`user-${i}`, '10.0.0.1', now))));
    assert.equal(await pending(limits.reserve('someone-else', '10.0.0.1', now)), true);
    assert.equal((await limits.reserve('someone-else', '10.0.0.9', now)).allowed, true);
    for (const attempt of five) attempt.failed();
  });

  it('a success forgets the account failures', async () => {
    clock = 0;
    const limits = throttle();
    (await allowed(limits.reserve('alice', 'a', now))).failed();
    (await allowed(limits.reserve('alice', 'a', now))).failed();
    (await allowed(limits.reserve('alice', 'a', now))).succeeded();
    for (let i = 0; i < 3; i += 1) (await allowed(limits.reserve('alice', 'a', now))).abandoned();
  });

  it('an abandoned attempt (upstream down) is given back, a failed one stays', async () => {
    clock = 0;
    const limits = throttle();
    for (let i = 0; i < 10; i += 1) (await allowed(limits.reserve('alice', 'a', now))).abandoned();
    for (let i = 0; i < 3; i += 1) (await allowed(limits.reserve('alice', 'a', now))).failed();
    assert.equal((await limits.reserve('alice', 'a', now)).allowed, false);
  });

  it('failures past slowAfter are slowed; an attempt settles once', async () => {
    clock = 0;
    const limits = new LoginThrottle({ slowAfter: 1, delayMs: 500, perAccount: 10, perAddress: 10, windowMs: 60_000 });
    assert.equal((await allowed(limits.reserve('alice', 'a', now))).failed(), 0);
    const second = await allowed(limits.reserve('alice', 'a', now));
    assert.equal(second.failed(), 500);
    assert.equal(second.failed(), 0);
    second.succeeded();
    assert.equal((await allowed(limits.reserve('alice', 'a', now))).failed(), 500, 'settling twice changed nothing');
  });

  it('the window ends: counting starts over', async () => {
    clock = 0;
    const limits = throttle();
    for (let i = 0; i < 3; i += 1) (await allowed(limits.reserve('alice', 'a', now))).failed();
    clock = 59_999;
    assert.equal((await limits.reserve('alice', 'a', now)).allowed, false);
    clock = 60_000;
    assert.equal((await limits.reserve('alice', 'a', now)).allowed, true);
  });
});
