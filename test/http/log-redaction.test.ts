/**
 * Secrets never reach the log: passwords, tokens (user, anonymous, management), cookies and
 * certificate headers sent by a test are searched for in everything the gateway logged at trace.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { MANAGEMENT_TOKEN, publishRepositories, testConfig } from '../support/config.js';
import { startScriptedBackend, type ScriptedBackend } from '../support/scripted-backend.js';

const PASSWORD = 'pw-that-must-never-be-logged-7c1f';
const UPSTREAM_TOKEN = 'upstream-token-that-must-never-be-logged-91ab';
const COOKIE = 'session=cookie-that-must-never-be-logged-33d0';
const CERT_HEADER = '-----BEGIN CERTIFICATE----- MIIcertificate-that-must-never-be-logged -----END CERTIFICATE-----';

describe('log redaction', () => {
  let upstream: ScriptedBackend;
  let app: FastifyInstance;
  let logged = '';

  before(async () => {
    upstream = await startScriptedBackend((req, res) => {
      res.setHeader('content-type', 'application/json');
      if (req.url?.includes('/token')) {
        const ok = req.headers.authorization === `Basic ${Buffer.from(`alice:${PASSWORD}`).toString('base64')}`;
        res.statusCode = ok ? 200 : 401;
        res.end(ok ? JSON.stringify({ token: UPSTREAM_TOKEN, expires_in: 300 }) : '{}');
      } else res.end(JSON.stringify({ repositories: ['priv/a'] }));
    });
    const logStream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logged += chunk.toString();
        done();
      },
    });
    app = await buildApp(testConfig({ CG_BACKEND_URL: 'http://127.0.0.1:1', CG_UPSTREAM_URL: upstream.url, CG_LOG_LEVEL: 'trace', CG_SERVER_TRUSTED_PROXIES: '127.0.0.1' }), { logStream });
    await publishRepositories(app, [{ name: 'priv/a', authRequired: true }]);
  });
  after(async () => {
    await app.close();
    await upstream.close();
  });

  it('nothing secret that a client sent appears in any log line', async () => {
    const basic = `Basic ${Buffer.from(`alice:${PASSWORD}`).toString('base64')}`;
    const wrong = `Basic ${Buffer.from(`alice:${PASSWORD}-wrong`).toString('base64')}`;
    const login = await app.inject({ method: 'GET', url: '/v2/token?scope=repository:priv/a:pull', headers: { authorization: basic, cookie: COOKIE } });
    assert.equal(login.statusCode, 200);
    const token = (JSON.parse(login.body) as { token: string }).token;
    await app.inject({ method: 'GET', url: '/v2/token', headers: { authorization: wrong } });
    await app.inject({ method: 'POST', url: '/v2/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `grant_type=password&username=alice&password=${PASSWORD}` });
    const anonymous = (JSON.parse((await app.inject({ method: 'GET', url: '/v2/token' })).body) as { token: string }).token;
    await app.inject({ method: 'GET', url: '/v2/priv/a/manifests/latest', headers: { authorization: `Bearer ${token}`, cookie: COOKIE, 'x-rhsm-ssl-client-cert': CERT_HEADER } });
    await app.inject({ method: 'GET', url: '/v2/', headers: { authorization: `Bearer ${anonymous}` } });
    await app.inject({ method: 'PUT', url: '/repository_list', headers: { authorization: `Bearer ${MANAGEMENT_TOKEN}`, 'content-type': 'application/json' }, payload: '{"repositories": [' });
    await app.inject({ method: 'GET', url: '/users', headers: { authorization: `Bearer ${MANAGEMENT_TOKEN}x` } });

    assert.ok(logged.split('\n').filter((line) => line !== '').length >= 8, 'the gateway did log these requests');
    for (const secret of [PASSWORD, Buffer.from(`alice:${PASSWORD}`).toString('base64'), UPSTREAM_TOKEN, token, anonymous, MANAGEMENT_TOKEN, 'cookie-that-must-never-be-logged', 'certificate-that-must-never-be-logged']) {
      assert.equal(logged.includes(secret), false, `the log contains a secret: ${secret.slice(0, 12)}…`);
    }
  });
});
