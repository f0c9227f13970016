/**
 * Coalesced reads against a real CNCF Distribution, counted by a recording proxy between the
 * gateway and the registry. The proxy holds the backend's answer until the test releases it, so
 * "these requests were in flight together" is arranged, not hoped for: the test releases once the
 * gateway's metrics say every client has joined the one read. Each client is authorized on its own
 * (two robots with their own tokens); a client without access to the repository gets its denial
 * and never joins; a client that leaves does not cancel the read for the others, and the read is
 * cancelled only when every one of them has left.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { abandonableGet, gate, openSockets, until } from '../support/held-requests.js';
import { startRecordingProxy, type RecordingProxy } from '../support/recording-proxy.js';
import { headerValue, httpDigest, httpRequest, sha256Digest, type HttpResponse } from './harness/http-client.js';
import { MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_OCI_MANIFEST, writeImageLayout, type BuiltImage } from './harness/oci-layout.js';
import { startRegistry, type RunningRegistry } from './harness/registry.js';
import { pushLayout } from './harness/seed.js';
import { scrapeSample } from '../support/metrics.js';

const REPO = 'team/app';
/** Sorted as the tag list is. */
const TAGS = ['v1', 'v2', 'v3', 'v4', 'v5'];
const ACCEPT = [MEDIA_TYPE_OCI_MANIFEST, MEDIA_TYPE_OCI_INDEX].join(', ');
const ROBOTS = '[{username: reader-a, password: secret-a}, {username: reader-b, password: secret-b}, {username: outsider, password: secret-o}]';
const RULES = '[{subjects: [reader-a, reader-b], repositories: ["team/**"], actions: [pull]}, {subjects: [outsider], repositories: ["elsewhere/**"], actions: [pull]}]';

