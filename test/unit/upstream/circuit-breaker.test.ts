import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CircuitBreaker } from '../../../src/upstream/circuit-breaker.js';
import { UpstreamFailed, UpstreamRejected, UpstreamUnavailable } from '../../../src/upstream/errors.js';

describe('CircuitBreaker', () => {
  let now = 0;
  const breaker = () => new CircuitBreaker({ failureThreshold: 3, firstProbeMs: 1_000, maxProbeMs: 4_000, now: () => now });
  const fail = () => Promise.reject(new UpstreamUnavailable('down'));
  const ok = () => Promise.resolve('ok');
  const opened = async () => {
    now = 0;
    const circuit = breaker();
    for (let i = 0; i < 3; i += 1) await assert.rejects(circuit.run(fail));
    return circuit;
  };

  it('opens after three consecutive failures and then fails without calling', async () => {
    const circuit = await opened();
    let called = false;
    await assert.rejects(circuit.run(async () => ((called = true), 'x')), UpstreamUnavailable);
    assert.equal(called, false);
    assert.equal(circuit.state, 'open');
  });

  it('lets one probe through after about a second; success closes it', async () => {
    const circuit = await opened();
    now = 999;
    assert.equal(circuit.state, 'open');
    now = 1_000;
    assert.equal(circuit.state, 'half-open');
    assert.equal(await circuit.run(ok), 'ok');
    assert.equal(circuit.state, 'closed');
  });

  it('while the probe is out, every other call fails at once', async () => {
    const circuit = await opened();
    now = 1_000;
    let release: (value: string) => void = () => undefined;
    const probe = circuit.run(() => new Promise<string>((resolve) => (release = resolve)));
    let called = false;
    await assert.rejects(circuit.run(async () => ((called = true), 'x')), UpstreamUnavailable);
    assert.equal(called, false);
    release('ok');
    assert.equal(await probe, 'ok');
  });

  it('each failed probe doubles the wait, up to the cap; a success starts over at a second', async () => {
    const circuit = await opened();
    const waits: number[] = [];
    let at = 1_000;
    for (let probe = 0; probe < 4; probe += 1) {
      now = at;
      await assert.rejects(circuit.run(fail));
      let wait = 1;
      while (((now = at + wait), circuit.state) === 'open') wait += 1;
      waits.push(wait);
      at += wait;
    }
    assert.deepEqual(waits, [2_000, 4_000, 4_000, 4_000]);
    now = at;
    await circuit.run(ok);
    for (let i = 0; i < 3; i += 1) await assert.rejects(circuit.run(fail));
    now = at + 1_000;
    assert.equal(circuit.state, 'half-open', 'after a recovery the next outage is probed after a second again');
  });

  it('a refused login, or a 4xx a client caused, is an answer: it closes, never opens', async () => {
    for (const error of [new UpstreamRejected('wrong password'), new UpstreamFailed('too long', undefined, 414), new UpstreamFailed('too large', undefined, 431), new UpstreamFailed('no token')]) {
      now = 0;
      const circuit = breaker();
      for (let i = 0; i < 5; i += 1) await assert.rejects(circuit.run(() => Promise.reject(error)));
      assert.equal(circuit.state, 'closed', error.message);
    }
  });

  it('5xx answers count as failures', async () => {
    now = 0;
    const circuit = breaker();
    for (let i = 0; i < 3; i += 1) await assert.rejects(circuit.run(() => Promise.reject(new UpstreamFailed('boom', undefined, 503))));
    assert.equal(circuit.state, 'open');
  });
});
