import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CircuitBreaker } from '../../../src/upstream/circuit-breaker.js';
import { UpstreamRejected, UpstreamUnavailable } from '../../../src/upstream/errors.js';

describe('CircuitBreaker', () => {
  let now = 0;
  const breaker = () => new CircuitBreaker({ failureThreshold: 3, openMs: 30_000, now: () => now });
  const fail = () => Promise.reject(new UpstreamUnavailable('down'));
  const ok = () => Promise.resolve('ok');

  it('opens after three consecutive failures and then fails without calling', async () => {
    now = 0;
    const circuit = breaker();
    for (let i = 0; i < 3; i += 1) await assert.rejects(circuit.run(fail));
    let called = false;
    await assert.rejects(circuit.run(async () => ((called = true), 'x')), UpstreamUnavailable);
    assert.equal(called, false);
    assert.equal(circuit.state, 'open');
  });

  it('lets one trial through after the open period; success closes it', async () => {
    now = 0;
    const circuit = breaker();
    for (let i = 0; i < 3; i += 1) await assert.rejects(circuit.run(fail));
    now = 30_001;
    assert.equal(circuit.state, 'half-open');
    assert.equal(await circuit.run(ok), 'ok');
    assert.equal(circuit.state, 'closed');
  });

  it('a failed trial opens it again for another period', async () => {
    now = 0;
    const circuit = breaker();
    for (let i = 0; i < 3; i += 1) await assert.rejects(circuit.run(fail));
    now = 30_001;
    await assert.rejects(circuit.run(fail));
    assert.equal(circuit.state, 'open');
  });

  it('a refused login is an answer, not a failure', async () => {
    now = 0;
    const circuit = breaker();
    for (let i = 0; i < 5; i += 1) await assert.rejects(circuit.run(() => Promise.reject(new UpstreamRejected('wrong password'))));
    assert.equal(circuit.state, 'closed');
  });
});
