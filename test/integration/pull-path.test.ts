/**
 * pull-path.test.ts — issue 2, "How it must be shown": the gateway in front of a real CNCF Distribution
 * registry (Debian docker-registry 2.8), seeded with images built in code, pulled through the gateway with
 * real skopeo and raw HTTP, in both backend modes:
 *   - redirect (the default): Distribution never redirects, so the gateway streams what it answers;
 *   - proxy: the gateway always streams.
 *
 * Each gateway reaches the registry through its own recording HTTP proxy (test/support/recording-proxy.ts), so a test can
 * prove that a request never reached the backend (bad names, push verbs, unpublished repositories) and that
 * a client disconnect aborted the backend request.
 *
 * Run: npm run build && node --import tsx --test test/integration/pull-path.test.ts
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { after, before, describe, it } from 'node:test';
import { headerValue, httpDigest, httpRequest, sha256Digest, type HttpResponse } from './harness/http-client.js';
import { MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_OCI_MANIFEST, readSlice, sortedDigests, type BuiltArtifact } from './harness/oci-layout.js';
import { startRegistry, type RunningRegistry } from './harness/registry.js';
import { BIG_LAYER_BYTES, MANY_TAGS, SEED_REPOS, pushLayout, seedRegistry, type SeedData } from './harness/seed.js';
import {
  dockerReference,
  dockerRepository,
  runSkopeo,
  skopeoCopyToDir,
  skopeoInspect,
  skopeoListTags,
  verifyDirCopy,
} from './harness/skopeo.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { startRecordingProxy, type RecordingProxy } from '../support/recording-proxy.js';

const DOCKER_MANIFEST_V2 = 'application/vnd.docker.distribution.manifest.v2+json';
const ANY_MANIFEST_ACCEPT = [MEDIA_TYPE_OCI_MANIFEST, MEDIA_TYPE_OCI_INDEX, DOCKER_MANIFEST_V2].join(', ');
const MiB = 1024 * 1024;

/** In the registry but never published to the gateway: must look missing, and never be fetched. */
const HIDDEN_REPO = 'hidden/repo';
/** Published as auth-required: an anonymous caller must not see it in the catalog. */
const PRIVATE_REPO = 'private/repo';
/** Published, public, but the registry has nothing under that name. */
const ABSENT_REPO = 'published/absent';
const PUBLIC_REPOS = [...Object.values(SEED_REPOS), ABSENT_REPO];

// ---------------------------------------------------------------------------------------------
// Raw HTTP over a socket: the request line goes out exactly as written (no URL normalisation)
// ---------------------------------------------------------------------------------------------

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

function decodeChunked(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  let offset = 0;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', offset);
    if (lineEnd === -1) break;
    const size = Number.parseInt(data.subarray(offset, lineEnd).toString('latin1'), 16);
    if (!Number.isFinite(size) || size === 0) break;
    parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
    offset = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

function rawRequest(baseUrl: string, method: string, requestTarget: string, extraHeaders: Record<string, string> = {}): Promise<RawResponse> {
  const { hostname, port, host } = new URL(baseUrl);
  return new Promise<RawResponse>((resolve, reject) => {
    const socket = net.connect({ host: hostname, port: Number(port) });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`raw ${method} ${requestTarget}: no complete answer within 5 s`));
    }, 5_000);
    socket.on('connect', () => {
      const lines = [`${method} ${requestTarget} HTTP/1.1`, `Host: ${host}`, 'Connection: close', `Accept: ${ANY_MANIFEST_ACCEPT}`];
      for (const [name, value] of Object.entries(extraHeaders)) lines.push(`${name}: ${value}`);
      socket.write(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
    });
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('end', () => {
      clearTimeout(timer);
      const data = Buffer.concat(chunks);
      const split = data.indexOf('\r\n\r\n');
      if (split === -1) return reject(new Error(`raw ${method} ${requestTarget}: malformed answer ${JSON.stringify(data.toString('latin1'))}`));
      const [statusLine = '', ...headerLines] = data.subarray(0, split).toString('latin1').split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of headerLines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const rawBody = data.subarray(split + 4);
      const body = /chunked/i.test(headers['transfer-encoding'] ?? '') ? decodeChunked(rawBody) : rawBody;
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body });
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Assertions and small helpers
// ---------------------------------------------------------------------------------------------

function ociError(body: Buffer, context: string): { code: string; message: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    assert.fail(`${context}: body is not JSON: ${JSON.stringify(body.toString('utf8').slice(0, 300))}`);
  }
  const errors = (parsed as { errors?: unknown }).errors;
  assert.ok(Array.isArray(errors) && errors.length > 0, `${context}: no "errors" array in ${body.toString('utf8')}`);
  const first = errors[0] as { code?: unknown; message?: unknown };
  assert.equal(typeof first.code, 'string', `${context}: error without code`);
  assert.equal(typeof first.message, 'string', `${context}: error without message`);
  return first as { code: string; message: string };
}

function assertOciError(response: { status: number; body: Buffer }, statuses: number[], codes: string[], context: string): void {
  assert.ok(statuses.includes(response.status), `${context}: status ${response.status}, want one of ${statuses.join('/')}; body ${response.body.toString('utf8').slice(0, 300)}`);
  const { code } = ociError(response.body, context);
  assert.ok(codes.includes(code), `${context}: code ${code}, want one of ${codes.join('/')}`);
}


function bigLayer(): { digest: string; size: number; path: string } {
  const layer = seed.images.bigBlob.layers[0];
  assert.ok(layer, 'big/blob has a layer');
  return layer;
}

/** A real, forced GC (the gateway runs in this process), so memory figures count live objects only. */
const collectGarbage: () => void = (() => {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
})();

/**
 * Memory after a full GC has really finished: V8 frees ArrayBuffer backing stores on a background
 * sweeper, so collect and re-read until two readings agree (or a second has passed).
 */
async function settledMemory(): Promise<NodeJS.MemoryUsage> {
  let previous = -1;
  let reading = process.memoryUsage();
  for (let attempt = 0; attempt < 10; attempt += 1) {
    collectGarbage();
    await sleep(40 + attempt * 20);
    reading = process.memoryUsage();
    if (previous >= 0 && Math.abs(reading.arrayBuffers - previous) < 256 * 1024) break;
    previous = reading.arrayBuffers;
  }
  return reading;
}

async function liveBufferBytes(): Promise<number> {
  return (await settledMemory()).arrayBuffers;
}

