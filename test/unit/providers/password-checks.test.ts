/** PasswordChecks (src/providers/password-checks.ts): bcrypt on worker threads, with a bounded queue. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import bcrypt from 'bcryptjs';
import { PasswordChecks, PasswordChecksBusy } from '../../../src/providers/password-checks.js';

const hash = bcrypt.hashSync('right', 4);

describe('PasswordChecks', () => {
  it('answers what bcrypt answers; a malformed hash matches nothing', async () => {
    const checks = new PasswordChecks({ workers: 2, queue: 10 });
    try {
      assert.equal(await checks.compare('right', hash), true);
      assert.equal(await checks.compare('wrong', hash), false);
      assert.equal(await checks.compare('right', 'not-a-hash'), false);
    } finally {
      await checks.close();
    }
  });

  it('past the queue a check is refused at once; the ones taken still answer', async () => {
    const checks = new PasswordChecks({ workers: 1, queue: 2 });
    try {
      const slow = bcrypt.hashSync('x', 10);
      const outcomes = await Promise.allSettled(Array.from({ length: 6 }, () => checks.compare('x', slow)));
      assert.deepEqual(outcomes.map((outcome) => outcome.status), ['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'rejected', 'rejected']);
      for (const outcome of outcomes) if (outcome.status === 'rejected') assert.ok(outcome.reason instanceof PasswordChecksBusy);
      assert.deepEqual(checks.load, { running: 0, waiting: 0 });
    } finally {
      await checks.close();
    }
  });

  it('after close, checks are refused', async () => {
    const checks = new PasswordChecks({ workers: 1, queue: 2 });
    await checks.close();
    await assert.rejects(checks.compare('x', hash), PasswordChecksBusy);
  });

  it('workers start with the first check and stop once idle; a later check starts one again', async () => {
    const checks = new PasswordChecks({ workers: 2, queue: 10, idleMs: 0 });
    try {
      assert.equal(checks.threads, 0, 'no thread before any check');
      assert.equal(await checks.compare('right', hash), true);
      for (let attempt = 0; checks.threads > 0 && attempt < 500; attempt += 1) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.equal(checks.threads, 0, 'the idle worker stopped');
      assert.equal(await checks.compare('wrong', hash), false);
    } finally {
      await checks.close();
    }
  });
});