describe('coalesced reads through the gateway', () => {
  let dir: string;
  let registry: RunningRegistry;
  let proxy: RecordingProxy;
  let gateway: RunningGateway;
  let image: BuiltImage;
  const tokens: Record<string, string> = {};
  let gatewaySockets = new Set<Socket>();

  const sharedReads = () => scrapeSample(gateway.url, 'cg_backend_shared_reads_total', { kind: 'whole' });
  const backendCalls = (path: string, method = 'GET') => proxy.calls.filter((call) => call.method === method && call.url.startsWith(path));
  const asRobot = (robot: string, extra: Record<string, string> = {}) => ({ headers: { authorization: `Bearer ${tokens[robot] ?? ''}`, ...extra } });

  /** `clients` requests in flight together: released once all but the first have joined the first's backend read. */
  async function together(path: string, clients: Array<() => Promise<HttpResponse>>): Promise<HttpResponse[]> {
    const before = await sharedReads();
    const held = gate();
    proxy.hold = { match: (url) => url.startsWith(path), until: held.promise };
    const answers = Promise.all(clients.map((client) => client()));
    await until(`${clients.length - 1} clients joined the read of ${path}`, async () => (await sharedReads()) - before >= clients.length - 1);
    held.open();
    return answers;
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cg-coalesced-'));
    registry = await startRegistry();
    image = await writeImageLayout(join(dir, 'layout'), { tag: 'v1', seed: 'coalesced-reads', largeLayerBytes: 3 * 1024 * 1024 });
    // Several tags, so that list pages differ.
    for (const destTag of TAGS) await pushLayout(join(dir, 'layout'), 'v1', registry.url, REPO, { destTag });
    proxy = await startRecordingProxy(registry.url);
    gateway = await startGateway({
      backendUrl: proxy.url,
      env: { CG_BACKEND_MODE: 'proxy', CG_IDENTITY_PROVIDERS: 'static', CG_IDENTITY_STATIC_ROBOTS: ROBOTS, CG_IDENTITY_STATIC_RULES: RULES },
    });
    gatewaySockets = openSockets(gateway.app.server);
    for (const [robot, password] of [
      ['reader-a', 'secret-a'],
      ['reader-b', 'secret-b'],
      ['outsider', 'secret-o'],
    ] as const) {
      const answer = await httpRequest(`${gateway.url}/v2/token?scope=${encodeURIComponent(`repository:${REPO}:pull`)}`, {
        headers: { authorization: `Basic ${Buffer.from(`${robot}:${password}`).toString('base64')}` },
      });
      assert.equal(answer.status, 200, answer.body.toString());
      tokens[robot] = (JSON.parse(answer.body.toString()) as { token: string }).token;
    }
  });

  after(async () => {
    await gateway?.stop();
    await proxy?.stop();
    await registry?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(() => {
    proxy.hold = undefined;
    proxy.calls.length = 0;
  });

  it('8 clients of two robots asking one tag together: one backend request, the manifest to each; the outsider is denied and never joins', async () => {
    const path = `/v2/${REPO}/manifests/v1`;
    const outsiderAnswer = await (async () => {
      const held = gate();
      proxy.hold = { match: (url) => url.startsWith(path), until: held.promise };
      // The outsider asks while nothing is in flight yet and while a read is: denied both times, before any backend call.
      const alone = await httpRequest(`${gateway.url}${path}`, asRobot('outsider', { accept: ACCEPT }));
      const reading = httpRequest(`${gateway.url}${path}`, asRobot('reader-a', { accept: ACCEPT }));
      await until('the first read reached the backend', () => backendCalls(path).length === 1);
      const during = await httpRequest(`${gateway.url}${path}`, asRobot('outsider', { accept: ACCEPT }));
      held.open();
      assert.equal((await reading).status, 200);
      return [alone, during];
    })();
    for (const answer of outsiderAnswer) {
      assert.equal(answer.status, 404, answer.body.toString());
      assert.equal((JSON.parse(answer.body.toString()) as { errors: Array<{ code: string }> }).errors[0]?.code, 'NAME_UNKNOWN');
    }
    assert.equal(backendCalls(path).length, 1, 'the outsider cost no backend request');
    proxy.calls.length = 0;

    const sharedBefore = await sharedReads();
    const answers = await together(
      path,
      Array.from({ length: 8 }, (_, index) => () => httpRequest(`${gateway.url}${path}`, asRobot(index % 2 === 0 ? 'reader-a' : 'reader-b', { accept: index % 3 === 0 ? ACCEPT : `${MEDIA_TYPE_OCI_INDEX},${MEDIA_TYPE_OCI_MANIFEST}` }))),
    );
    assert.equal(backendCalls(path).length, 1, 'one backend request for eight clients');
    for (const answer of answers) {
      assert.equal(answer.status, 200);
      assert.equal(sha256Digest(answer.body), image.manifest.digest);
      assert.equal(headerValue(answer.headers, 'docker-content-digest'), image.manifest.digest);
    }
    assert.equal((await sharedReads()) - sharedBefore, 7);
  });

  it('HEAD of one blob and the tag list, asked together, each cost one backend request', async () => {
    const layer = image.layers[0];
    assert.ok(layer !== undefined);
    const blobPath = `/v2/${REPO}/blobs/${layer.digest}`;
    const heads = await together(
      blobPath,
      Array.from({ length: 6 }, (_, index) => () => httpRequest(`${gateway.url}${blobPath}`, { method: 'HEAD', ...asRobot(index % 2 === 0 ? 'reader-a' : 'reader-b') })),
    );
    assert.equal(backendCalls(blobPath, 'HEAD').length, 1);
    for (const answer of heads) {
      assert.equal(answer.status, 200);
      assert.equal(headerValue(answer.headers, 'content-length'), String(layer.size));
    }

    const tagsPath = `/v2/${REPO}/tags/list`;
    const lists = await together(
      tagsPath,
      Array.from({ length: 5 }, (_, index) => () => httpRequest(`${gateway.url}${tagsPath}${index === 0 ? '' : `?n=${index}`}`, asRobot('reader-b'))),
    );
    assert.equal(backendCalls(tagsPath).length, 1, 'pages of one list are cut from one backend read');
    lists.forEach((answer, index) => {
      const expected = index === 0 ? TAGS : TAGS.slice(0, index);
      assert.deepEqual((JSON.parse(answer.body.toString()) as { tags: string[] }).tags, expected, `?n=${index}`);
      if (index > 0 && index < TAGS.length) assert.match(headerValue(answer.headers, 'link') ?? '', new RegExp(`last=${TAGS[index - 1]}`));
    });
  });

  it('a blob GET by 5 clients together: one backend stream, fanned out whole to each', async () => {
    const layer = image.layers.at(-1);
    assert.ok(layer !== undefined && layer.size > 3 * 1024 * 1024);
    const path = `/v2/${REPO}/blobs/${layer.digest}`;
    const joined = () => scrapeSample(gateway.url, 'cg_backend_shared_reads_total', { kind: 'stream' });
    const before = await joined();
    const held = gate();
    proxy.hold = { match: (url) => url === path, until: held.promise };
    const downloads = Array.from({ length: 5 }, (_, index) => httpDigest(`${gateway.url}${path}`, asRobot(index % 2 === 0 ? 'reader-a' : 'reader-b')));
    await until('four clients joined the first one\'s stream', async () => (await joined()) - before >= 4);
    held.open();
    for (const answer of await Promise.all(downloads)) {
      assert.equal(answer.status, 200);
      assert.equal(answer.size, layer.size);
      assert.equal(answer.digest, layer.digest);
    }
    assert.equal(backendCalls(path).length, 1);
  });

  it('a client that leaves does not cancel the read for the others; when all have left, the backend request is abandoned', async () => {
    const path = `/v2/${REPO}/manifests/v1`;
    const held = gate();
    proxy.hold = { match: (url) => url.startsWith(path), until: held.promise };
    const sharedBefore = await sharedReads();
    const leaving = abandonableRequest(`${gateway.url}${path}`, asRobot('reader-a', { accept: ACCEPT }).headers);
    const staying = httpRequest(`${gateway.url}${path}`, asRobot('reader-b', { accept: ACCEPT }));
    await until('the second client joined', async () => (await sharedReads()) - sharedBefore >= 1);
    await leaving.abandon();
    assert.equal(backendCalls(path)[0]?.aborted, false, 'the read went on after one client left');
    held.open();
    const answer = await staying;
    assert.equal(answer.status, 200);
    assert.equal(sha256Digest(answer.body), image.manifest.digest);
    assert.equal(backendCalls(path).length, 1);
    assert.equal(backendCalls(path)[0]?.aborted, false);

    proxy.calls.length = 0;
    const heldAgain = gate();
    proxy.hold = { match: (url) => url.startsWith(path), until: heldAgain.promise };
    const sharedBeforeAll = await sharedReads();
    const clients = [abandonableRequest(`${gateway.url}${path}`, asRobot('reader-a', { accept: ACCEPT }).headers), abandonableRequest(`${gateway.url}${path}`, asRobot('reader-b', { accept: ACCEPT }).headers)];
    await until('both clients are waiting on one read', async () => backendCalls(path).length === 1 && (await sharedReads()) - sharedBeforeAll >= 1);
    for (const client of clients) await client.abandon();
    await until('the gateway abandoned the backend request', () => backendCalls(path)[0]?.aborted === true);
    heldAgain.open();
  });

  const abandonableRequest = (url: string, headers: Record<string, string>) => abandonableGet(url, headers, gatewaySockets);
});
