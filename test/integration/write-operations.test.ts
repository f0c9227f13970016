/**
 * Delete, mount and referrers through the gateway, against CNCF Distribution 2.8 with token auth
 * whose realm is the gateway (the robot's backend tokens must carry `delete`, and `pull` on a
 * mount's source), and against one with deletion disabled. skopeo deletes; the rest is written
 * over HTTP as clients send it, including a cosign/oras-style signature — an artifact manifest
 * with a `subject` — that Distribution 2.8 cannot list as a referrer by itself.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import bcrypt from 'bcryptjs';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { httpRequest, type HttpResponse } from './harness/http-client.js';
import { writeImageLayout, type BuiltImage } from './harness/oci-layout.js';
import { startRegistry, type RunningRegistry } from './harness/registry.js';
import { startTokenAuthRegistry } from '../support/token-auth-registry.js';
import { runSkopeo } from './harness/skopeo.js';

const ISSUER = 'write-operations-test';
const SERVICE = 'distribution';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const SIGNATURE_TYPE = 'application/vnd.dev.cosign.artifact.sig.v1+json';
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const json = <T>(response: HttpResponse) => JSON.parse(response.body.toString('utf8')) as T;
const errorCode = (response: HttpResponse) => json<{ errors: Array<{ code: string }> }>(response).errors[0]?.code;

const RULES = [
  { subjects: ['alice'], repositories: ['team/**'], actions: ['pull', 'push', 'delete'] },
  { subjects: ['bob'], repositories: ['team/**'], actions: ['pull', 'push'] },
  { subjects: ['carol'], repositories: ['other/**'], actions: ['pull', 'push', 'delete'] },
  { subjects: ['robot'], repositories: ['**'], actions: ['pull', 'push', 'delete'] },
];

describe('delete, mount and referrers through the gateway', () => {
  let dir: string;
  let registry: RunningRegistry;
  let noDelete: RunningRegistry;
  let gateway: RunningGateway;
  let strictGateway: RunningGateway;
  let image: BuiltImage;
  let auditFile: string;

  const tokens = new Map<string, string>();
  const tokenOf = async (target: RunningGateway, user: string, scope: string): Promise<string> => {
    const key = `${target.url} ${user} ${scope}`;
    const known = tokens.get(key);
    if (known !== undefined) return known;
    const response = await httpRequest(`${target.url}/v2/token?scope=${encodeURIComponent(scope)}`, { headers: { authorization: basic(user, `${user}-pw`) } });
    assert.equal(response.status, 200, response.body.toString());
    const token = json<{ token: string }>(response).token;
    tokens.set(key, token);
    return token;
  };
  const as = async (user: string | undefined, method: string, path: string, target = gateway, extra: { headers?: Record<string, string>; body?: Buffer } = {}) => {
    const name = /^\/v2\/(.+?)\/(?:manifests|blobs|referrers|tags)\//.exec(path)?.[1] ?? '';
    const headers = { ...(extra.headers ?? {}) };
    if (user !== undefined) headers.authorization = `Bearer ${await tokenOf(target, user, `repository:${name}:pull,push,delete`)}`;
    return httpRequest(`${target.url}${path}`, { method, headers, ...(extra.body === undefined ? {} : { body: extra.body }) });
  };
  /** A monolithic blob upload (POST, then PUT with the digest), as a client does it. */
  const pushBlob = async (user: string, name: string, bytes: Buffer): Promise<string> => {
    const started = await as(user, 'POST', `/v2/${name}/blobs/uploads/`);
    assert.equal(started.status, 202, started.body.toString());
    const location = new URL(String(started.headers.location), gateway.url);
    location.searchParams.set('digest', sha256(bytes));
    const finished = await as(user, 'PUT', `${location.pathname}${location.search}`, gateway, { headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) }, body: bytes });
    assert.equal(finished.status, 201, finished.body.toString());
    return sha256(bytes);
  };
  const skopeoPush = (user: string, reference: string, target = gateway) =>
    runSkopeo('copy', ({ authfile }) => ['--quiet', '--retry-times', '0', '--dest-tls-verify=false', '--dest-authfile', authfile, '--dest-creds', `${user}:${user}-pw`, `oci:${join(dir, 'layout')}:v1`, `docker://${target.host}/${reference}`], { timeoutMs: 120_000 });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cg-writes-'));
    const htpasswd = join(dir, 'users.htpasswd');
    writeFileSync(htpasswd, ['alice', 'bob', 'carol'].map((user) => `${user}:${bcrypt.hashSync(`${user}-pw`, 5)}`).join('\n'));
    auditFile = join(dir, 'audit.log');
    const identity = {
      CG_IDENTITY_PROVIDERS: 'static',
      CG_IDENTITY_STATIC_HTPASSWD: htpasswd,
      CG_IDENTITY_STATIC_ROBOTS: '[{username: robot, password: robot-pw}]',
      CG_IDENTITY_STATIC_RULES: JSON.stringify(RULES),
      CG_BACKEND_MODE: 'proxy',
    };
    const started = await startTokenAuthRegistry(dir, { issuer: ISSUER, service: SERVICE });
    const { port } = started;
    registry = started.registry;
    gateway = await startGateway({
      port,
      backendUrl: registry.url,
      env: {
        ...identity,
        ...started.gatewayEnv({ username: 'robot', password: 'robot-pw' }),
        CG_AUDIT_DESTINATION: auditFile,
      },
    });
    noDelete = await startRegistry({ deleteEnabled: false });
    strictGateway = await startGateway({ backendUrl: noDelete.url, env: identity });
    image = await writeImageLayout(join(dir, 'layout'), { tag: 'v1', seed: 'write-operations' });
  });
  after(async () => {
    await gateway?.stop();
    await strictGateway?.stop();
    await registry?.stop();
    await noDelete?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  describe('delete', () => {
    it('skopeo deletes an image alice pushed; the manifest and its tag are gone; the deletion is audited', async () => {
      await skopeoPush('alice', 'team/app:v1');
      await runSkopeo('delete', ({ authfile }) => ['--tls-verify=false', '--authfile', authfile, '--creds', 'alice:alice-pw', `docker://${gateway.host}/team/app:v1`]);
      const gone = await as('alice', 'GET', `/v2/team/app/manifests/${image.manifest.digest}`, gateway, { headers: { accept: OCI_MANIFEST } });
      assert.equal(gone.status, 404);
      assert.equal(errorCode(gone), 'MANIFEST_UNKNOWN');
      assert.equal((await as('alice', 'GET', '/v2/team/app/tags/list')).body.includes('"v1"'), false);
      const audited = readFileSync(auditFile, 'utf8').split('\n').filter((line) => line.includes('"deleted"')).map((line) => JSON.parse(line) as Record<string, unknown>);
      assert.deepEqual(audited.map(({ user, repository, reference, status }) => ({ user, repository, reference, status })), [{ user: 'alice', repository: 'team/app', reference: image.manifest.digest, status: 202 }]);
    });

    it('refuses those who may not delete, disclosing nothing, and deletes nothing', async () => {
      await skopeoPush('alice', 'team/kept:v1');
      const path = `/v2/team/kept/manifests/${image.manifest.digest}`;
      const bob = await as('bob', 'DELETE', path);
      assert.equal(bob.status, 403);
      assert.equal(errorCode(bob), 'DENIED');
      const carol = await as('carol', 'DELETE', path);
      const missing = await as('carol', 'DELETE', `/v2/team/never-was/manifests/${image.manifest.digest}`);
      assert.equal(carol.status, 404);
      assert.equal(errorCode(carol), 'NAME_UNKNOWN');
      assert.deepEqual([missing.status, missing.body.toString()], [carol.status, carol.body.toString()], 'hidden and missing look the same');
      const anonymous = await as(undefined, 'DELETE', path);
      assert.equal(anonymous.status, 401);
      assert.match(String(anonymous.headers['www-authenticate']), /scope="repository:team\/kept:pull,delete"/);
      for (const [reference, status] of [
        ['v1', 405],
        [`sha384:${'a'.repeat(96)}`, 404],
        ['sha256:not-hex', 404],
      ] as const) {
        const response = await as('alice', 'DELETE', `/v2/team/kept/manifests/${reference}`);
        assert.equal(response.status, status, `${reference}: ${response.body.toString()}`);
        assert.ok(typeof errorCode(response) === 'string');
      }
      assert.equal((await as('alice', 'DELETE', `/v2/team/kept/blobs/sha384:${'a'.repeat(96)}`)).status, 400);
      assert.equal((await as('alice', 'GET', path, gateway, { headers: { accept: OCI_MANIFEST } })).status, 200, 'still there');
    });

    it('deletes a blob, and answers the backend\'s 404 for one already gone', async () => {
      await skopeoPush('alice', 'team/blobs:v1');
      const layer = image.layers[0]?.digest ?? '';
      assert.equal((await as('alice', 'DELETE', `/v2/team/blobs/blobs/${layer}`)).status, 202);
      const again = await as('alice', 'DELETE', `/v2/team/blobs/blobs/${layer}`);
      assert.equal(again.status, 404);
      assert.equal(errorCode(again), 'BLOB_UNKNOWN');
    });

    it('passes on the backend\'s 405 UNSUPPORTED when deleting is disabled there', async () => {
      await skopeoPush('alice', 'team/app:v1', strictGateway);
      const response = await as('alice', 'DELETE', `/v2/team/app/manifests/${image.manifest.digest}`, strictGateway);
      assert.equal(response.status, 405);
      assert.equal(errorCode(response), 'UNSUPPORTED');
    });
  });

  describe('cross-repository mount', () => {
    it('mounts a blob through a token-auth backend (the robot\'s token carries pull on the source)', async () => {
      await skopeoPush('alice', 'team/base:v1');
      const layer = image.layers[0]?.digest ?? '';
      const mounted = await as('alice', 'POST', `/v2/team/mounted/blobs/uploads/?mount=${layer}&from=team/base`);
      assert.equal(mounted.status, 201, mounted.body.toString());
      assert.equal(mounted.headers['docker-content-digest'], layer);
      assert.equal((await as('alice', 'HEAD', `/v2/team/mounted/blobs/${layer}`)).status, 200);
    });

    it('a mount from a repository the caller cannot pull is a plain upload, and leaks nothing', async () => {
      const layer = image.layers[1]?.digest ?? '';
      const response = await as('carol', 'POST', `/v2/other/stolen/blobs/uploads/?mount=${layer}&from=team/base`);
      assert.equal(response.status, 202);
      assert.equal((await as('carol', 'HEAD', `/v2/other/stolen/blobs/${layer}`)).status, 404);
    });
  });

  describe('referrers', () => {
    let subject: string;
    let signature: string;
    const signatureManifest = (config: string, layer: string, layerSize: number) =>
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          artifactType: SIGNATURE_TYPE,
          config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: config, size: 2 },
          layers: [{ mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', digest: layer, size: layerSize }],
          subject: { mediaType: OCI_MANIFEST, digest: image.manifest.digest, size: image.manifest.size },
          annotations: { 'org.opencontainers.image.created': '2026-12-06T00:00:00Z' },
        }),
      );

    before(async () => {
      await skopeoPush('alice', 'team/signed:v1');
      subject = image.manifest.digest;
      const config = await pushBlob('alice', 'team/signed', Buffer.from('{}'));
      const payload = Buffer.from(JSON.stringify({ critical: { image: { 'docker-manifest-digest': subject } } }));
      const layer = await pushBlob('alice', 'team/signed', payload);
      const manifest = signatureManifest(config, layer, payload.length);
      signature = sha256(manifest);
      const pushed = await as('alice', 'PUT', `/v2/team/signed/manifests/${signature}`, gateway, { headers: { 'content-type': OCI_MANIFEST, 'content-length': String(manifest.length) }, body: manifest });
      assert.equal(pushed.status, 201, pushed.body.toString());
      assert.equal(pushed.headers['oci-subject'], subject, 'the gateway keeps the referrers list, so the client need not');
    });

    it('lists the signature as a referrer of its subject, on Distribution 2.8', async () => {
      const response = await as('bob', 'GET', `/v2/team/signed/referrers/${subject}`);
      assert.equal(response.status, 200, response.body.toString());
      assert.equal(response.headers['content-type'], OCI_INDEX);
      const index = json<{ manifests: Array<{ digest: string; artifactType?: string; mediaType: string; annotations?: Record<string, string> }> }>(response);
      assert.deepEqual(index.manifests.map((entry) => [entry.digest, entry.artifactType, entry.mediaType]), [[signature, SIGNATURE_TYPE, OCI_MANIFEST]]);
      assert.equal(index.manifests[0]?.annotations?.['org.opencontainers.image.created'], '2026-12-06T00:00:00Z');
    });

    it('filters by artifactType and says so; an unknown subject has an empty list', async () => {
      const other = await as('bob', 'GET', `/v2/team/signed/referrers/${subject}?artifactType=application%2Fvnd.example.sbom`);
      assert.equal(other.headers['oci-filters-applied'], 'artifactType');
      assert.deepEqual(json<{ manifests: unknown[] }>(other).manifests, []);
      const same = await as('bob', 'GET', `/v2/team/signed/referrers/${subject}?artifactType=${encodeURIComponent(SIGNATURE_TYPE)}`);
      assert.equal(json<{ manifests: unknown[] }>(same).manifests.length, 1);
      const none = await as('bob', 'GET', `/v2/team/signed/referrers/sha256:${'0'.repeat(64)}`);
      assert.equal(none.status, 200);
      assert.deepEqual(json<{ manifests: unknown[] }>(none).manifests, []);
    });

    it('refuses bad input and hidden repositories like every other read', async () => {
      const huge = await as('bob', 'GET', `/v2/team/signed/referrers/${subject}?artifactType=${'a'.repeat(10 * 1024)}%2Fb`);
      assert.equal(huge.status, 400);
      const hidden = await as('carol', 'GET', `/v2/team/signed/referrers/${subject}`);
      assert.equal(hidden.status, 404);
      assert.equal(errorCode(hidden), 'NAME_UNKNOWN');
      assert.equal((await as(undefined, 'GET', `/v2/team/signed/referrers/${subject}`)).status, 401);
    });

    it('drops the signature from the list when it is deleted', async () => {
      assert.equal((await as('alice', 'DELETE', `/v2/team/signed/manifests/${signature}`)).status, 202);
      const response = await as('bob', 'GET', `/v2/team/signed/referrers/${subject}`);
      assert.deepEqual(json<{ manifests: unknown[] }>(response).manifests, []);
    });
  });
});