/** GETs `url`, hashing the body; after `stallAt` bytes it stops reading, awaits `atStall` after `stallMs`, then goes on. */
function downloadWithStall(
  url: string,
  stallAt: number,
  stallMs: number,
  atStall: () => Promise<void>,
): Promise<{ status: number; size: number; digest: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false }, (res) => {
      const hash = createHash('sha256');
      let size = 0;
      let stalled = false;
      res.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        size += chunk.length;
        if (!stalled && size >= stallAt) {
          stalled = true;
          res.pause();
          setTimeout(() => {
            atStall().then(
              () => res.resume(),
              (error: unknown) => {
                req.destroy();
                reject(error as Error);
              },
            );
          }, stallMs);
        }
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, size, digest: `sha256:${hash.digest('hex')}` }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(60_000, () => req.destroy(new Error(`GET ${url} timed out`)));
  });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (condition()) return true;
    await sleep(20);
  }
  return condition();
}

// ---------------------------------------------------------------------------------------------
// Shared fixture: one registry, seeded once; a gateway per mode, each behind its own recorder
// ---------------------------------------------------------------------------------------------

interface ModeFixture {
  readonly label: string;
  readonly gw: () => RunningGateway;
  readonly recorder: () => RecordingProxy;
}

let workDir = '';
let registry: RunningRegistry | undefined;
let seed: SeedData;
const recorders: Record<'redirect' | 'proxy', RecordingProxy | undefined> = { redirect: undefined, proxy: undefined };
const gateways: Record<'redirect' | 'proxy', RunningGateway | undefined> = { redirect: undefined, proxy: undefined };

function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`${what} not started`);
  return value;
}

const MODES: ModeFixture[] = [
  { label: 'redirect mode (default; Distribution answers content, so the gateway streams)', gw: () => need(gateways.redirect, 'gateway'), recorder: () => need(recorders.redirect, 'recorder') },
  { label: 'proxy mode', gw: () => need(gateways.proxy, 'gateway'), recorder: () => need(recorders.proxy, 'recorder') },
];

before(async () => {
  workDir = await mkdtemp(path.join(os.tmpdir(), 'cg-pull-path-'));
  registry = await startRegistry();
  seed = await seedRegistry(registry.url, path.join(workDir, 'seed'));
  await pushLayout(seed.layoutDirs[SEED_REPOS.alpineIsh] ?? '', '1.0', registry.url, HIDDEN_REPO);
  recorders.redirect = await startRecordingProxy(registry.url);
  recorders.proxy = await startRecordingProxy(registry.url);
  // Default mode: no CG_BACKEND_MODE at all.
  gateways.redirect = await startGateway({ backendUrl: recorders.redirect.url });
  gateways.proxy = await startGateway({ backendUrl: recorders.proxy.url, env: { CG_BACKEND_MODE: 'proxy' } });
  for (const gw of [gateways.redirect, gateways.proxy]) {
    await gw.publish([...PUBLIC_REPOS.map((name) => ({ name })), { name: PRIVATE_REPO, authRequired: true }]);
  }
});

