/**
 * A backend whose registry API is not at the root: on a Katello capsule, Pulp answers at
 * `https://capsule/pulpcore_registry/v2/...` (smart_proxy_container_gateway's
 * container_gateway_main.rb builds every backend URL as `#{pulp_endpoint}/pulpcore_registry/...`).
 * Here a real Distribution runs with `http.prefix: /pulpcore_registry/` and token auth whose realm is
 * the gateway, so every call must carry the prefix *and* name the right repository in its scope:
 * push (upload Locations come back with the prefix and are rewritten to the gateway's own `/v2/`),
 * pull with skopeo, tag and catalog pages, readiness — and the same requests through the gateway's
 * own `/container_gateway` mount.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import bcrypt from 'bcryptjs';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { httpRequest } from './harness/http-client.js';
import { writeImageLayout } from './harness/oci-layout.js';
import type { RunningRegistry } from './harness/registry.js';
import { startTokenAuthRegistry } from '../support/token-auth-registry.js';
import { runSkopeo, skopeoInspect } from './harness/skopeo.js';

const PREFIX = '/pulpcore_registry/';
const ISSUER = 'gateway-under-path-test';
const SERVICE = 'pulp-like';
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('a backend registry served under a path (Pulp at /pulpcore_registry)', () => {
  let dir: string;
  let registry: RunningRegistry;
  let gateway: RunningGateway;
  let host: string;

  const tokenFor = async (scope: string): Promise<string> => {
    const response = await httpRequest(`${gateway.url}/v2/token?scope=${encodeURIComponent(scope)}`, { headers: { authorization: basic('alice', 'alice-pw') } });
    assert.equal(response.status, 200, response.body.toString());
    return (JSON.parse(response.body.toString()) as { token: string }).token;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cg-under-path-'));
    const htpasswd = join(dir, 'users.htpasswd');
    writeFileSync(htpasswd, `alice:${bcrypt.hashSync('alice-pw', 5)}\n`);
    const started = await startTokenAuthRegistry(dir, { issuer: ISSUER, service: SERVICE, registry: { prefix: PREFIX } });
    const { port } = started;
    registry = started.registry;
    gateway = await startGateway({
      port,
      backendUrl: `${registry.url}/pulpcore_registry`,
      env: {
        CG_IDENTITY_PROVIDERS: 'static',
        CG_IDENTITY_STATIC_HTPASSWD: htpasswd,
        CG_IDENTITY_STATIC_ROBOTS: '[{username: robot, password: robot-secret}]',
        CG_IDENTITY_STATIC_RULES: '[{subjects: [alice], repositories: ["team/**"], actions: [pull, push]}, {subjects: [robot], repositories: ["**"], actions: [pull, push]}]',
        CG_BACKEND_MODE: 'proxy',
        ...started.gatewayEnv({ username: 'robot', password: 'robot-secret' }),
      },
    });
    host = new URL(gateway.url).host;
    const layout = join(dir, 'layout');
    await writeImageLayout(layout, { tag: 'v1', seed: 'under-path' });
    for (const tag of ['v1', 'v2', 'v3']) {
      await runSkopeo('copy', ({ authfile }) => ['--quiet', '--retry-times', '0', '--dest-tls-verify=false', '--dest-authfile', authfile, '--dest-creds', 'alice:alice-pw', `oci:${layout}:v1`, `docker://${host}/team/app:${tag}`], { timeoutMs: 120_000 });
    }
  });
  after(async () => {
    await gateway?.stop();
    await registry?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('the pushed image is in the registry under its path, not at the root', async () => {
    const robot = await httpRequest(`${gateway.url}/v2/token?scope=repository:team/app:pull&service=${SERVICE}`, { headers: { authorization: basic('robot', 'robot-secret') } });
    const token = (JSON.parse(robot.body.toString()) as { token: string }).token;
    const underPath = await httpRequest(`${registry.url}${PREFIX}v2/team/app/tags/list`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(underPath.status, 200, underPath.body.toString());
    assert.deepEqual((JSON.parse(underPath.body.toString()) as { tags: string[] }).tags.sort(), ['v1', 'v2', 'v3']);
    assert.equal((await httpRequest(`${registry.url}/v2/team/app/tags/list`, { headers: { authorization: `Bearer ${token}` } })).status, 404);
  });

  it('skopeo pulls it back through the gateway', async () => {
    const inspected = await skopeoInspect(`docker://${host}/team/app:v2`, { creds: 'alice:alice-pw' });
    assert.equal(inspected.Name, `${host}/team/app`);
    await runSkopeo('copy', ({ authfile }) => ['--quiet', '--retry-times', '0', '--src-tls-verify=false', '--authfile', authfile, '--src-creds', 'alice:alice-pw', `docker://${host}/team/app:v3`, `dir:${join(dir, 'pulled')}`]);
  });

  it('tag pages and the catalog come from the backend under its path; the gateway\'s links are its own', async () => {
    const token = await tokenFor('repository:team/app:pull');
    const first = await httpRequest(`${gateway.url}/v2/team/app/tags/list?n=2`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(first.status, 200);
    assert.deepEqual((JSON.parse(first.body.toString()) as { tags: string[] }).tags, ['v1', 'v2']);
    assert.equal(first.headers.link, '</v2/team/app/tags/list?n=2&last=v2>; rel="next"');
    const second = await httpRequest(`${gateway.url}/v2/team/app/tags/list?last=v2&n=2`, { headers: { authorization: `Bearer ${token}` } });
    assert.deepEqual((JSON.parse(second.body.toString()) as { tags: string[] }).tags, ['v3']);
    const catalog = await httpRequest(`${gateway.url}/v2/_catalog`, { headers: { authorization: `Bearer ${token}` } });
    assert.deepEqual(JSON.parse(catalog.body.toString()), { repositories: ['team/app'] });
  });

  it('answers the same under /container_gateway, the mount Katello and a capsule\'s Apache use', async () => {
    const token = await tokenFor('repository:team/app:pull');
    for (const path of ['/v2/team/app/manifests/v1', '/v2/team/app/tags/list', '/v2/']) {
      const root = await httpRequest(`${gateway.url}${path}`, { headers: { authorization: `Bearer ${token}`, accept: 'application/vnd.oci.image.manifest.v1+json' } });
      const mounted = await httpRequest(`${gateway.url}/container_gateway${path}`, { headers: { authorization: `Bearer ${token}`, accept: 'application/vnd.oci.image.manifest.v1+json' } });
      assert.equal(root.status, 200, path);
      assert.equal(mounted.status, 200, path);
      assert.deepEqual(mounted.body, root.body, path);
    }
    const challenge = await httpRequest(`${gateway.url}/container_gateway/v2/`);
    assert.equal(challenge.status, 401);
    assert.match(String(challenge.headers['www-authenticate']), new RegExp(`^Bearer realm="http://${host}/v2/token"`));
  });

  it('is ready: its readiness probe reaches the backend under the path', async () => {
    const ready = await httpRequest(`${gateway.url}/readyz`);
    assert.equal(ready.status, 200, ready.body.toString());
  });
});
