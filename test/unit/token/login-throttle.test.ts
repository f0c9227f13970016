/** LoginThrottle (src/token/login-throttle.ts): attempts are counted when they start. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LoginThrottle } from '../../../src/token/login-throttle.js';

const throttle = () => new LoginThrottle({ slowAfter: 2, delayMs: 500, perAccount: 3, perAddress: 5, windowMs: 60_000 });
const allowed = (verdict: ReturnType<LoginThrottle['reserve']>) => {
  assert.ok(verdict.allowed);
  return verdict.attempt;
};

describe('LoginThrottle', () => {
  it('attempts in flight count: the fourth concurrent attempt on an account is refused', () => {
    const limits = throttle();
    for (let i = 0; i < 3; i += 1) allowed(limits.reserve('alice', '10.0.0.1', 0));
    const fourth = limits.reserve('alice', '10.0.0.2', 0);
    assert.equal(fourth.allowed, false);
    assert.ok(!fourth.allowed && fourth.retryAfterSeconds === 60);
  });

  it('attempts in flight count per address too, across accounts', () => {
    const limits = throttle();
    for (let i = 0; i < 5; i += 1) allowed(limits.reserve(`user-${i}`, '10.0.0.1', 0));
    assert.equal(limits.reserve('someone-else', '10.0.0.1', 0).allowed, false);
    assert.equal(limits.reserve('someone-else', '10.0.0.9', 0).allowed, true);
  });

  it('a success gives its reservation back and forgets the account failures', () => {
    const limits = throttle();
    allowed(limits.reserve('alice', 'a', 0)).failed();
    allowed(limits.reserve('alice', 'a', 0)).failed();
    allowed(limits.reserve('alice', 'a', 0)).succeeded();
    for (let i = 0; i < 3; i += 1) allowed(limits.reserve('alice', 'a', 0));
  });

  it('an abandoned attempt (upstream down) is given back, a failed one stays', () => {
    const limits = throttle();
    for (let i = 0; i < 10; i += 1) allowed(limits.reserve('alice', 'a', 0)).abandoned();
    for (let i = 0; i < 3; i += 1) allowed(limits.reserve('alice', 'a', 0)).failed();
    assert.equal(limits.reserve('alice', 'a', 0).allowed, false);
  });

  it('failures past slowAfter are slowed; an attempt settles once', () => {
    const limits = new LoginThrottle({ slowAfter: 1, delayMs: 500, perAccount: 10, perAddress: 10, windowMs: 60_000 });
    assert.equal(allowed(limits.reserve('alice', 'a', 0)).failed(), 0);
    const second = allowed(limits.reserve('alice', 'a', 0));
    assert.equal(second.failed(), 500);
    assert.equal(second.failed(), 0);
    second.succeeded();
    assert.equal(allowed(limits.reserve('alice', 'a', 0)).failed(), 500, 'settling twice changed nothing');
  });

  it('the window ends: counting starts over', () => {
    const limits = throttle();
    for (let i = 0; i < 3; i += 1) allowed(limits.reserve('alice', 'a', 0)).failed();
    assert.equal(limits.reserve('alice', 'a', 59_999).allowed, false);
    assert.equal(limits.reserve('alice', 'a', 60_000).allowed, true);
  });
});