after(async () => {
  await gateways.redirect?.stop();
  await gateways.proxy?.stop();
  await recorders.redirect?.stop();
  await recorders.proxy?.stop();
  await registry?.stop();
  if (workDir !== '') await rm(workDir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// Real skopeo through the gateway
// ---------------------------------------------------------------------------------------------

for (const mode of MODES) {
  describe(`skopeo through the gateway, ${mode.label}`, () => {
    it('inspect by tag and by digest reports the pushed digests, tags and layers', async () => {
      const url = mode.gw().url;
      const alpine = seed.images.alpineIsh;
      const [byTag, byDigest, index] = await Promise.all([
        skopeoInspect(dockerReference(url, SEED_REPOS.alpineIsh, '1.0')),
        skopeoInspect(dockerReference(url, SEED_REPOS.app, seed.images.app.manifest.digest)),
        skopeoInspect(dockerReference(url, SEED_REPOS.multiArch, 'latest')),
      ]);
      assert.equal(byTag.Digest, alpine.manifest.digest);
      assert.deepEqual([...byTag.RepoTags].sort(), ['1.0', 'latest']);
      assert.deepEqual(byTag.Layers, alpine.layers.map((l) => l.digest));
      assert.equal(byTag.Labels?.['org.opencontainers.image.title'], 'alpine-ish');
      assert.equal(byDigest.Digest, seed.images.app.manifest.digest);
      assert.deepEqual(byDigest.RepoTags, ['v1']);
      assert.equal(index.Digest, seed.images.multiArch.manifest.digest);
    });

    it('inspect --raw returns exactly the pushed manifest bytes (images, index, index child by digest)', async () => {
      const url = mode.gw().url;
      const child = seed.images.multiArch.images[1];
      assert.ok(child);
      const cases = [
        { repo: SEED_REPOS.alpineIsh, ref: 'latest', doc: seed.images.alpineIsh.manifest },
        { repo: SEED_REPOS.app, ref: 'v1', doc: seed.images.app.manifest },
        { repo: SEED_REPOS.multiArch, ref: 'latest', doc: seed.images.multiArch.manifest },
        { repo: SEED_REPOS.multiArch, ref: child.manifest.digest, doc: child.manifest },
        { repo: SEED_REPOS.bigBlob, ref: '1', doc: seed.images.bigBlob.manifest },
        { repo: SEED_REPOS.manyTags, ref: 't5', doc: seed.images.manyTags.manifest },
      ];
      const raws = await Promise.all(cases.map((c) => skopeoInspect(dockerReference(url, c.repo, c.ref), { raw: true })));
      cases.forEach((c, i) => {
        const raw = raws[i];
        assert.ok(raw);
        assert.ok(raw.bytes.equals(c.doc.bytes), `${c.repo}@${c.ref}: bytes differ from the pushed manifest`);
        assert.equal(raw.digest, c.doc.digest);
      });
    });

    it('copy to dir: of every seeded image (index with --multi-arch all, the 40 MiB layer) verifies every blob sha256', async () => {
      const url = mode.gw().url;
      const slug = mode.gw().url.replace(/\W/g, '_');
      const jobs: Array<{ repo: string; ref: string; artifact: BuiltArtifact; multiArch?: 'all' }> = [
        { repo: SEED_REPOS.alpineIsh, ref: 'latest', artifact: seed.images.alpineIsh },
        { repo: SEED_REPOS.app, ref: 'v1', artifact: seed.images.app },
        { repo: SEED_REPOS.multiArch, ref: 'latest', artifact: seed.images.multiArch, multiArch: 'all' },
        { repo: SEED_REPOS.bigBlob, ref: '1', artifact: seed.images.bigBlob },
        { repo: SEED_REPOS.manyTags, ref: 't7', artifact: seed.images.manyTags },
      ];
      await Promise.all(
        jobs.map(async (job) => {
          const dest = path.join(workDir, `copy-${slug}-${job.repo.replace(/\//g, '_')}`);
          await skopeoCopyToDir(dockerReference(url, job.repo, job.ref), dest, job.multiArch === undefined ? {} : { multiArch: job.multiArch });
          const report = await verifyDirCopy(dest);
          const context = `${job.repo}:${job.ref}`;
          assert.equal(report.manifestDigest, job.artifact.manifest.digest, context);
          assert.equal(report.kind, job.artifact.kind, context);
          assert.deepEqual(report.missingInstances, [], context);
          assert.deepEqual(report.blobs.map((b) => b.digest).sort(), sortedDigests(job.artifact), context);
          if (job.artifact.kind === 'index') {
            assert.deepEqual(report.images.map((i) => i.digest), job.artifact.images.map((i) => i.manifest.digest), context);
          }
          if (job.repo === SEED_REPOS.bigBlob) {
            assert.ok(report.blobs.some((b) => b.digest === bigLayer().digest && b.size > BIG_LAYER_BYTES), 'the 40 MiB layer was copied whole');
          }
        }),
      );
    });

    it('list-tags on names with slashes returns every tag', async () => {
      const url = mode.gw().url;
      const [many, app, alpine] = await Promise.all([
        skopeoListTags(dockerRepository(url, SEED_REPOS.manyTags)),
        skopeoListTags(dockerRepository(url, SEED_REPOS.app)),
        skopeoListTags(dockerRepository(url, SEED_REPOS.alpineIsh)),
      ]);
      assert.deepEqual([...many.Tags].sort(), [...MANY_TAGS]);
      assert.equal(new Set(many.Tags).size, MANY_TAGS.length, 'no tag listed twice');
      assert.deepEqual(app.Tags, ['v1']);
      assert.deepEqual([...alpine.Tags].sort(), ['1.0', 'latest']);
    });

    it('an unpublished repository that the registry has cannot be pulled and is never fetched', async () => {
      const recorder = mode.recorder();
      const before = recorder.calls.length;
      await assert.rejects(skopeoInspect(dockerReference(mode.gw().url, HIDDEN_REPO, '1.0'), { noTags: true }));
      assert.deepEqual(recorder.calls.slice(before), [], 'the backend was called for an unpublished repository');
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP: headers, negotiation, HEAD, Range, conditionals, whole-blob digest
// ---------------------------------------------------------------------------------------------

for (const mode of MODES) {
  describe(`raw HTTP content, ${mode.label}`, () => {
    it('GET manifest passes bytes, Content-Type, Content-Length, Docker-Content-Digest and ETag through', async () => {
      const gw = mode.gw();
      const image = seed.images.alpineIsh;
      const headers = { Accept: MEDIA_TYPE_OCI_MANIFEST };
      const [direct, through] = await Promise.all([
        httpRequest(`${need(registry, 'registry').url}/v2/${SEED_REPOS.alpineIsh}/manifests/1.0`, { headers }),
        httpRequest(`${gw.url}/v2/${SEED_REPOS.alpineIsh}/manifests/1.0`, { headers }),
      ]);
      assert.equal(through.status, 200, through.body.toString('utf8'));
      assert.ok(through.body.equals(image.manifest.bytes), 'manifest bytes');
      assert.equal(headerValue(through.headers, 'content-type'), MEDIA_TYPE_OCI_MANIFEST);
      assert.equal(headerValue(through.headers, 'content-length'), String(image.manifest.size));
      assert.equal(headerValue(through.headers, 'docker-content-digest'), image.manifest.digest);
      const etag = headerValue(direct.headers, 'etag');
      assert.ok(etag !== undefined && etag.includes(image.manifest.digest), `the registry sends an ETag (${String(etag)})`);
      assert.equal(headerValue(through.headers, 'etag'), etag);
      assert.equal(headerValue(through.headers, 'docker-distribution-api-version'), 'registry/2.0');

      const byDigest = await httpRequest(`${gw.url}/v2/${SEED_REPOS.alpineIsh}/manifests/${image.manifest.digest}`, { headers });
      assert.equal(byDigest.status, 200);
      assert.ok(byDigest.body.equals(image.manifest.bytes));
    });

    it('HEAD manifest has the headers, Content-Length of the real body, and no body', async () => {
      const gw = mode.gw();
      const index = seed.images.multiArch.manifest;
      const head = await rawRequest(gw.url, 'HEAD', `/v2/${SEED_REPOS.multiArch}/manifests/latest`, {});
      assert.equal(head.status, 200);
      assert.equal(head.headers['content-length'], String(index.size));
      assert.equal(head.headers['content-type'], MEDIA_TYPE_OCI_INDEX);
      assert.equal(head.headers['docker-content-digest'], index.digest);
      assert.ok(head.headers.etag?.includes(index.digest), `ETag ${String(head.headers.etag)}`);
      assert.equal(head.body.length, 0, 'HEAD must not carry a body');

      // By digest, twice: the second answer may come from the gateway's manifest cache; same headers, no body.
      const image = seed.images.alpineIsh.manifest;
      for (let i = 0; i < 2; i += 1) {
        const byDigest = await rawRequest(gw.url, 'HEAD', `/v2/${SEED_REPOS.alpineIsh}/manifests/${image.digest}`);
        assert.equal(byDigest.status, 200, `HEAD by digest #${i + 1}`);
        assert.equal(byDigest.headers['content-length'], String(image.size), `HEAD by digest #${i + 1}`);
        assert.equal(byDigest.headers['content-type'], MEDIA_TYPE_OCI_MANIFEST);
        assert.equal(byDigest.headers['docker-content-digest'], image.digest);
        assert.equal(byDigest.body.length, 0, `HEAD by digest #${i + 1} carries a body`);
      }
      const get = await rawRequest(gw.url, 'GET', `/v2/${SEED_REPOS.alpineIsh}/manifests/${image.digest}`);
      assert.equal(get.status, 200);
      assert.ok(get.body.equals(image.bytes), 'GET by digest after HEADs');
    });

    it('Accept negotiation reaches the registry: index with an index Accept, 404 MANIFEST_UNKNOWN without OCI types', async () => {
      const gw = mode.gw();
      const index = await httpRequest(`${gw.url}/v2/${SEED_REPOS.multiArch}/manifests/latest`, {
        headers: { Accept: `${MEDIA_TYPE_OCI_MANIFEST}, ${MEDIA_TYPE_OCI_INDEX}` },
      });
      assert.equal(index.status, 200);
      assert.equal(headerValue(index.headers, 'content-type'), MEDIA_TYPE_OCI_INDEX);
      assert.ok(index.body.equals(seed.images.multiArch.manifest.bytes));

      const manifestOnly = await httpRequest(`${gw.url}/v2/${SEED_REPOS.multiArch}/manifests/latest`, { headers: { Accept: MEDIA_TYPE_OCI_MANIFEST } });
      assertOciError(manifestOnly, [404], ['MANIFEST_UNKNOWN'], 'index asked with a manifest-only Accept');

      for (const accept of [undefined, DOCKER_MANIFEST_V2, '*/*']) {
        const res = await httpRequest(`${gw.url}/v2/${SEED_REPOS.alpineIsh}/manifests/1.0`, { headers: accept === undefined ? {} : { Accept: accept } });
        assertOciError(res, [404], ['MANIFEST_UNKNOWN'], `OCI manifest with Accept ${String(accept)}`);
        assert.match(headerValue(res.headers, 'content-type') ?? '', /application\/json/);
      }
    });

    it('If-None-Match with the ETag answers 304 for manifests and blobs', async () => {
      const gw = mode.gw();
      const image = seed.images.app;
      const first = await httpRequest(`${gw.url}/v2/${SEED_REPOS.app}/manifests/v1`, { headers: { Accept: MEDIA_TYPE_OCI_MANIFEST } });
      const etag = headerValue(first.headers, 'etag');
      assert.ok(etag);
      const manifest304 = await httpRequest(`${gw.url}/v2/${SEED_REPOS.app}/manifests/v1`, {
        headers: { Accept: MEDIA_TYPE_OCI_MANIFEST, 'If-None-Match': etag },
      });
      assert.equal(manifest304.status, 304);
      assert.equal(manifest304.body.length, 0);

      const blobUrl = `${gw.url}/v2/${SEED_REPOS.app}/blobs/${image.config.digest}`;
      const blob = await httpRequest(blobUrl);
      const blobEtag = headerValue(blob.headers, 'etag');
      assert.ok(blobEtag, 'blob ETag passed through');
      const blob304 = await httpRequest(blobUrl, { headers: { 'If-None-Match': blobEtag } });
      assert.equal(blob304.status, 304);
      assert.equal(blob304.body.length, 0);
      const stale = await httpRequest(blobUrl, { headers: { 'If-None-Match': '"sha256:0000"' } });
      assert.equal(stale.status, 200);
      assert.equal(sha256Digest(stale.body), image.config.digest);
    });

    it('the whole 40 MiB blob streams with the right digest, length and headers; HEAD has no body', async () => {
      const gw = mode.gw();
      const layer = bigLayer();
      const url = `${gw.url}/v2/${SEED_REPOS.bigBlob}/blobs/${layer.digest}`;
      const fetched = await httpDigest(url);
      assert.equal(fetched.status, 200);
      assert.equal(fetched.size, layer.size);
      assert.equal(fetched.digest, layer.digest);
      assert.equal(headerValue(fetched.headers, 'content-length'), String(layer.size));
      assert.equal(headerValue(fetched.headers, 'docker-content-digest'), layer.digest);
      assert.ok(headerValue(fetched.headers, 'etag')?.includes(layer.digest));
      assert.equal(headerValue(fetched.headers, 'content-type'), 'application/octet-stream');

      const head = await rawRequest(gw.url, 'HEAD', `/v2/${SEED_REPOS.bigBlob}/blobs/${layer.digest}`);
      assert.equal(head.status, 200);
      assert.equal(head.headers['content-length'], String(layer.size));
      assert.equal(head.headers['docker-content-digest'], layer.digest);
      assert.equal(head.body.length, 0);
    });

    it('Range on a blob answers 206 with Content-Range and exactly those bytes', async () => {
      const gw = mode.gw();
      const layer = bigLayer();
      const url = `${gw.url}/v2/${SEED_REPOS.bigBlob}/blobs/${layer.digest}`;
      const start = 20 * MiB + 7;
      const res = await httpRequest(url, { headers: { Range: `bytes=${start}-${start + 65_535}` } });
      assert.equal(res.status, 206);
      assert.equal(headerValue(res.headers, 'content-range'), `bytes ${start}-${start + 65_535}/${layer.size}`);
      assert.equal(headerValue(res.headers, 'content-length'), '65536');
      assert.ok(res.body.equals(await readSlice(layer.path, start, 65_536)), 'range bytes');

      const suffix = await httpRequest(url, { headers: { Range: 'bytes=-100' } });
      assert.equal(suffix.status, 206);
      assert.ok(suffix.body.equals(await readSlice(layer.path, layer.size - 100, 100)), 'suffix range bytes');

      const beyond = await httpRequest(url, { headers: { Range: `bytes=${layer.size + 10}-` } });
      assertOciError(beyond, [416], ['RANGE_INVALID'], 'unsatisfiable range');
    });

    it('unknown blob, unknown tag and a published repository the registry lacks answer 404 with OCI codes', async () => {
      const gw = mode.gw();
      const missingDigest = `sha256:${'0'.repeat(64)}`;
      assertOciError(await httpRequest(`${gw.url}/v2/${SEED_REPOS.app}/blobs/${missingDigest}`), [404], ['BLOB_UNKNOWN'], 'unknown blob');
      assertOciError(
        await httpRequest(`${gw.url}/v2/${SEED_REPOS.app}/manifests/nope`, { headers: { Accept: ANY_MANIFEST_ACCEPT } }),
        [404],
        ['MANIFEST_UNKNOWN'],
        'unknown tag',
      );
      assertOciError(
        await httpRequest(`${gw.url}/v2/${ABSENT_REPO}/manifests/latest`, { headers: { Accept: ANY_MANIFEST_ACCEPT } }),
        [404],
        ['NAME_UNKNOWN', 'MANIFEST_UNKNOWN'],
        'published but absent repository',
      );
      assertOciError(await httpRequest(`${gw.url}/v2/${ABSENT_REPO}/tags/list`), [404], ['NAME_UNKNOWN'], 'tags of an absent repository');
      // A digest that exists in another repository (and was just served from there) is not in this one.
      const digest = seed.images.alpineIsh.manifest.digest;
      assert.equal((await httpRequest(`${gw.url}/v2/${SEED_REPOS.alpineIsh}/manifests/${digest}`, { headers: { Accept: ANY_MANIFEST_ACCEPT } })).status, 200);
      assertOciError(
        await httpRequest(`${gw.url}/v2/${SEED_REPOS.app}/manifests/${digest}`, { headers: { Accept: ANY_MANIFEST_ACCEPT } }),
        [404],
        ['MANIFEST_UNKNOWN'],
        'a digest of another repository',
      );
    });

    it('an unpublished repository answers 401 with a Bearer challenge and never reaches the registry', async () => {
      const gw = mode.gw();
      const recorder = mode.recorder();
      const digest = seed.images.alpineIsh.manifest.digest;
      // The same manifest, fetched by digest from a published repository first (so a cache could hold it).
      const published = await httpRequest(`${gw.url}/v2/${SEED_REPOS.alpineIsh}/manifests/${digest}`, { headers: { Accept: ANY_MANIFEST_ACCEPT } });
      assert.equal(published.status, 200);
      const before = recorder.calls.length;
      for (const suffix of ['manifests/1.0', `manifests/${digest}`, `blobs/${seed.images.alpineIsh.config.digest}`, 'tags/list']) {
        const res = await httpRequest(`${gw.url}/v2/${HIDDEN_REPO}/${suffix}`, { headers: { Accept: ANY_MANIFEST_ACCEPT } });
        assertOciError(res, [401], ['UNAUTHORIZED'], `${HIDDEN_REPO}/${suffix}`);
        const challenge = headerValue(res.headers, 'www-authenticate') ?? '';
        assert.match(challenge, /^Bearer /);
        assert.ok(challenge.includes(`realm="${gw.url}/v2/token"`), challenge);
        assert.ok(challenge.includes(`scope="repository:${HIDDEN_REPO}:pull"`), challenge);
      }
      assert.deepEqual(recorder.calls.slice(before), []);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Base endpoints, token, catalog, tag pagination
// ---------------------------------------------------------------------------------------------

describe('base endpoints, catalog and pagination', () => {
  it('GET /v2/ challenges without a token and answers 200 with the anonymous token', async () => {
    const gw = need(gateways.redirect, 'gateway');
    const bare = await httpRequest(`${gw.url}/v2/`);
    assert.equal(bare.status, 401);
    const challenge = headerValue(bare.headers, 'www-authenticate') ?? '';
    assert.match(challenge, /^Bearer realm="([^"]+)",service="([^"]+)"/);
    assert.ok(challenge.includes(`realm="${gw.url}/v2/token"`), challenge);
    ociError(bare.body, 'GET /v2/ without token');

    const token = await httpRequest(`${gw.url}/v2/token?service=${encodeURIComponent(gw.host)}&scope=repository:${SEED_REPOS.app}:pull`);
    assert.equal(token.status, 200);
    const body = JSON.parse(token.body.toString('utf8')) as { token: string; access_token: string; expires_in: number; issued_at: string };
    assert.ok(body.token.length > 0);
    assert.equal(body.access_token, body.token);
    assert.ok(body.expires_in > 0);
    assert.ok(!Number.isNaN(Date.parse(body.issued_at)));
    const authed = await httpRequest(`${gw.url}/v2/`, { headers: { Authorization: `Bearer ${body.token}` } });
    assert.equal(authed.status, 200);
    assert.equal(headerValue(authed.headers, 'docker-distribution-api-version'), 'registry/2.0');
  });

  it('GET /v1/_ping answers 200', async () => {
    const res = await httpRequest(`${need(gateways.proxy, 'gateway').url}/v1/_ping`);
    assert.equal(res.status, 200);
  });

  it('_catalog lists exactly the published public repositories, paginated with gateway Links', async () => {
    const gw = need(gateways.redirect, 'gateway');
    const all = await httpRequest(`${gw.url}/v2/_catalog`);
    assert.equal(all.status, 200);
    const expected = [...PUBLIC_REPOS].sort();
    assert.deepEqual((JSON.parse(all.body.toString('utf8')) as { repositories: string[] }).repositories, expected);

    const seen: string[] = [];
    let next: string | undefined = '/v2/_catalog?n=2';
    let pages = 0;
    while (next !== undefined && pages < 10) {
      pages += 1;
      const page = await httpRequest(new URL(next, gw.url).href);
      assert.equal(page.status, 200);
      const items = (JSON.parse(page.body.toString('utf8')) as { repositories: string[] }).repositories;
      assert.ok(items.length <= 2);
      seen.push(...items);
      next = nextLinkOf(page, gw);
    }
    assert.deepEqual(seen, expected);
    assert.equal(pages, Math.ceil(expected.length / 2));
  });

  for (const mode of MODES) {
    it(`tags/list?n=3 pages through all 7 tags exactly once via gateway Links (${mode.label.split(' (')[0]})`, async () => {
      const gw = mode.gw();
      const seen: string[] = [];
      let next: string | undefined = `/v2/${SEED_REPOS.manyTags}/tags/list?n=3`;
      let pages = 0;
      while (next !== undefined && pages < 10) {
        pages += 1;
        const page = await httpRequest(new URL(next, gw.url).href);
        assert.equal(page.status, 200, page.body.toString('utf8'));
        const body = JSON.parse(page.body.toString('utf8')) as { name: string; tags: string[] };
        assert.equal(body.name, SEED_REPOS.manyTags);
        assert.ok(body.tags.length <= 3, `page ${pages} has ${body.tags.length} tags`);
        seen.push(...body.tags);
        next = nextLinkOf(page, gw);
        if (next !== undefined) assert.ok(new URL(next, gw.url).pathname === `/v2/${SEED_REPOS.manyTags}/tags/list`, next);
      }
      assert.equal(pages, 3);
      assert.deepEqual(seen, [...MANY_TAGS]);

      const afterLast = await httpRequest(`${gw.url}/v2/${SEED_REPOS.manyTags}/tags/list?n=3&last=t7`);
      assert.deepEqual((JSON.parse(afterLast.body.toString('utf8')) as { tags: string[] }).tags, []);
      assert.equal(headerValue(afterLast.headers, 'link'), undefined);
      assertOciError(await httpRequest(`${gw.url}/v2/${SEED_REPOS.manyTags}/tags/list?n=abc`), [400], ['PAGINATION_NUMBER_INVALID'], 'n=abc');
    });
  }
});

/** The rel="next" target of a page, checked to be on the gateway and to name no backend address. */
function nextLinkOf(page: HttpResponse, gw: RunningGateway): string | undefined {
  const link = headerValue(page.headers, 'link');
  if (link === undefined) return undefined;
  const match = /<([^>]+)>\s*;\s*rel="?next"?/.exec(link);
  assert.ok(match?.[1], `Link header without rel="next": ${link}`);
  const target = new URL(match[1], gw.url);
  assert.equal(target.origin, new URL(gw.url).origin, `Link points away from the gateway: ${link}`);
  for (const port of [need(registry, 'registry').port, need(recorders.redirect, 'r').port, need(recorders.proxy, 'r').port]) {
    assert.ok(!link.includes(`:${port}`), `Link exposes a backend port: ${link}`);
  }
  return match[1];
}

// ---------------------------------------------------------------------------------------------
// Bad names over a raw socket: refused before anything reaches the backend
// ---------------------------------------------------------------------------------------------

const LAYER_DIGEST_PLACEHOLDER = '<layer>';
const BAD_TARGETS: Array<{ target: string; why: string }> = [
  { target: '/v2/a/../b/manifests/x', why: 'dot-dot segment' },
  { target: `/v2/library/alpine-ish/../../${SEED_REPOS.app}/manifests/v1`, why: 'dot-dot onto a published repository' },
  { target: `/v2/hidden/../${SEED_REPOS.app}/manifests/v1`, why: 'dot-dot from an unpublished prefix' },
  { target: `/v2/./${SEED_REPOS.app}/manifests/v1`, why: 'dot segment' },
  { target: '/v2/%2e%2e/x/manifests/y', why: 'percent-encoded dots' },
  { target: `/v2/library/%2E%2E/${SEED_REPOS.app}/manifests/v1`, why: 'upper-case percent-encoded dots' },
  { target: '/v2/a%2Fb/manifests/x', why: 'percent-encoded slash' },
  { target: `/v2/org%2fteam%2fapp/manifests/v1`, why: 'percent-encoded slashes naming a published repository' },
  { target: `/v2/org/team/app/manifests/v1%00`, why: 'percent-encoded NUL in the reference' },
  { target: '/v2/a//b/manifests/x', why: 'empty segment' },
  { target: `/v2//${SEED_REPOS.app}/manifests/v1`, why: 'leading empty segment' },
  { target: `/v2/${SEED_REPOS.app}//manifests/v1`, why: 'empty segment before the endpoint' },
  { target: `/v2/${SEED_REPOS.app}/manifests/../blobs/${LAYER_DIGEST_PLACEHOLDER}`, why: 'dot-dot in the endpoint' },
  { target: `/v2/${'a'.repeat(256)}/manifests/latest`, why: 'name over 255 characters' },
  { target: `/v2/${Array.from({ length: 200 }, () => 'abcdefgh').join('/')}/manifests/latest`, why: 'path over 1 KiB' },
  { target: '/v2/Library/Alpine/manifests/1.0', why: 'upper case in the name' },
  { target: '/v2/library/alpine-ish;x/manifests/1.0', why: 'semicolon in the name' },
  { target: '/v2/-lead/manifests/1.0', why: 'name component starting with a separator' },
  { target: `/v2/${SEED_REPOS.alpineIsh}/manifests/-bad`, why: 'tag starting with a dash' },
  { target: `/v2/${SEED_REPOS.alpineIsh}/manifests/${'t'.repeat(129)}`, why: 'tag over 128 characters' },
  { target: `/v2/${SEED_REPOS.bigBlob}/blobs/sha256:xyz`, why: 'malformed digest' },
  { target: `/v2/${SEED_REPOS.bigBlob}/blobs/md5:0123456789abcdef0123456789abcdef`, why: 'unregistered digest algorithm' },
  { target: `/v2/${SEED_REPOS.bigBlob}/blobs/sha256:${'A'.repeat(64)}`, why: 'upper-case sha256 hex' },
  { target: '/v2/a\\..\\b/manifests/x', why: 'backslashes' },
  { target: `/v2/a/../${SEED_REPOS.manyTags}/tags/list`, why: 'dot-dot on tags/list' },
];

for (const mode of MODES) {
  describe(`bad names over a raw socket, ${mode.label}`, () => {
    it('every trick is answered 400/404 with an OCI error body, and the registry is never called', async () => {
      const gw = mode.gw();
      const recorder = mode.recorder();
      const before = recorder.calls.length;
      const failures: string[] = [];
      for (const { target: template, why } of BAD_TARGETS) {
        const target = template.replace(LAYER_DIGEST_PLACEHOLDER, bigLayer().digest);
        const res = await rawRequest(gw.url, 'GET', target);
        try {
          assertOciError(res, [400, 404], ['NAME_INVALID', 'NAME_UNKNOWN', 'MANIFEST_UNKNOWN', 'MANIFEST_INVALID', 'TAG_INVALID', 'DIGEST_INVALID', 'BLOB_UNKNOWN', 'NOT_FOUND'], `${why}: ${target.slice(0, 80)}`);
        } catch (error) {
          failures.push((error as Error).message);
        }
      }
      assert.deepEqual(failures, []);
      assert.deepEqual(recorder.calls.slice(before), [], 'requests reached the backend');
    });

    it('the request-target forms a proxy would see (absolute-form, query tricks) never reach another repository', async () => {
      const gw = mode.gw();
      const recorder = mode.recorder();
      const before = recorder.calls.length;
      const absolute = await rawRequest(gw.url, 'GET', `http://${gw.host}/v2/a/../${HIDDEN_REPO}/manifests/1.0`);
      assert.ok(absolute.status >= 400 && absolute.status < 500, `absolute-form: ${absolute.status}`);
      ociError(absolute.body, 'absolute-form request target');
      const query = await rawRequest(gw.url, 'GET', `/v2/${HIDDEN_REPO}/manifests/1.0?x=/../../${SEED_REPOS.app}`);
      assertOciError(query, [401], ['UNAUTHORIZED'], 'query with dot-dots on an unpublished repo');
      assert.deepEqual(recorder.calls.slice(before), []);
    });

    it('an absolute-form request target (RFC 9112 3.2.2: servers MUST accept it) is served like the origin-form one', async () => {
      const gw = mode.gw();
      const res = await rawRequest(gw.url, 'GET', `http://${gw.host}/v2/${SEED_REPOS.app}/manifests/v1`);
      assert.equal(res.status, 200, `absolute-form answered ${res.status}: ${res.body.toString('utf8').slice(0, 200)}`);
      assert.equal(sha256Digest(res.body), seed.images.app.manifest.digest);
    });

    it('control: a well-formed request for the same repositories does reach the registry', async () => {
      const gw = mode.gw();
      const recorder = mode.recorder();
      const before = recorder.calls.length;
      const res = await rawRequest(gw.url, 'GET', `/v2/${SEED_REPOS.app}/manifests/v1`);
      assert.equal(res.status, 200);
      assert.equal(sha256Digest(res.body), seed.images.app.manifest.digest);
      assert.deepEqual(recorder.calls.slice(before).map((c) => c.url), [`/v2/${SEED_REPOS.app}/manifests/v1`]);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Push refusal
// ---------------------------------------------------------------------------------------------

describe('push refusal', () => {
  for (const mode of MODES) {
    it(`PUT/POST/PATCH/DELETE on /v2/... answer 405 UNSUPPORTED and never reach the registry (${mode.label.split(' (')[0]})`, async () => {
      const gw = mode.gw();
      const recorder = mode.recorder();
      const before = recorder.calls.length;
      const image = seed.images.alpineIsh;
      const attempts: Array<{ method: string; path: string; body?: Buffer; contentType?: string }> = [
        { method: 'PUT', path: `/v2/${SEED_REPOS.alpineIsh}/manifests/pushed`, body: image.manifest.bytes, contentType: MEDIA_TYPE_OCI_MANIFEST },
        { method: 'POST', path: `/v2/${SEED_REPOS.alpineIsh}/blobs/uploads/` },
        { method: 'POST', path: `/v2/${SEED_REPOS.alpineIsh}/blobs/uploads/?mount=${image.config.digest}&from=${SEED_REPOS.app}` },
        { method: 'PATCH', path: `/v2/${SEED_REPOS.alpineIsh}/blobs/uploads/0d6f3e7a-1111-2222-3333-444455556666`, body: Buffer.from('data'), contentType: 'application/octet-stream' },
        { method: 'PUT', path: `/v2/${SEED_REPOS.alpineIsh}/blobs/uploads/0d6f3e7a-1111-2222-3333-444455556666?digest=${image.config.digest}`, body: Buffer.from('x'), contentType: 'application/octet-stream' },
        { method: 'DELETE', path: `/v2/${SEED_REPOS.alpineIsh}/manifests/${image.manifest.digest}` },
        { method: 'DELETE', path: `/v2/${SEED_REPOS.alpineIsh}/blobs/${image.config.digest}` },
        { method: 'POST', path: `/v2/new/repo/blobs/uploads/` },
      ];
      for (const attempt of attempts) {
        const res = await httpRequest(`${gw.url}${attempt.path}`, {
          method: attempt.method,
          headers: attempt.contentType === undefined ? {} : { 'Content-Type': attempt.contentType },
          ...(attempt.body === undefined ? {} : { body: attempt.body }),
        });
        assertOciError(res, [405, 404], ['UNSUPPORTED'], `${attempt.method} ${attempt.path}`);
      }
      const uploadGet = await httpRequest(`${gw.url}/v2/${SEED_REPOS.alpineIsh}/blobs/uploads/0d6f3e7a-1111-2222-3333-444455556666`);
      assertOciError(uploadGet, [405, 404], ['UNSUPPORTED', 'BLOB_UPLOAD_UNKNOWN', 'NOT_FOUND'], 'GET upload status');
      assert.deepEqual(recorder.calls.slice(before), [], 'push verbs reached the backend');
      // Still there, untouched.
      const still = await httpRequest(`${gw.url}/v2/${SEED_REPOS.alpineIsh}/manifests/${image.manifest.digest}`, { headers: { Accept: MEDIA_TYPE_OCI_MANIFEST } });
      assert.equal(still.status, 200);
    });
  }

  it('skopeo copy *to* the gateway fails, and nothing lands in the registry', async () => {
    const gw = need(gateways.proxy, 'gateway');
    const recorder = need(recorders.proxy, 'recorder');
    const before = recorder.calls.length;
    await assert.rejects(
      runSkopeo(
        'copy',
        ({ authfile }) => [
          '--retry-times',
          '0',
          '--dest-tls-verify=false',
          '--dest-authfile',
          authfile,
          `oci:${seed.layoutDirs[SEED_REPOS.app] ?? ''}:v1`,
          `docker://${gw.host}/${SEED_REPOS.app}:pushed`,
        ],
        { timeoutMs: 30_000 },
      ),
      (error: Error) => {
        assert.match(error.message, /405|UNSUPPORTED|unsupported|read-only|not allowed/i);
        return true;
      },
    );
    const writes = recorder.calls.slice(before).filter((c) => c.method !== 'GET' && c.method !== 'HEAD');
    assert.deepEqual(writes, [], 'write verbs reached the backend');
    const direct = await httpRequest(`${need(registry, 'registry').url}/v2/${SEED_REPOS.app}/manifests/pushed`, { headers: { Accept: ANY_MANIFEST_ACCEPT } });
    assert.equal(direct.status, 404, 'the pushed tag must not exist in the registry');
  });
});

// ---------------------------------------------------------------------------------------------
// Backend down, client disconnects, memory
// ---------------------------------------------------------------------------------------------

describe('backend down', () => {
  let throwaway: RunningRegistry | undefined;
  const downGateways: RunningGateway[] = [];

  before(async () => {
    throwaway = await startRegistry();
    downGateways.push(await startGateway({ backendUrl: throwaway.url }));
    downGateways.push(await startGateway({ backendUrl: throwaway.url, env: { CG_BACKEND_MODE: 'proxy' } }));
    for (const gw of downGateways) await gw.publish([{ name: 'some/repo' }]);
  });

  after(async () => {
    for (const gw of downGateways) await gw.stop();
    await throwaway?.stop();
  });

  it('a stopped registry gives 502 BACKEND_UNREACHABLE with an OCI body, quickly, in both modes', async () => {
    const digest = `sha256:${'1'.repeat(64)}`;
    // Reachable first (and leaves a warm keep-alive connection in each gateway's pool).
    for (const gw of downGateways) {
      assertOciError(await httpRequest(`${gw.url}/v2/some/repo/tags/list`), [404], ['NAME_UNKNOWN'], 'live backend');
      assertOciError(await httpRequest(`${gw.url}/v2/some/repo/blobs/${digest}`), [404], ['BLOB_UNKNOWN'], 'live backend');
    }
    await need(throwaway, 'throwaway registry').stop();
    for (const gw of downGateways) {
      for (const [method, suffix] of [
        ['GET', 'manifests/latest'],
        ['GET', `blobs/${digest}`],
        ['GET', 'tags/list'],
        ['GET', 'manifests/latest'],
      ] as const) {
        const started = Date.now();
        const res = await httpRequest(`${gw.url}/v2/some/repo/${suffix}`, { method, headers: { Accept: ANY_MANIFEST_ACCEPT }, timeoutMs: 8_000 });
        const elapsed = Date.now() - started;
        assertOciError(res, [502], ['BACKEND_UNREACHABLE'], `${method} ${suffix} with the backend down`);
        assert.ok(elapsed < 2_000, `${method} ${suffix} took ${elapsed} ms`);
        assert.ok(!res.body.toString('utf8').includes(String(new URL(need(throwaway, 'r').url).port)), 'the backend address leaks into the error');
      }
      const head = await httpRequest(`${gw.url}/v2/some/repo/manifests/latest`, { method: 'HEAD', timeoutMs: 8_000 });
      assert.equal(head.status, 502);
      assert.equal((await httpRequest(`${gw.url}/v1/_ping`)).status, 200, 'the gateway itself stays up');
    }
  });
});

describe('client disconnects and memory', () => {
  for (const mode of MODES) {
    it(`a client that disconnects mid-blob aborts the backend request and the gateway keeps serving (${mode.label.split(' (')[0]})`, async () => {
      const gw = mode.gw();
      const recorder = mode.recorder();
      const layer = bigLayer();
      const { hostname, port } = new URL(gw.url);
      for (let round = 0; round < 3; round += 1) {
        const before = recorder.calls.length;
        const firstChunk = await new Promise<number>((resolve, reject) => {
          const req = http.get({ hostname, port, path: `/v2/${SEED_REPOS.bigBlob}/blobs/${layer.digest}`, agent: false }, (res) => {
            if (res.statusCode !== 200) reject(new Error(`status ${String(res.statusCode)}`));
            res.once('data', (chunk: Buffer) => {
              req.destroy();
              resolve(chunk.length);
            });
          });
          req.on('error', () => undefined);
        });
        assert.ok(firstChunk > 0 && firstChunk < layer.size);
        const call = recorder.calls[before];
        assert.ok(call !== undefined && call.url.includes(layer.digest), 'the blob request reached the backend');
        const aborted = await waitFor(() => call.aborted, 3_000);
        assert.ok(aborted, `round ${round}: the backend request was not aborted after the client left (finished=${call.finished})`);
      }
      const next = await httpDigest(`${gw.url}/v2/${SEED_REPOS.bigBlob}/blobs/${layer.digest}`);
      assert.equal(next.status, 200);
      assert.equal(next.digest, layer.digest);
      const manifest = await httpRequest(`${gw.url}/v2/${SEED_REPOS.bigBlob}/manifests/1`, { headers: { Accept: MEDIA_TYPE_OCI_MANIFEST } });
      assert.equal(manifest.status, 200);
    });
  }

  for (const mode of MODES) {
    const short = mode.label.split(' (')[0];
    const endpoints = [
      { what: 'manifest', path: () => `/v2/${SEED_REPOS.app}/manifests/v1` },
      { what: 'blob', path: () => `/v2/${SEED_REPOS.app}/blobs/${seed.images.app.config.digest}` },
      { what: 'tags/list', path: () => `/v2/${SEED_REPOS.app}/tags/list` },
    ];
    for (const endpoint of endpoints) {
      it(`a client that gives up on a ${endpoint.what} before the backend answers aborts the backend request (${short})`, async () => {
        const gw = mode.gw();
        const recorder = mode.recorder();
        const { hostname, port } = new URL(gw.url);
        const held = endpoint.path();
        recorder.hold = { match: (url) => url === held, ms: 4_000 };
        try {
          const before = recorder.calls.length;
          const req = http.get({ hostname, port, path: held, agent: false, headers: { Accept: MEDIA_TYPE_OCI_MANIFEST } });
          req.on('error', () => undefined);
          assert.ok(await waitFor(() => recorder.calls.length > before, 2_000), 'the request reached the backend');
          const call = recorder.calls[before];
          assert.ok(call);
          assert.equal(call.url, held);
          req.destroy();
          assert.ok(await waitFor(() => call.aborted, 2_000), `the backend ${endpoint.what} request is still open 2 s after the client left`);
        } finally {
          recorder.hold = undefined;
        }
        const next = await httpRequest(`${gw.url}${held}`, { headers: { Accept: MEDIA_TYPE_OCI_MANIFEST } });
        assert.equal(next.status, 200, `the gateway still serves the ${endpoint.what}`);
      });
    }
  }

  for (const mode of MODES) {
    it(`two 40 MiB downloads do not grow RSS by anything like the blob size (${mode.label.split(' (')[0]})`, async (t) => {
      const gw = mode.gw();
      const layer = bigLayer();
      const url = `${gw.url}/v2/${SEED_REPOS.bigBlob}/blobs/${layer.digest}`;
      // One warm-up download brings pools, heaps and the allocator to steady state (and settles what
      // earlier tests left behind). RSS is compared after a settled GC on both sides, so it measures what
      // the downloads left behind; the stall test below is what catches a blob held in memory mid-stream.
      assert.equal((await httpDigest(url)).digest, layer.digest);
      const before = (await settledMemory()).rss;
      let peak = before;
      const sampler = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage().rss);
      }, 5);
      try {
        for (let i = 0; i < 2; i += 1) {
          const fetched = await httpDigest(url);
          assert.equal(fetched.digest, layer.digest);
        }
      } finally {
        clearInterval(sampler);
      }
      const afterRss = (await settledMemory()).rss;
      const growth = afterRss - before;
      const size = `${(layer.size / MiB).toFixed(0)} MiB`;
      t.diagnostic(`RSS over two ${size} downloads: ${(growth / MiB).toFixed(1)} MiB retained, ${((peak - before) / MiB).toFixed(1)} MiB peak (garbage included)`);
      assert.ok(growth < 30 * MiB, `RSS grew by ${(growth / MiB).toFixed(1)} MiB over two downloads of a ${size} blob`);
    });

    it(`a client that stalls mid-blob does not make the gateway hold the blob in memory (${mode.label.split(' (')[0]})`, async (t) => {
      const gw = mode.gw();
      const layer = bigLayer();
      const url = `${gw.url}/v2/${SEED_REPOS.bigBlob}/blobs/${layer.digest}`;
      const live: number[] = [];
      for (let i = 0; i < 2; i += 1) {
        const baseline = await liveBufferBytes();
        // The client stops reading 4 MiB in. A gateway that buffers the blob, or reads the backend faster
        // than the client takes it, now holds most of the other 36 MiB in live Buffers; a streaming one
        // holds what sits in socket queues.
        let atStall = 0;
        const fetched = await downloadWithStall(url, 4 * MiB, 300, async () => {
          atStall = await liveBufferBytes();
        });
        assert.equal(fetched.status, 200);
        assert.equal(fetched.size, layer.size);
        assert.equal(fetched.digest, layer.digest);
        live.push(atStall - baseline);
      }
      t.diagnostic(`live Buffer growth at the stall: ${live.map((b) => (b / MiB).toFixed(1)).join(', ')} MiB`);
      for (const growth of live) {
        assert.ok(growth < 20 * MiB, `${(growth / MiB).toFixed(1)} MiB more live Buffers while a client stalled on a ${(layer.size / MiB).toFixed(0)} MiB blob`);
      }
    });
  }
});
