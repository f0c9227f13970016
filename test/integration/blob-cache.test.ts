/**
 * The blob cache (backend.blobCache) in front of a real CNCF Distribution, with a recording proxy
 * between gateway and registry that counts what the backend is asked, holds answers until the test
 * releases them, and can damage a download on its way (one byte changed, or cut in half).
 *
 * Shown here: clients of two repositories asking for one cold blob together cost one backend
 * download (the second repository one HEAD, its confirmation); a repository that does not hold a
 * digest gets the backend's 404 even while the blob is cached; Range and 416 come from the cache;
 * a corrupted or truncated download is neither kept nor delivered whole, and is fetched again next
 * time; an evicted blob is fetched again; a restarted gateway serves its cached blobs (one HEAD to
 * confirm, no download), from files only its user can read; a download every client walked away from
 * is abandoned and leaves nothing behind; skopeo copies through the cache and, the second time, takes
 * every blob from it; a disk that cannot take a blob leaves its download to come
 * straight from the backend, and pauses fills.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { abandonableGet, gate, openSockets, until } from '../support/held-requests.js';
import { startRecordingProxy, type RecordingProxy } from '../support/recording-proxy.js';
import { headerValue, httpRequest } from './harness/http-client.js';
import { dockerReference, skopeoCopyToDir, verifyDirCopy } from './harness/skopeo.js';
import { writeImageLayout, type BuiltImage, type BuiltLayer } from './harness/oci-layout.js';
import { startRegistry, type RunningRegistry } from './harness/registry.js';
import { pushLayout } from './harness/seed.js';
import { scrapeSample } from '../support/metrics.js';

const ROBOTS = '[{username: reader, password: reader-secret}]';
const RULES = '[{subjects: [reader], repositories: ["team/**"], actions: [pull]}]';
const MiB = 1024 * 1024;
/** Room for one of the 600 KiB test blobs at a time (and the small ones). */
const CACHE_BYTES = MiB;

interface Download {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** The whole announced body arrived and the response ended normally. */
  complete: boolean;
}

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

