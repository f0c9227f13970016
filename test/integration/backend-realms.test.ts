/**
 * Where the robot's credentials (backend.auth) may go: the backend's own origin, the gateway's
 * own token endpoint, and the token services listed in backend.auth.realms. A real Distribution
 * whose Bearer challenge names a realm elsewhere (a recording server on another loopback port)
 * must never receive them: the request is a 502 that names the realm, and `check` fails.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { startScriptedBackend, type ScriptedBackend } from '../support/scripted-backend.js';
import { startTokenAuthRegistry } from '../support/token-auth-registry.js';
import { httpRequest } from './harness/http-client.js';
import type { RunningRegistry } from './harness/registry.js';

const CLI = join(process.cwd(), 'dist', 'cli.js');
const ROBOT = { CG_BACKEND_AUTH_USERNAME: 'robot', CG_BACKEND_AUTH_PASSWORD: 'robot-secret-never-elsewhere' };

describe('robot credentials go only to allowed token services', () => {
  let dir: string;
  let elsewhere: ScriptedBackend;
  let registry: RunningRegistry;
  let realm: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cg-realms-'));
    elsewhere = await startScriptedBackend((_request, response) => {
      response.setHeader('content-type', 'application/json');
      response.end('{"token":"not-a-real-token","expires_in":300}');
    });
    realm = `${elsewhere.url}/token`;
    registry = (await startTokenAuthRegistry(dir, { issuer: 'someone-else', service: 'registry-elsewhere', realm })).registry;
  });
  after(async () => {
    await registry?.stop();
    await elsewhere?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const gatewayWith = (env: Record<string, string> = {}): Promise<RunningGateway> =>
    startGateway({
      backendUrl: registry.url,
      env: {
        ...ROBOT,
        CG_BACKEND_MODE: 'proxy',
        CG_IDENTITY_PROVIDERS: 'static',
        CG_IDENTITY_STATIC_RULES: '[{subjects: [anonymous], repositories: ["pub/**"], actions: [pull]}]',
        ...env,
      },
    });
  const credentialsSeen = () => elsewhere.requests.filter((request) => request.headers.authorization !== undefined).length;

  it('a realm on another origin, not listed: 502 naming the realm, and the credentials stay home', async () => {
    const gateway = await gatewayWith();
    try {
      elsewhere.requests.length = 0;
      for (const path of ['/v2/pub/app/tags/list', `/v2/pub/other/manifests/latest`]) {
        const response = await httpRequest(`${gateway.url}${path}`);
        assert.equal(response.status, 502, response.body.toString());
        const error = (JSON.parse(response.body.toString()) as { errors: Array<{ code: string; message: string }> }).errors[0];
        assert.equal(error?.code, 'BACKEND_ERROR');
        assert.ok(error?.message.includes(realm), error?.message);
      }
      assert.equal(credentialsSeen(), 0, 'the robot credentials were sent to a realm nobody configured');
    } finally {
      await gateway.stop();
    }
  });

  it('listed in backend.auth.realms, the same realm is asked with the robot credentials', async () => {
    const gateway = await gatewayWith({ CG_BACKEND_AUTH_REALMS: realm });
    try {
      elsewhere.requests.length = 0;
      await httpRequest(`${gateway.url}/v2/pub/app/tags/list`);
      assert.ok(credentialsSeen() > 0, 'a configured realm gets the credentials');
    } finally {
      await gateway.stop();
    }
  });

  it('check fails naming the realm, unless it is listed', () => {
    const env = { PATH: process.env.PATH ?? '', CG_CONFIG: '/dev/null', CG_DATABASE_URL: `sqlite://${join(dir, 'check.db')}`, CG_BACKEND_URL: registry.url, ...ROBOT };
    elsewhere.requests.length = 0;
    const refused = spawnSync(process.execPath, [CLI, 'check'], { env, encoding: 'utf8', timeout: 30_000 });
    assert.equal(refused.status, 1, refused.stdout + refused.stderr);
    assert.match(refused.stdout, new RegExp(`FAIL backend.*${realm.replaceAll('.', '\\.')}`));
    assert.equal(credentialsSeen(), 0);
    const listed = spawnSync(process.execPath, [CLI, 'check'], { env: { ...env, CG_BACKEND_AUTH_REALMS: realm }, encoding: 'utf8', timeout: 30_000 });
    assert.doesNotMatch(listed.stdout, new RegExp(`FAIL .*${realm.replaceAll('.', '\\.')}`), listed.stdout);
  });
});
