/**
 * The qci-appci world: users of the `static` provider log in at the gateway, which issues its
 * own ES256 JWTs, and push and pull through it to a CNCF Distribution that runs `auth: token`
 * with the gateway as its realm and the gateway's certificate as its only trusted signer. The
 * gateway reaches that registry with a robot account (backend.auth), following the registry's
 * Bearer challenge back to its own token endpoint. And because the tokens are standard, skopeo
 * can also take one straight to the registry.
 *
 * A second registry with htpasswd auth is the private quay-like backend reached with Basic
 * robot credentials: the users' own credentials never reach it (they are not in its htpasswd).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import bcrypt from 'bcryptjs';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { startTokenAuthRegistry } from '../support/token-auth-registry.js';
import { httpRequest } from './harness/http-client.js';
import { writeImageLayout } from './harness/oci-layout.js';
import { startRegistry, type RunningRegistry } from './harness/registry.js';
import { runSkopeo, skopeoInspect } from './harness/skopeo.js';

const ISSUER = 'container-gateway-test';
const SERVICE = 'registry-a';
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
}

async function tokenFor(gatewayUrl: string, user: string, password: string, scope: string, service?: string): Promise<{ status: number; token: string; body: string }> {
  const query = new URLSearchParams({ scope, ...(service === undefined ? {} : { service }) });
  const response = await httpRequest(`${gatewayUrl}/v2/token?${query.toString()}`, { headers: { authorization: basic(user, password) } });
  const body = response.body.toString();
  return { status: response.status, body, token: response.status === 200 ? (JSON.parse(body) as { token: string }).token : '' };
}

function htpasswdLine(user: string, password: string): string {
  return `${user}:${bcrypt.hashSync(password, 5)}`;
}

function staticIdentityEnv(dir: string): Record<string, string> {
  const htpasswd = join(dir, 'users.htpasswd');
  writeFileSync(htpasswd, [htpasswdLine('alice', 'alice-pw'), htpasswdLine('bob', 'bob-pw'), ''].join('\n'));
  return {
    CG_IDENTITY_PROVIDERS: 'static',
    CG_IDENTITY_STATIC_HTPASSWD: htpasswd,
    CG_IDENTITY_STATIC_ROBOTS: '[{username: robot, password: robot-secret}]',
    CG_IDENTITY_STATIC_GROUPS: '{readers: [bob]}',
    CG_IDENTITY_STATIC_RULES:
      '[{subjects: [alice], repositories: ["team/**"], actions: [pull, push]}, {subjects: ["group:readers"], repositories: ["team/*"], actions: [pull]}, {subjects: [robot], repositories: ["**"], actions: [pull, push]}]',
    CG_BACKEND_MODE: 'proxy',
  };
}

describe('gateway-issued tokens in front of a Distribution with token auth', () => {
  let dir: string;
  let registry: RunningRegistry;
  let gateway: RunningGateway;
  let layout: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cg-jwt-'));
    const started = await startTokenAuthRegistry(dir, { issuer: ISSUER, service: SERVICE });
    const { port } = started;
    registry = started.registry;
    gateway = await startGateway({
      port,
      backendUrl: registry.url,
      env: {
        ...staticIdentityEnv(dir),
        ...started.gatewayEnv({ username: 'robot', password: 'robot-secret' }),
      },
    });
    layout = join(dir, 'layout');
    await writeImageLayout(layout, { tag: 'v1', seed: 'gateway-tokens' });
  });
  after(async () => {
    await gateway?.stop();
    await registry?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a token carries the claims Distribution expects, narrowed to what the rules grant', async () => {
    const { status, token } = await tokenFor(gateway.url, 'bob', 'bob-pw', 'repository:team/app:pull,push', SERVICE);
    assert.equal(status, 200);
    const header = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString()) as { alg: string; kid: string };
    assert.equal(header.alg, 'ES256');
    assert.match(header.kid, /^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);
    const claims = claimsOf(token);
    assert.equal(claims.iss, ISSUER);
    assert.equal(claims.sub, 'bob');
    assert.equal(claims.aud, SERVICE);
    for (const claim of ['exp', 'nbf', 'iat']) assert.equal(typeof claims[claim], 'number', claim);
    assert.equal(typeof claims.jti, 'string');
    assert.deepEqual(claims.access, [{ type: 'repository', name: 'team/app', actions: ['pull'] }]);
  });

  it('alice pushes an image through the gateway with skopeo, and bob pulls it through the gateway', async () => {
    const host = new URL(gateway.url).host;
    await runSkopeo('copy', ({ authfile }) => ['--quiet', '--retry-times', '0', '--dest-tls-verify=false', '--dest-authfile', authfile, '--dest-creds', 'alice:alice-pw', `oci:${layout}:v1`, `docker://${host}/team/app:v1`], { timeoutMs: 120_000 });
    const inspected = await skopeoInspect(`docker://${host}/team/app:v1`, { creds: 'bob:bob-pw' });
    assert.equal(inspected.Name, `${host}/team/app`);
    const pulled = join(dir, 'pulled');
    await runSkopeo('copy', ({ authfile }) => ['--quiet', '--retry-times', '0', '--src-tls-verify=false', '--authfile', authfile, '--src-creds', 'bob:bob-pw', `docker://${host}/team/app:v1`, `dir:${pulled}`]);
  });

  it('the gateway token works at the registry directly: skopeo logs in at the gateway realm the registry names', async () => {
    const registryHost = new URL(registry.url).host;
    const inspected = await skopeoInspect(`docker://${registryHost}/team/app:v1`, { creds: 'bob:bob-pw' });
    assert.equal(inspected.Name, `${registryHost}/team/app`);
    // And the registry enforces the access claim: bob has no push there either.
    const pushAttempt = await runSkopeo('copy', ({ authfile }) => ['--quiet', '--retry-times', '0', '--dest-tls-verify=false', '--dest-authfile', authfile, '--dest-creds', 'bob:bob-pw', `oci:${layout}:v1`, `docker://${registryHost}/team/app:bob`]).then(
      () => 'pushed',
      () => 'refused',
    );
    assert.equal(pushAttempt, 'refused');
  });

  it('a user granted pull only gets 403 DENIED on push; a repository outside their rules is unknown', async () => {
    const bob = (await tokenFor(gateway.url, 'bob', 'bob-pw', 'repository:team/app:pull,push')).token;
    const upload = await httpRequest(`${gateway.url}/v2/team/app/blobs/uploads/`, { method: 'POST', headers: { authorization: `Bearer ${bob}` } });
    assert.equal(upload.status, 403, upload.body.toString());
    assert.equal((JSON.parse(upload.body.toString()) as { errors: Array<{ code: string }> }).errors[0]?.code, 'DENIED');
    const hidden = await httpRequest(`${gateway.url}/v2/other/app/blobs/uploads/`, { method: 'POST', headers: { authorization: `Bearer ${bob}` } });
    const missing = await httpRequest(`${gateway.url}/v2/team/deep/app/manifests/v1`, { headers: { authorization: `Bearer ${bob}` } });
    assert.equal(hidden.status, 404);
    assert.equal(missing.status, 404);
    assert.deepEqual(JSON.parse(hidden.body.toString()), JSON.parse(missing.body.toString()));
  });

  it('an upload finished by one PUT and a manifest PUT go through for alice; Locations point at the gateway', async () => {
    const alice = (await tokenFor(gateway.url, 'alice', 'alice-pw', 'repository:team/mono:pull,push')).token;
    const auth = { authorization: `Bearer ${alice}` };
    const config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
    const { createHash } = await import('node:crypto');
    const digest = `sha256:${createHash('sha256').update(config).digest('hex')}`;
    const start = await httpRequest(`${gateway.url}/v2/team/mono/blobs/uploads/`, { method: 'POST', headers: auth });
    assert.equal(start.status, 202, start.body.toString());
    const location = String(start.headers.location);
    assert.ok(location.startsWith(gateway.url), location);
    const put = await httpRequest(`${location}${location.includes('?') ? '&' : '?'}digest=${digest}`, {
      method: 'PUT',
      headers: { ...auth, 'content-type': 'application/octet-stream', 'content-length': String(config.length) },
      body: config,
    });
    assert.equal(put.status, 201, put.body.toString());
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest, size: config.length }, layers: [] }));
    const putManifest = await httpRequest(`${gateway.url}/v2/team/mono/manifests/v1`, {
      method: 'PUT',
      headers: { ...auth, 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
      body: manifest,
    });
    assert.equal(putManifest.status, 201, putManifest.body.toString());
    const fetched = await httpRequest(`${gateway.url}/v2/team/mono/manifests/v1`, { headers: { ...auth, accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(fetched.status, 200);
    assert.deepEqual(fetched.body, manifest);
    // A manifest naming a blob the registry lacks: the registry's own explanation reaches the client.
    const broken = await httpRequest(`${gateway.url}/v2/team/mono/manifests/broken`, {
      method: 'PUT',
      headers: { ...auth, 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
      body: Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${'0'.repeat(64)}`, size: 2 }, layers: [] })),
    });
    assert.equal(broken.status, 400, broken.body.toString());
    assert.equal((JSON.parse(broken.body.toString()) as { errors: Array<{ code: string }> }).errors[0]?.code, 'MANIFEST_BLOB_UNKNOWN');
  });

  it('a manifest over 4 MiB is refused, whether it says its length or streams it chunked', async () => {
    const alice = (await tokenFor(gateway.url, 'alice', 'alice-pw', 'repository:team/big:pull,push')).token;
    const huge = Buffer.alloc(4 * 1024 * 1024 + 1, 0x20);
    const declared = await httpRequest(`${gateway.url}/v2/team/big/manifests/v1`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
      body: huge,
    });
    assert.equal(declared.status, 400, declared.body.toString());
    assert.equal((JSON.parse(declared.body.toString()) as { errors: Array<{ code: string }> }).errors[0]?.code, 'BODY_TOO_LARGE');
    const { request } = await import('undici');
    const { Readable } = await import('node:stream');
    const chunked = await request(`${gateway.url}/v2/team/big/manifests/v1`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
      body: Readable.from([huge.subarray(0, 2 * 1024 * 1024), huge.subarray(2 * 1024 * 1024)]),
    });
    const text = await chunked.body.text();
    assert.equal(chunked.statusCode, 400, text);
    assert.equal((JSON.parse(text) as { errors: Array<{ code: string }> }).errors[0]?.code, 'BODY_TOO_LARGE');
    assert.equal((await httpRequest(`${gateway.url}/v2/team/big/manifests/v1`, { headers: { authorization: `Bearer ${alice}` } })).status, 404, 'nothing was stored');
  });

  it('a client that leaves in the middle of an upload costs nothing: no server error, and the gateway goes on', async () => {
    const alice = (await tokenFor(gateway.url, 'alice', 'alice-pw', 'repository:team/gone:pull,push')).token;
    const start = await httpRequest(`${gateway.url}/v2/team/gone/blobs/uploads/`, { method: 'POST', headers: { authorization: `Bearer ${alice}` } });
    assert.equal(start.status, 202);
    const location = new URL(String(start.headers.location));
    const { connect } = await import('node:net');
    const socket = connect(Number(location.port), location.hostname);
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(
      `PATCH ${location.pathname}${location.search} HTTP/1.1\r\nHost: ${location.host}\r\nAuthorization: Bearer ${alice}\r\n` +
        'Content-Type: application/octet-stream\r\nContent-Length: 1048576\r\n\r\n',
    );
    socket.write(Buffer.alloc(64 * 1024, 1));
    await new Promise((resolve) => setTimeout(resolve, 200));
    socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const metrics = (await httpRequest(`${gateway.url}/metrics`)).body.toString();
    assert.doesNotMatch(metrics, /cg_backend_requests_total\{outcome="backend_unreachable"\}/, 'not counted as a backend failure');
    assert.doesNotMatch(metrics, /cg_http_requests_total\{[^}]*status="5\d\d"[^}]*\}/, 'no 5xx was counted');
    const after = await httpRequest(`${gateway.url}/v2/team/app/manifests/v1`, { headers: { authorization: `Bearer ${alice}`, accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(after.status, 200, after.body.toString());
  });

  it('publishes the verifying keys as JWKS and as PEM certificates for a rootcertbundle', async () => {
    const jwks = JSON.parse((await httpRequest(`${gateway.url}/.well-known/jwks.json`)).body.toString()) as { keys: Array<{ kid: string; crv: string; alg: string }> };
    const { token } = await tokenFor(gateway.url, 'alice', 'alice-pw', 'repository:team/app:pull');
    const kid = (JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString()) as { kid: string }).kid;
    assert.deepEqual(jwks.keys.map((key) => [key.kid, key.crv, key.alg]), [[kid, 'P-256', 'ES256']]);
    const pem = (await httpRequest(`${gateway.url}/.well-known/registry-token-certificates.pem`)).body.toString();
    assert.match(pem, /^-----BEGIN CERTIFICATE-----/);
  });

  it("the catalog lists the backend's repositories each caller's rules let them pull; only robots get the registry's whole catalog", async () => {
    const host = new URL(gateway.url).host;
    await runSkopeo('copy', ({ authfile }) => ['--quiet', '--retry-times', '0', '--dest-tls-verify=false', '--dest-authfile', authfile, '--dest-creds', 'alice:alice-pw', `oci:${layout}:v1`, `docker://${host}/team/deep/app:v1`], { timeoutMs: 120_000 });
    const catalogOf = async (user?: string, password?: string) => {
      const token = user === undefined ? undefined : (await tokenFor(gateway.url, user, password ?? '', 'repository:team/app:pull')).token;
      const response = await httpRequest(`${gateway.url}/v2/_catalog`, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
      assert.equal(response.status, 200, response.body.toString());
      return (JSON.parse(response.body.toString()) as { repositories: string[] }).repositories;
    };
    assert.deepEqual(await catalogOf('alice', 'alice-pw'), ['team/app', 'team/deep/app', 'team/mono']);
    assert.deepEqual(await catalogOf('bob', 'bob-pw'), ['team/app', 'team/mono']);
    assert.deepEqual(await catalogOf(), []);
    const bobs = claimsOf((await tokenFor(gateway.url, 'bob', 'bob-pw', 'registry:catalog:*', SERVICE)).token);
    assert.deepEqual(bobs.access, [{ type: 'registry', name: 'catalog', actions: [] }]);
    const robots = claimsOf((await tokenFor(gateway.url, 'robot', 'robot-secret', 'registry:catalog:*', SERVICE)).token);
    assert.deepEqual(robots.access, [{ type: 'registry', name: 'catalog', actions: ['*'] }]);
  });

  it('wrong passwords, unknown users and a malformed service are refused', async () => {
    assert.equal((await tokenFor(gateway.url, 'alice', 'wrong', 'repository:team/app:pull')).status, 401);
    assert.equal((await tokenFor(gateway.url, 'mallory', 'alice-pw', 'repository:team/app:pull')).status, 401);
    assert.equal((await tokenFor(gateway.url, 'alice', 'alice-pw', 'repository:team/app:pull', 'bad service')).status, 400);
  });
});

describe('a private htpasswd registry behind the gateway, reached with robot credentials', () => {
  let dir: string;
  let registry: RunningRegistry;
  let gateway: RunningGateway;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cg-robot-'));
    const registryUsers = join(dir, 'registry.htpasswd');
    writeFileSync(registryUsers, `${htpasswdLine('quay-robot', 'quay-robot-secret')}\n`);
    registry = await startRegistry({ auth: { htpasswd: { realm: 'private', path: registryUsers } } });
    const layout = join(dir, 'layout');
    await writeImageLayout(layout, { tag: 'v1', seed: 'robot-backend' });
    const host = new URL(registry.url).host;
    await runSkopeo('copy', ({ authfile }) => ['--quiet', '--retry-times', '0', '--dest-tls-verify=false', '--dest-authfile', authfile, '--dest-creds', 'quay-robot:quay-robot-secret', `oci:${layout}:v1`, `docker://${host}/team/app:v1`], { timeoutMs: 120_000 });
    gateway = await startGateway({
      backendUrl: registry.url,
      env: { ...staticIdentityEnv(dir), CG_BACKEND_AUTH_USERNAME: 'quay-robot', CG_BACKEND_AUTH_PASSWORD: 'quay-robot-secret' },
    });
  });
  after(async () => {
    await gateway?.stop();
    await registry?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('users pull with their own credentials; only the robot credential reaches the registry', async () => {
    const host = new URL(gateway.url).host;
    const inspected = await skopeoInspect(`docker://${host}/team/app:v1`, { creds: 'bob:bob-pw' });
    assert.equal(inspected.Name, `${host}/team/app`);
    // bob's credentials mean nothing to the registry itself.
    const direct = await httpRequest(`${registry.url}/v2/team/app/tags/list`, { headers: { authorization: basic('bob', 'bob-pw') } });
    assert.equal(direct.status, 401);
  });

  it('anonymous callers are challenged, not served with the robot credential', async () => {
    const anonymous = await httpRequest(`${gateway.url}/v2/team/app/manifests/v1`);
    assert.equal(anonymous.status, 401);
    assert.match(String(anonymous.headers['www-authenticate']), /^Bearer realm=/);
  });
});