describe('the blob cache', () => {
  let dir: string;
  let cacheDir: string;
  let registry: RunningRegistry;
  let proxy: RecordingProxy;
  let gateway: RunningGateway;
  let token = '';
  let gatewaySockets = new Set<Socket>();
  const images: Record<'a' | 'b' | 'd' | 'other', BuiltImage> = {} as never;
  const big = (image: BuiltImage): BuiltLayer => {
    const layer = image.layers.at(-1);
    assert.ok(layer !== undefined && layer.size > 500 * 1024);
    return layer;
  };

  const metric = (name: string, labels: Record<string, string> = {}): Promise<number> => scrapeSample(gateway.url, name, labels);
  const backendCalls = (method: string, path: string) => proxy.calls.filter((call) => call.method === method && call.url === path).length;
  const cachedFiles = (): string[] => {
    try {
      return readdirSync(join(cacheDir, 'blobs', 'sha256'));
    } catch {
      return [];
    }
  };

  /** A GET through the gateway, read to the end or to the cut. */
  function download(path: string, headers: Record<string, string> = {}): Promise<Download> {
    return new Promise((resolve, reject) => {
      const request = http.get(`${gateway.url}${path}`, { agent: false, headers: { authorization: `Bearer ${token}`, ...headers } }, (response) => {
        const chunks: Buffer[] = [];
        let ended = false;
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => (ended = true));
        response.on('close', () => {
          const body = Buffer.concat(chunks);
          const announced = Number(response.headers['content-length'] ?? body.length);
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body, complete: ended && !response.aborted && body.length === announced });
        });
      });
      // A connection cut before the answer began: nothing whole arrived.
      request.on('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNRESET' ? resolve({ status: 0, headers: {}, body: Buffer.alloc(0), complete: false }) : reject(error)));
    });
  }

  async function startCachingGateway(): Promise<RunningGateway> {
    const started = await startGateway({
      backendUrl: proxy.url,
      dataDir: join(dir, 'gateway-data'),
      env: {
        CG_BACKEND_MODE: 'proxy',
        CG_BACKEND_BLOB_CACHE_PATH: cacheDir,
        CG_BACKEND_BLOB_CACHE_MAX_BYTES: String(CACHE_BYTES),
        CG_IDENTITY_PROVIDERS: 'static',
        CG_IDENTITY_STATIC_ROBOTS: ROBOTS,
        CG_IDENTITY_STATIC_RULES: RULES,
      },
    });
    gatewaySockets = openSockets(started.app.server);
    const answer = await httpRequest(`${started.url}/v2/token?scope=${encodeURIComponent('repository:team/app:pull')}`, {
      headers: { authorization: `Basic ${Buffer.from('reader:reader-secret').toString('base64')}` },
    });
    assert.equal(answer.status, 200, answer.body.toString());
    token = (JSON.parse(answer.body.toString()) as { token: string }).token;
    return started;
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cg-blob-cache-'));
    cacheDir = join(dir, 'blob-cache');
    registry = await startRegistry();
    for (const [key, seed] of [
      ['a', 'blob-cache-a'],
      ['b', 'blob-cache-b'],
      ['d', 'blob-cache-d'],
      ['other', 'blob-cache-other'],
    ] as const) {
      images[key] = await writeImageLayout(join(dir, key), { tag: 'v1', seed, layers: [], largeLayerBytes: 600 * 1024 });
    }
    // The same blob in two repositories; team/other holds blobs of its own only.
    await pushLayout(join(dir, 'a'), 'v1', registry.url, 'team/app');
    await pushLayout(join(dir, 'a'), 'v1', registry.url, 'team/copy');
    await pushLayout(join(dir, 'b'), 'v1', registry.url, 'team/app', { destTag: 'v2' });
    await pushLayout(join(dir, 'd'), 'v1', registry.url, 'team/app', { destTag: 'v3' });
    await pushLayout(join(dir, 'other'), 'v1', registry.url, 'team/other');
    proxy = await startRecordingProxy(registry.url);
    gateway = await startCachingGateway();
  });

  after(async () => {
    await gateway?.stop();
    await proxy?.stop();
    await registry?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(() => {
    proxy.hold = undefined;
    proxy.tamper = undefined;
    proxy.calls.length = 0;
  });

  it('clients of two repositories asking for one cold blob together: one backend download, one HEAD to confirm the second repository', async () => {
    const layer = big(images.a);
    const held = gate();
    proxy.hold = { match: (url) => url === `/v2/team/app/blobs/${layer.digest}`, until: held.promise };
    const joinedBefore = await metric('cg_backend_shared_reads_total', { kind: 'cache-fill' });
    const first = download(`/v2/team/app/blobs/${layer.digest}`);
    await until('the download reached the backend', () => backendCalls('GET', `/v2/team/app/blobs/${layer.digest}`) === 1);
    const others = [
      ...Array.from({ length: 3 }, () => download(`/v2/team/app/blobs/${layer.digest}`)),
      ...Array.from({ length: 3 }, () => download(`/v2/team/copy/blobs/${layer.digest}`)),
    ];
    await until('six clients joined the download', async () => (await metric('cg_backend_shared_reads_total', { kind: 'cache-fill' })) - joinedBefore >= 6);
    held.open();
    const expected = readFileSync(layer.path);
    for (const answer of await Promise.all([first, ...others])) {
      assert.equal(answer.status, 200);
      assert.ok(answer.complete);
      assert.equal(sha256(answer.body), layer.digest);
      assert.equal(headerValue(answer.headers, 'docker-content-digest'), layer.digest);
      assert.ok(answer.body.equals(expected));
    }
    assert.equal(backendCalls('GET', `/v2/team/app/blobs/${layer.digest}`), 1);
    assert.equal(backendCalls('GET', `/v2/team/copy/blobs/${layer.digest}`), 0);
    assert.equal(backendCalls('HEAD', `/v2/team/copy/blobs/${layer.digest}`), 1);
    assert.equal(backendCalls('HEAD', `/v2/team/app/blobs/${layer.digest}`), 0, 'the download itself confirms the repository it is for');
    await until('the blob was kept', () => cachedFiles().includes(layer.digest.slice('sha256:'.length)));

    // Now cached and confirmed for both: no backend call at all.
    proxy.calls.length = 0;
    const again = await download(`/v2/team/copy/blobs/${layer.digest}`);
    assert.equal(sha256(again.body), layer.digest);
    assert.equal(proxy.calls.length, 0);
  });

  it('a repository that does not hold the digest gets BLOB_UNKNOWN while the blob is cached for another', async () => {
    const layer = big(images.a);
    // Cached through the repository that holds it (again, or for the first time when this test runs alone).
    assert.equal((await download(`/v2/team/app/blobs/${layer.digest}`)).complete, true);
    assert.ok(cachedFiles().includes(layer.digest.slice('sha256:'.length)), 'the blob is in the cache');
    for (const method of ['GET', 'HEAD'] as const) {
      const answer = await httpRequest(`${gateway.url}/v2/team/other/blobs/${layer.digest}`, { method, headers: { authorization: `Bearer ${token}` } });
      assert.equal(answer.status, 404, method);
      if (method === 'GET') assert.equal((JSON.parse(answer.body.toString()) as { errors: Array<{ code: string }> }).errors[0]?.code, 'BLOB_UNKNOWN');
    }
    assert.equal(backendCalls('GET', `/v2/team/other/blobs/${layer.digest}`), 0, 'the backend was asked, never downloaded from');
    assert.ok(backendCalls('HEAD', `/v2/team/other/blobs/${layer.digest}`) >= 1);
  });

  it('Range from the cache: 206 with the right bytes, suffixes, and 416 beyond the end', async () => {
    const layer = big(images.a);
    const bytes = readFileSync(layer.path);
    const path = `/v2/team/app/blobs/${layer.digest}`;
    const middle = await download(path, { range: 'bytes=100-199' });
    assert.equal(middle.status, 206);
    assert.equal(headerValue(middle.headers, 'content-range'), `bytes 100-199/${layer.size}`);
    assert.ok(middle.body.equals(bytes.subarray(100, 200)));
    const tail = await download(path, { range: 'bytes=-10' });
    assert.equal(tail.status, 206);
    assert.ok(tail.body.equals(bytes.subarray(bytes.length - 10)));
    const stale = await download(path, { range: 'bytes=0-9', 'if-range': '"sha256:0000"' });
    assert.equal(stale.status, 200, 'If-Range naming another entity: the whole blob');
    assert.equal(stale.body.length, layer.size);
    const beyond = await httpRequest(`${gateway.url}${path}`, { headers: { authorization: `Bearer ${token}`, range: `bytes=${layer.size}-` } });
    assert.equal(beyond.status, 416);
    assert.equal(headerValue(beyond.headers, 'content-range'), `bytes */${layer.size}`);
    assert.equal((JSON.parse(beyond.body.toString()) as { errors: Array<{ code: string }> }).errors[0]?.code, 'RANGE_INVALID');
    assert.equal(backendCalls('GET', path), 0, 'all from the cache');
  });

  for (const how of ['flip-byte', 'truncate'] as const) {
    const key = how === 'flip-byte' ? 'b' : 'd';
    it(`a download the backend ${how === 'flip-byte' ? 'corrupts' : 'cuts short'} is neither kept nor delivered whole, and is fetched again next time`, async () => {
      const layer = big(images[key]);
      const path = `/v2/team/app/blobs/${layer.digest}`;
      const failedBefore = await metric('cg_blob_cache_fills_total', { outcome: 'failed' });
      proxy.tamper = { match: (url) => url === path, how };
      const broken = await download(path);
      // Either a 502 (nothing had gone out yet) or a body cut short: never the whole blob.
      assert.ok(broken.status === 502 || !broken.complete, `a ${how} download answered ${broken.status}, complete: ${broken.complete}`);
      assert.ok(broken.body.length < layer.size || broken.status === 502);
      await until('the fill was counted failed', async () => (await metric('cg_blob_cache_fills_total', { outcome: 'failed' })) === failedBefore + 1);
      assert.ok(!cachedFiles().includes(layer.digest.slice('sha256:'.length)), 'nothing kept');
      await until('no partial file left', () => readdirSync(join(cacheDir, 'partial')).length === 0);

      proxy.tamper = undefined;
      const good = await download(path);
      assert.ok(good.complete);
      assert.equal(sha256(good.body), layer.digest);
      assert.equal(backendCalls('GET', path), 2, 'fetched again from the backend');
      await until('kept this time', () => cachedFiles().includes(layer.digest.slice('sha256:'.length)));
    });
  }

  it('an evicted blob is fetched again from the backend', async () => {
    // The cache holds one big test blob at a time: d (kept last) pushed b out.
    const layer = big(images.b);
    assert.ok(!cachedFiles().includes(layer.digest.slice('sha256:'.length)));
    const path = `/v2/team/app/blobs/${layer.digest}`;
    const answer = await download(path);
    assert.equal(sha256(answer.body), layer.digest);
    assert.equal(backendCalls('GET', path), 1);
    assert.ok((await metric('cg_blob_cache_bytes')) <= CACHE_BYTES);
  });

  it('a restarted gateway serves what it cached (one HEAD to confirm, no download), from files only its user can read', async () => {
    const layer = big(images.b);
    await until('b is kept', () => cachedFiles().includes(layer.digest.slice('sha256:'.length)));
    await gateway.stop();
    for (const directory of [cacheDir, join(cacheDir, 'blobs'), join(cacheDir, 'blobs', 'sha256'), join(cacheDir, 'partial')]) {
      assert.equal(statSync(directory).mode & 0o777, 0o700, directory);
    }
    for (const file of cachedFiles()) assert.equal(statSync(join(cacheDir, 'blobs', 'sha256', file)).mode & 0o777, 0o600, file);
    gateway = await startCachingGateway();
    proxy.calls.length = 0;
    const path = `/v2/team/app/blobs/${layer.digest}`;
    const answer = await download(path);
    assert.equal(answer.status, 200);
    assert.equal(sha256(answer.body), layer.digest);
    assert.equal(backendCalls('GET', path), 0);
    assert.equal(backendCalls('HEAD', path), 1);
    assert.equal(await metric('cg_blob_cache_hits_total'), 1);
  });

  it('a download every client walked away from is abandoned at the backend and leaves nothing behind', async () => {
    const layer = big(images.d);
    const path = `/v2/team/app/blobs/${layer.digest}`;
    // d was pushed out by b: cold again.
    assert.ok(!cachedFiles().includes(layer.digest.slice('sha256:'.length)));
    const held = gate();
    proxy.hold = { match: (url) => url === path, until: held.promise };
    const joinedBefore = await metric('cg_backend_shared_reads_total', { kind: 'cache-fill' });
    const clients = [abandonable(path), abandonable(path)];
    await until('both wait on one download', async () => backendCalls('GET', path) === 1 && (await metric('cg_backend_shared_reads_total', { kind: 'cache-fill' })) - joinedBefore >= 1);
    await clients[0]?.abandon();
    // Time for a wrongful cancel to reach the backend (the proxy sees it one hop later).
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(proxy.calls.find((call) => call.url === path)?.aborted, false, 'one client is still waiting');
    await clients[1]?.abandon();
    await until('the backend download was abandoned', () => proxy.calls.find((call) => call.url === path)?.aborted === true);
    held.open();
    await until('no partial file left', () => readdirSync(join(cacheDir, 'partial')).length === 0);
  });

  it('skopeo copies an image through the cache, every blob verified; a second copy takes its blobs from the cache, none from the backend', async () => {
    const reference = dockerReference(gateway.url, 'team/app', 'v2');
    const blobs = [images.b.config.digest, ...images.b.layers.map((layer) => layer.digest)];
    const first = join(dir, 'skopeo-first');
    await skopeoCopyToDir(reference, first, { creds: 'reader:reader-secret' });
    assert.equal((await verifyDirCopy(first)).manifestDigest, images.b.manifest.digest);
    await until('every blob of the image is kept', () => blobs.every((digest) => cachedFiles().includes(digest.slice('sha256:'.length))));

    proxy.calls.length = 0;
    const hitsBefore = await metric('cg_blob_cache_hits_total');
    const second = join(dir, 'skopeo-second');
    await skopeoCopyToDir(reference, second, { creds: 'reader:reader-secret' });
    assert.equal((await verifyDirCopy(second)).manifestDigest, images.b.manifest.digest);
    assert.deepEqual(proxy.calls.filter((call) => call.url.includes('/blobs/')).map((call) => `${call.method} ${call.url}`), [], 'no blob call reached the backend');
    assert.equal((await metric('cg_blob_cache_hits_total')) - hitsBefore, blobs.length);
  });

  it('a disk that cannot take a blob costs a warning, not the download: it comes straight from the backend, and fills pause', async () => {
    const layer = big(images.other);
    const path = `/v2/team/other/blobs/${layer.digest}`;
    assert.ok(!cachedFiles().includes(layer.digest.slice('sha256:'.length)));
    // Where partial files are created, a file instead of a directory: even root cannot create one there.
    const partial = join(cacheDir, 'partial');
    rmSync(partial, { recursive: true, force: true });
    writeFileSync(partial, '');
    try {
      const failedBefore = await metric('cg_blob_cache_fills_total', { outcome: 'failed' });
      const first = await download(path);
      assert.equal(first.status, 200);
      assert.ok(first.complete);
      assert.equal(sha256(first.body), layer.digest);
      assert.equal(await metric('cg_blob_cache_fills_total', { outcome: 'failed' }), failedBefore + 1, 'the fill was tried once, and failed');
      const afterFirst = backendCalls('GET', path);

      // Within the pause no fill is tried: the blob streams straight through again.
      const second = await download(path);
      assert.equal(second.status, 200);
      assert.ok(second.complete);
      assert.equal(sha256(second.body), layer.digest);
      assert.equal(await metric('cg_blob_cache_fills_total', { outcome: 'failed' }), failedBefore + 1, 'no second fill was tried');
      assert.equal(backendCalls('GET', path), afterFirst + 1, 'one straight download, no fill');
      assert.ok(!cachedFiles().includes(layer.digest.slice('sha256:'.length)), 'nothing was kept');
    } finally {
      rmSync(partial, { force: true });
      mkdirSync(partial, { mode: 0o700 });
    }
  });

  const abandonable = (path: string) => abandonableGet(`${gateway.url}${path}`, { authorization: `Bearer ${token}` }, gatewaySockets);
});
