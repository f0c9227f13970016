/**
 * The static provider wired into the app: logins, the pull decision by rules, and SIGHUP's
 * reload (app.reloadSecrets, which cli.ts calls on SIGHUP) taking an edited htpasswd file and
 * new rules without a restart.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import bcrypt from 'bcryptjs';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { testConfig } from '../support/config.js';
import { startScriptedBackend, type ScriptedBackend } from '../support/scripted-backend.js';

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('static provider in the app', () => {
  let dir: string;
  let htpasswd: string;
  let backend: ScriptedBackend;
  let app: FastifyInstance;
  const settings = (rules: string) => ({
    CG_BACKEND_URL: backend.url,
    CG_BACKEND_MODE: 'proxy',
    CG_IDENTITY_PROVIDERS: 'static',
    CG_IDENTITY_STATIC_HTPASSWD: htpasswd,
    CG_IDENTITY_STATIC_RULES: rules,
  });
  const login = async (user: string, password: string) => {
    const response = await app.inject({ method: 'GET', url: '/v2/token?scope=repository:team/app:pull', headers: { authorization: basic(user, password) } });
    return { status: response.statusCode, token: response.statusCode === 200 ? (JSON.parse(response.body) as { token: string }).token : '' };
  };
  const tags = async (token: string) => (await app.inject({ method: 'GET', url: '/v2/team/app/tags/list', headers: { authorization: `Bearer ${token}` } })).statusCode;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cg-static-'));
    htpasswd = join(dir, 'users.htpasswd');
    writeFileSync(htpasswd, `alice:${bcrypt.hashSync('alice-pw', 4)}\n`);
    backend = await startScriptedBackend((_request, response) => {
      response.setHeader('content-type', 'application/json');
      response.end('{"name":"team/app","tags":["v1"]}');
    });
    app = await buildApp(testConfig(settings('[{subjects: [alice], repositories: ["team/*"], actions: [pull]}]')));
  });
  after(async () => {
    await app.close();
    await backend.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('logs alice in and lets her pull by rule; bob is unknown', async () => {
    const alice = await login('alice', 'alice-pw');
    assert.equal(alice.status, 200);
    assert.equal(await tags(alice.token), 200);
    assert.equal((await login('bob', 'bob-pw')).status, 401);
  });

  it('the OAuth2 password form (containerd, docker) gets the same signed token as access_token', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/v2/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      // The service is the public URL's host, which the test config leaves at its default listen address.
      payload: `grant_type=password&username=alice&password=alice-pw&scope=repository%3Ateam%2Fapp%3Apull&service=${encodeURIComponent('127.0.0.1:0')}`,
    });
    assert.equal(response.statusCode, 200, response.body);
    const body = JSON.parse(response.body) as { token: string; access_token: string; expires_in: number };
    assert.equal(body.access_token, body.token);
    assert.equal(await tags(body.access_token), 200);
    assert.equal(body.expires_in, 300);
  });

  it('a token for another service (a registry that trusts the gateway) is issued for it, and is no key to the gateway itself', async () => {
    const response = await app.inject({ method: 'GET', url: '/v2/token?service=registry.example&scope=repository:team/app:pull', headers: { authorization: basic('alice', 'alice-pw') } });
    assert.equal(response.statusCode, 200);
    const token = (JSON.parse(response.body) as { token: string }).token;
    assert.equal((JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as { aud: string }).aud, 'registry.example');
    assert.equal(await tags(token), 401, 'the gateway only takes tokens for its own services: this one counts as none');
    const garbage = await app.inject({ method: 'GET', url: `/v2/token?service=${encodeURIComponent('bad service\u0000')}`, headers: { authorization: basic('alice', 'alice-pw') } });
    assert.equal(garbage.statusCode, 400);
  });

  it('a reload takes a user added to the htpasswd file and a changed rule, without a restart', async () => {
    writeFileSync(htpasswd, `alice:${bcrypt.hashSync('alice-pw', 4)}\nbob:${bcrypt.hashSync('bob-pw', 4)}\n`);
    app.reloadSecrets(testConfig(settings('[{subjects: [bob], repositories: ["team/*"], actions: [pull]}]')));
    const bob = await login('bob', 'bob-pw');
    assert.equal(bob.status, 200);
    assert.equal(await tags(bob.token), 200);
    // alice's token still says who she is, but the rule that let her pull is gone.
    const alice = await login('alice', 'alice-pw');
    assert.equal(await tags(alice.token), 404);
  });
});
