/**
 * What a push request carries to the backend: only what the gateway checked. CNCF Distribution
 * reads `mount`, `from` and `digest` with Go's `r.FormValue`, which also reads a form-encoded
 * body (and prefers it to the query), so a body or a repeated parameter the gateway did not
 * look at could name another repository than the one the access decision saw. Real
 * Distribution behind the gateway; the private blob must never become readable elsewhere.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import bcrypt from 'bcryptjs';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { httpRequest } from './harness/http-client.js';
import type { BuiltImage } from './harness/oci-layout.js';
import { startRegistry, type RunningRegistry } from './harness/registry.js';
import { pushImage } from './harness/seed.js';

const PRIVATE = 'acme/private';
const ATTACKER = 'attacker/x';

describe('push forwarding: the backend sees only checked values', () => {
  let dir: string;
  let registry: RunningRegistry;
  let gateway: RunningGateway;
  let image: BuiltImage;
  let token: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cg-push-forwarding-'));
    writeFileSync(join(dir, 'users.htpasswd'), `mallory:${bcrypt.hashSync('mallory-pw', 4)}\n`);
    registry = await startRegistry();
    image = await pushImage(join(dir, 'private'), { tag: 'v1', seed: 'acme-private-secret' }, registry.url, PRIVATE);
    gateway = await startGateway({
      backendUrl: registry.url,
      env: {
        CG_BACKEND_MODE: 'proxy',
        CG_IDENTITY_PROVIDERS: 'static',
        CG_IDENTITY_STATIC_HTPASSWD: join(dir, 'users.htpasswd'),
        CG_IDENTITY_STATIC_RULES: '[{subjects: [mallory], repositories: ["attacker/**"], actions: [pull, push]}]',
      },
    });
    const login = await httpRequest(`${gateway.url}/v2/token?scope=repository:${ATTACKER}:pull,push`, {
      headers: { authorization: `Basic ${Buffer.from('mallory:mallory-pw').toString('base64')}` },
    });
    assert.equal(login.status, 200, login.body.toString());
    token = (JSON.parse(login.body.toString()) as { token: string }).token;
  });

  after(async () => {
    await gateway?.stop();
    await registry?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const secretDigest = () => image.layers[0]?.digest ?? image.config.digest;
  const asMallory = (extra: Record<string, string> = {}) => ({ authorization: `Bearer ${token}`, ...extra });

  /** Whether the private blob can be read under the attacker's name: through the gateway, and at the registry itself. */
  async function leaked(): Promise<boolean> {
    const viaGateway = await httpRequest(`${gateway.url}/v2/${ATTACKER}/blobs/${secretDigest()}`, { method: 'HEAD', headers: asMallory() });
    const atRegistry = await httpRequest(`${registry.url}/v2/${ATTACKER}/blobs/${secretDigest()}`, { method: 'HEAD' });
    return viaGateway.status === 200 || atRegistry.status === 200;
  }

  const errorCode = (body: Buffer) => (JSON.parse(body.toString()) as { errors: Array<{ code: string }> }).errors[0]?.code;

  it('mallory may not pull the private repository, so it is unknown to her', async () => {
    const response = await httpRequest(`${gateway.url}/v2/${PRIVATE}/blobs/${secretDigest()}`, { method: 'HEAD', headers: asMallory() });
    assert.equal(response.status, 404);
    assert.equal(await leaked(), false);
  });

  it('a form-encoded mount in the body of an upload start is refused with 400, and nothing is mounted', async () => {
    const response = await httpRequest(`${gateway.url}/v2/${ATTACKER}/blobs/uploads/`, {
      method: 'POST',
      headers: asMallory({ 'content-type': 'application/x-www-form-urlencoded' }),
      body: `mount=${encodeURIComponent(secretDigest())}&from=${encodeURIComponent(PRIVATE)}`,
    });
    assert.equal(response.status, 400, response.body.toString());
    assert.equal(errorCode(response.body), 'BAD_REQUEST');
    assert.equal(await leaked(), false);
  });

  it('the same body with a harmless query, in any spelling of the content type, is refused too', async () => {
    for (const contentType of ['Application/X-WWW-Form-Urlencoded; charset=utf-8', ' application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const body = contentType.includes('multipart')
        ? `--x\r\nContent-Disposition: form-data; name="mount"\r\n\r\n${secretDigest()}\r\n--x\r\nContent-Disposition: form-data; name="from"\r\n\r\n${PRIVATE}\r\n--x--\r\n`
        : `mount=${encodeURIComponent(secretDigest())}&from=${encodeURIComponent(PRIVATE)}`;
      const response = await httpRequest(`${gateway.url}/v2/${ATTACKER}/blobs/uploads/?mount=${secretDigest()}&from=${ATTACKER}`, {
        method: 'POST',
        headers: asMallory({ 'content-type': contentType }),
        body,
      });
      assert.equal(response.status, 400, `${contentType}: ${response.body.toString()}`);
      assert.equal(await leaked(), false, contentType);
    }
  });

  it('a repeated mount or from parameter is refused: the backend would read another value than the one checked', async () => {
    for (const query of [`mount=${secretDigest()}&from=${ATTACKER}&from=${PRIVATE}`, `mount=${secretDigest()}&mount=${secretDigest()}&from=${ATTACKER}`]) {
      const response = await httpRequest(`${gateway.url}/v2/${ATTACKER}/blobs/uploads/?${query}`, { method: 'POST', headers: asMallory() });
      assert.equal(response.status, 400, `${query}: ${response.body.toString()}`);
    }
    assert.equal(await leaked(), false);
  });

  it('a mount from a repository mallory cannot pull becomes a plain upload; unchecked parameters never reach the backend', async () => {
    const response = await httpRequest(`${gateway.url}/v2/${ATTACKER}/blobs/uploads/?mount=${secretDigest()}&from=${PRIVATE}&unchecked=1`, { method: 'POST', headers: asMallory() });
    assert.equal(response.status, 202, response.body.toString());
    assert.equal(await leaked(), false);
  });

  it('a legitimate push still works: upload start, then a monolithic PUT with the digest', async () => {
    const content = Buffer.from('mallory owns this layer');
    const digest = `sha256:${(await import('node:crypto')).createHash('sha256').update(content).digest('hex')}`;
    const started = await httpRequest(`${gateway.url}/v2/${ATTACKER}/blobs/uploads/`, { method: 'POST', headers: asMallory() });
    assert.equal(started.status, 202, started.body.toString());
    const location = new URL(String(started.headers.location), gateway.url);
    location.searchParams.set('digest', digest);
    const put = await httpRequest(location.href, { method: 'PUT', headers: asMallory({ 'content-type': 'application/octet-stream' }), body: content });
    assert.equal(put.status, 201, put.body.toString());
    assert.equal((await httpRequest(`${registry.url}/v2/${ATTACKER}/blobs/${digest}`, { method: 'HEAD' })).status, 200);
  });
});
