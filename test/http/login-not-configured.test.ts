/**
 * Logins when the management server is not configured: "not configured" is said as such (503),
 * never as "unreachable"; and beside a usable provider, the unconfigured `katello` is left out,
 * so a mistyped password is 401, not 503.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildApp } from '../../src/app.js';
import { testConfig } from '../support/config.js';

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('logins without upstream.url', () => {
  it('katello alone: 503 UPSTREAM_UNAVAILABLE saying "not configured"', async () => {
    const app = await buildApp(testConfig({ CG_BACKEND_URL: 'http://127.0.0.1:1' }));
    try {
      const response = await app.inject({ method: 'GET', url: '/v2/token', headers: { authorization: basic('alice', 'pw') } });
      assert.equal(response.statusCode, 503);
      const [error] = (JSON.parse(response.body) as { errors: Array<{ code: string; message: string }> }).errors;
      assert.equal(error?.code, 'UPSTREAM_UNAVAILABLE');
      assert.equal(error?.message, 'cannot log in: not configured (the gateway has no upstream.url for Katello logins)');
      const anonymous = await app.inject({ method: 'GET', url: '/v2/token' });
      assert.equal(anonymous.statusCode, 200, 'anonymous tokens need no provider');
    } finally {
      await app.close();
    }
  });

  it('katello beside static: a robot logs in, a wrong password is 401, not 503', async () => {
    const app = await buildApp(
      testConfig({ CG_BACKEND_URL: 'http://127.0.0.1:1', CG_IDENTITY_PROVIDERS: 'katello,static', CG_IDENTITY_STATIC_ROBOTS: '[{username: ci-robot, password: robot-pw}]' }),
    );
    try {
      assert.equal((await app.inject({ method: 'GET', url: '/v2/token', headers: { authorization: basic('ci-robot', 'robot-pw') } })).statusCode, 200);
      assert.equal((await app.inject({ method: 'GET', url: '/v2/token', headers: { authorization: basic('ci-robot', 'wrong') } })).statusCode, 401);
    } finally {
      await app.close();
    }
  });
});
