/** The audit log: denials, logins (never the password) and management updates, one JSON line each. */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { MANAGEMENT_TOKEN, publishRepositories, testConfig } from '../support/config.js';
import { startScriptedBackend, type ScriptedBackend } from '../support/scripted-backend.js';

describe('audit log', () => {
  let upstream: ScriptedBackend;
  let app: FastifyInstance;
  const lines: Array<Record<string, unknown>> = [];

  before(async () => {
    upstream = await startScriptedBackend((req, res) => {
      res.setHeader('content-type', 'application/json');
      const ok = req.headers.authorization === `Basic ${Buffer.from('alice:secret-pw').toString('base64')}`;
      res.statusCode = ok ? 200 : 401;
      res.end(ok ? (req.url?.includes('/token') ? '{"token":"tok-1234567890abcdef"}' : '{"repositories":[]}') : '{}');
    });
    const auditStream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    app = await buildApp(testConfig({ CG_BACKEND_URL: 'http://127.0.0.1:1', CG_UPSTREAM_URL: upstream.url, CG_AUDIT_DESTINATION: 'stdout' }), { auditStream });
    await publishRepositories(app, [{ name: 'priv/a', authRequired: true }]);
  });
  after(async () => {
    await app.close();
    await upstream.close();
  });

  it('records denials, logins and management updates, with who and what, never the password', async () => {
    await app.inject({ method: 'GET', url: '/v2/' });
    await app.inject({ method: 'GET', url: '/v2/priv/a/manifests/latest' });
    await app.inject({ method: 'GET', url: '/v2/token', headers: { authorization: `Basic ${Buffer.from('alice:secret-pw').toString('base64')}` } });
    await app.inject({ method: 'GET', url: '/v2/token', headers: { authorization: `Basic ${Buffer.from('alice:wrong-pw').toString('base64')}` } });
    await app.inject({ method: 'PUT', url: '/repository_list', headers: { authorization: `Bearer ${MANAGEMENT_TOKEN}` }, payload: { repositories: [{ repository: 'priv/a', auth_required: true }, { repository: 'new/b', auth_required: false }] } });
    await new Promise((resolve) => setImmediate(resolve));

    const denials = lines.filter((line) => line.event === 'access denied');
    assert.equal(denials.length, 1, 'the /v2/ challenge of the token dance is not audited as a denial');
    const denial = denials[0];
    assert.equal(denial?.audit, true);
    assert.equal(denial?.identity, 'anonymous');
    assert.equal(denial?.repository, 'priv/a');
    assert.equal(denial?.reason, 'login-required');
    const logins = lines.filter((line) => line.event === 'login');
    assert.deepEqual(logins.map((line) => [line.user, line.outcome, line.status]), [['alice', 'success', 200], ['alice', 'rejected', 401]]);
    const update = lines.filter((line) => line.event === 'management update').at(-1);
    assert.equal(update?.endpoint, 'repository_list');
    assert.equal(update?.by, 'token #1');
    assert.equal(update?.added, 1);
    assert.equal(update?.total, 2);
    assert.equal(JSON.stringify(lines).includes('secret-pw'), false);
    assert.equal(JSON.stringify(lines).includes('wrong-pw'), false);
  });
});
