/** A management update is recorded once: one audit line, not a second copy in the request log. */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { buildApp } from '../../src/app.js';
import { publishRepositories, testConfig } from '../support/config.js';

describe('management updates in the logs', () => {
  it('one PUT /repository_list gives one "management update" line across the request and audit logs', async () => {
    const lines: string[] = [];
    // Both logs go to stdout in a default deployment: one sink here, as there.
    const stdout = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(...chunk.toString().split('\n').filter((line) => line !== ''));
        done();
      },
    });
    const app = await buildApp(testConfig({ CG_BACKEND_URL: 'http://127.0.0.1:1', CG_LOG_LEVEL: 'info', CG_AUDIT_DESTINATION: 'stdout' }), { logStream: stdout, auditStream: stdout });
    try {
      await publishRepositories(app, [{ name: 'pub/a' }]);
      await new Promise((resolve) => setImmediate(resolve));
      const updates = lines.filter((line) => line.includes('management update'));
      assert.equal(updates.length, 1, updates.join('\n'));
      assert.equal((JSON.parse(updates[0] ?? '{}') as { audit?: boolean }).audit, true);
      const requestLines = lines.map((line) => JSON.parse(line) as { msg?: string; path?: string });
      assert.ok(requestLines.some((line) => line.msg === 'request' && line.path === '/repository_list'), 'the request itself is still in the request log');
    } finally {
      await app.close();
    }
  });
});
