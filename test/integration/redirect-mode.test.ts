/**
 * redirect-mode.test.ts — issue 2: the gateway in front of a backend that answers manifests and blobs with
 * redirects to a separate content app, the way Pulp 3 does (harness/pulp-like-backend.ts, in front of a real
 * docker-registry):
 *   - redirect mode (default): the client gets the 30x with the content app's absolute Location, and real
 *     skopeo follows it; with backend.clientUrl the Location's scheme/host/port become the clientUrl's
 *     (a load balancer in front of the content app, here a recording proxy that skopeo pulls through);
 *   - proxy mode: the gateway follows the redirect itself; the client never sees the content app.
 *
 * Run: npm run build && node --import tsx --test test/integration/redirect-mode.test.ts
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { headerValue, httpDigest, httpRequest, type HttpResponse } from './harness/http-client.js';
import {
  MEDIA_TYPE_OCI_INDEX,
  MEDIA_TYPE_OCI_MANIFEST,
  readSlice,
  sortedDigests,
  writeImageLayout,
  writeIndexLayout,
  type BuiltImage,
  type BuiltIndex,
} from './harness/oci-layout.js';
import { startPulpLikeBackend, type PulpLikeBackend } from './harness/pulp-like-backend.js';
import { findFreePort, startRegistry, type RunningRegistry } from './harness/registry.js';
import { pushLayout, tagManifest } from './harness/seed.js';
import { dockerReference, dockerRepository, skopeoCopyToDir, skopeoInspect, skopeoListTags, verifyDirCopy } from './harness/skopeo.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { startRecordingProxy, type RecordingProxy } from '../support/recording-proxy.js';

const IMAGE_REPO = 'library/alpine-ish';
const INDEX_REPO = 'multi/arch';
const REDIRECTS = [301, 302, 303, 307, 308];

let workDir = '';
let registry: RunningRegistry | undefined;
let pulp: PulpLikeBackend | undefined;
/** The "load balancer" clients reach the content app through when backend.clientUrl is set. */
let balancer: RecordingProxy | undefined;
let image: BuiltImage;
let index: BuiltIndex;
let imageLayout = '';
/** An https clientUrl (nothing listens there): the scheme must be rewritten too. */
let httpsClientUrl = '';

const gateways: { redirect?: RunningGateway; cached?: RunningGateway; clientUrl?: RunningGateway; httpsClientUrl?: RunningGateway; proxy?: RunningGateway } = {};

function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`${what} not started`);
  return value;
}

before(async () => {
  workDir = await mkdtemp(path.join(os.tmpdir(), 'cg-redirect-mode-'));
  registry = await startRegistry();
  imageLayout = path.join(workDir, 'layouts', 'image');
  const indexLayout = path.join(workDir, 'layouts', 'index');
  [image, index] = await Promise.all([
    writeImageLayout(imageLayout, { tag: '1.0', seed: 'redirect-alpine-ish' }),
    writeIndexLayout(indexLayout, 'latest', [
      { architecture: 'amd64', os: 'linux' },
      { architecture: 'arm64', os: 'linux' },
    ], { seed: 'redirect-multi-arch' }),
  ]);
  const registryUrl = registry.url;
  await Promise.all([
    pushLayout(imageLayout, '1.0', registryUrl, IMAGE_REPO).then(() => tagManifest(registryUrl, IMAGE_REPO, image.manifest, 'latest')),
    pushLayout(indexLayout, 'latest', registryUrl, INDEX_REPO),
  ]);
  pulp = await startPulpLikeBackend(registry.url);
  balancer = await startRecordingProxy(pulp.contentUrl);
  httpsClientUrl = `https://127.0.0.1:${await findFreePort()}`;

  // Without the redirect cache, so every client request shows up at the Pulp-like backend.
  gateways.redirect = await startGateway({ backendUrl: pulp.url, env: { CG_BACKEND_REDIRECT_CACHE_SECONDS: '0' } });
  gateways.cached = await startGateway({ backendUrl: pulp.url });
  gateways.clientUrl = await startGateway({ backendUrl: pulp.url, env: { CG_BACKEND_CLIENT_URL: balancer.url } });
  gateways.httpsClientUrl = await startGateway({ backendUrl: pulp.url, env: { CG_BACKEND_CLIENT_URL: httpsClientUrl } });
  gateways.proxy = await startGateway({ backendUrl: pulp.url, env: { CG_BACKEND_MODE: 'proxy' } });
  for (const gw of Object.values(gateways)) await gw.publish([{ name: IMAGE_REPO }, { name: INDEX_REPO }]);
});

after(async () => {
  for (const gw of Object.values(gateways)) await gw.stop();
  await balancer?.stop();
  await pulp?.stop();
  await registry?.stop();
  if (workDir !== '') await rm(workDir, { recursive: true, force: true });
});

function contentPath(repo: string, kind: 'manifests' | 'blobs', reference: string): string {
  return `/pulp/container/${repo}/${kind}/${reference}`;
}

function assertRedirect(res: HttpResponse, expectedLocation: string, context: string): URL {
  assert.ok(REDIRECTS.includes(res.status), `${context}: status ${res.status}, want a redirect; body ${res.body.toString('utf8').slice(0, 200)}`);
  assert.equal(res.status, 302, `${context}: the backend's own redirect status`);
  const location = headerValue(res.headers, 'location');
  assert.ok(location !== undefined, `${context}: no Location`);
  assert.ok(URL.canParse(location), `${context}: Location is not an absolute URL: ${location}`);
  assert.equal(location, expectedLocation, context);
  return new URL(location);
}


function firstLayer(): { digest: string; size: number; path: string } {
  const layer = image.layers[0];
  assert.ok(layer);
  return layer;
}

describe('redirect mode (default) against a Pulp-like backend', () => {
  it('manifest GET and HEAD answer the backend redirect with the content app absolute Location, and the Accept reached the backend', async () => {
    const gw = need(gateways.redirect, 'gateway');
    const be = need(pulp, 'pulp');
    const before = be.requests.length;
    const accept = `${MEDIA_TYPE_OCI_MANIFEST}, ${MEDIA_TYPE_OCI_INDEX}`;
    const res = await httpRequest(`${gw.url}/v2/${INDEX_REPO}/manifests/latest`, { headers: { Accept: accept } });
    const location = assertRedirect(res, `${be.contentUrl}${contentPath(INDEX_REPO, 'manifests', 'latest')}`, 'manifest GET');
    assert.equal(headerValue(res.headers, 'docker-distribution-api-version'), 'registry/2.0');

    const apiCall = be.requests.slice(before).find((r) => r.kind === 'manifestRedirects');
    assert.ok(apiCall, 'the gateway asked the backend API');
    assert.equal(apiCall.accept, accept, 'the client Accept reached the backend');
    assert.equal(be.requests.slice(before).filter((r) => r.listener === 'content').length, 0, 'the gateway itself did not fetch content');

    // What the client does next: follow it, with its own Accept.
    const followed = await httpRequest(location.href, { headers: { Accept: accept } });
    assert.equal(followed.status, 200);
    assert.equal(headerValue(followed.headers, 'content-type'), MEDIA_TYPE_OCI_INDEX);
    assert.ok(followed.body.equals(index.manifest.bytes));

    const head = await httpRequest(`${gw.url}/v2/${IMAGE_REPO}/manifests/1.0`, { method: 'HEAD', headers: { Accept: MEDIA_TYPE_OCI_MANIFEST } });
    assertRedirect(head, `${be.contentUrl}${contentPath(IMAGE_REPO, 'manifests', '1.0')}`, 'manifest HEAD');
    assert.equal(head.body.length, 0);

    const byDigest = await httpRequest(`${gw.url}/v2/${IMAGE_REPO}/manifests/${image.manifest.digest}`, { headers: { Accept: MEDIA_TYPE_OCI_MANIFEST } });
    assertRedirect(byDigest, `${be.contentUrl}${contentPath(IMAGE_REPO, 'manifests', image.manifest.digest)}`, 'manifest by digest');
  });

  it('blob GET answers the redirect; following it (with a Range) yields the right bytes', async () => {
    const gw = need(gateways.redirect, 'gateway');
    const be = need(pulp, 'pulp');
    const layer = firstLayer();
    const res = await httpRequest(`${gw.url}/v2/${IMAGE_REPO}/blobs/${layer.digest}`);
    const location = assertRedirect(res, `${be.contentUrl}${contentPath(IMAGE_REPO, 'blobs', layer.digest)}`, 'blob GET');
    const whole = await httpDigest(location.href);
    assert.equal(whole.status, 200);
    assert.equal(whole.digest, layer.digest);

    const before = be.requests.length;
    const ranged = await httpRequest(`${gw.url}/v2/${IMAGE_REPO}/blobs/${layer.digest}`, { headers: { Range: 'bytes=10-19' } });
    assertRedirect(ranged, location.href, 'ranged blob GET');
    assert.equal(be.requests.slice(before).find((r) => r.kind === 'blobRedirects')?.range, 'bytes=10-19', 'Range reached the backend');
    const part = await httpRequest(location.href, { headers: { Range: 'bytes=10-19' } });
    assert.equal(part.status, 206);
    assert.ok(part.body.equals(await readSlice(layer.path, 10, 10)));
  });

  it('tags/list is not redirected: the gateway serves it, paginated with its own Link', async () => {
    const gw = need(gateways.redirect, 'gateway');
    const be = need(pulp, 'pulp');
    const first = await httpRequest(`${gw.url}/v2/${IMAGE_REPO}/tags/list?n=1`);
    assert.equal(first.status, 200);
    assert.deepEqual((JSON.parse(first.body.toString('utf8')) as { tags: string[] }).tags, ['1.0']);
    const link = headerValue(first.headers, 'link') ?? '';
    const target = /<([^>]+)>/.exec(link)?.[1];
    assert.ok(target, `Link: ${link}`);
    assert.equal(new URL(target, gw.url).origin, new URL(gw.url).origin);
    assert.ok(!link.includes(String(be.port)) && !link.includes(String(be.contentPort)), `Link names the backend: ${link}`);
    const second = await httpRequest(new URL(target, gw.url).href);
    assert.deepEqual((JSON.parse(second.body.toString('utf8')) as { tags: string[] }).tags, ['latest']);
  });

  it('skopeo inspect, list-tags and copy through the gateway follow the redirect to the content app, digests verified', async () => {
    const gw = need(gateways.redirect, 'gateway');
    const be = need(pulp, 'pulp');
    be.resetCounts();
    const imageDest = path.join(workDir, 'copy-redirect-image');
    const indexDest = path.join(workDir, 'copy-redirect-index');
    const [raw, tags] = await Promise.all([
      skopeoInspect(dockerReference(gw.url, IMAGE_REPO, '1.0'), { raw: true }),
      skopeoListTags(dockerRepository(gw.url, IMAGE_REPO)),
      skopeoCopyToDir(dockerReference(gw.url, IMAGE_REPO, 'latest'), imageDest),
      skopeoCopyToDir(dockerReference(gw.url, INDEX_REPO, 'latest'), indexDest, { multiArch: 'all' }),
    ]);
    assert.ok(raw.bytes.equals(image.manifest.bytes));
    assert.deepEqual([...tags.Tags].sort(), ['1.0', 'latest']);

    const imageReport = await verifyDirCopy(imageDest);
    assert.equal(imageReport.manifestDigest, image.manifest.digest);
    assert.deepEqual(imageReport.blobs.map((b) => b.digest).sort(), sortedDigests(image));
    const indexReport = await verifyDirCopy(indexDest);
    assert.equal(indexReport.kind, 'index');
    assert.equal(indexReport.manifestDigest, index.manifest.digest);
    assert.deepEqual(indexReport.missingInstances, []);
    assert.deepEqual(indexReport.blobs.map((b) => b.digest).sort(), sortedDigests(index));

    // Every blob was handed out as a redirect, and fetched from the content app.
    const blobCount = sortedDigests(image).length + sortedDigests(index).length;
    assert.ok(be.counts.blobRedirects >= blobCount, `blob redirects ${be.counts.blobRedirects} < ${blobCount}`);
    assert.ok(be.counts.contentBlobs >= blobCount, `content-app blob fetches ${be.counts.contentBlobs} < ${blobCount}`);
    assert.ok(be.counts.manifestRedirects > 0 && be.counts.contentManifests > 0);
  });
});

describe('redirect mode with the redirect cache (the default, backend.redirectCacheSeconds)', () => {
  it('a repeated request is answered from the cache, after the access decision, with the same Location', async () => {
    const gw = need(gateways.cached, 'gateway');
    const be = need(pulp, 'pulp');
    const layer = firstLayer();
    const path = `/v2/${IMAGE_REPO}/blobs/${layer.digest}`;
    const first = await httpRequest(`${gw.url}${path}`);
    const before = be.counts.blobRedirects;
    const second = await httpRequest(`${gw.url}${path}`);
    assert.equal(second.status, first.status);
    assert.equal(second.headers.location, first.headers.location);
    assert.equal(be.counts.blobRedirects, before, 'the second request did not reach the backend');
    // Another Range is another request; and the access decision still runs.
    await httpRequest(`${gw.url}${path}`, { headers: { Range: 'bytes=0-9' } });
    assert.equal(be.counts.blobRedirects, before + 1);
    await gw.publish([{ name: INDEX_REPO }]);
    assert.equal((await httpRequest(`${gw.url}${path}`)).status, 401, 'unpublished: refused even though the redirect is cached');
    await gw.publish([{ name: IMAGE_REPO }, { name: INDEX_REPO }]);
  });
});

describe('redirect mode with backend.clientUrl', () => {
  it('rewrites the Location scheme, host and port to the clientUrl, keeping path (manifests and blobs)', async () => {
    const lb = need(balancer, 'balancer');
    const be = need(pulp, 'pulp');
    const gw = need(gateways.clientUrl, 'gateway');
    const layer = firstLayer();
    const manifest = await httpRequest(`${gw.url}/v2/${IMAGE_REPO}/manifests/1.0`, { headers: { Accept: MEDIA_TYPE_OCI_MANIFEST } });
    assertRedirect(manifest, `${lb.url}${contentPath(IMAGE_REPO, 'manifests', '1.0')}`, 'manifest with clientUrl');
    const blob = await httpRequest(`${gw.url}/v2/${IMAGE_REPO}/blobs/${layer.digest}`);
    const location = assertRedirect(blob, `${lb.url}${contentPath(IMAGE_REPO, 'blobs', layer.digest)}`, 'blob with clientUrl');
    assert.ok(!location.href.includes(`:${be.contentPort}`), 'the content app address must not leak');
    const fetched = await httpDigest(location.href);
    assert.equal(fetched.digest, layer.digest, 'the rewritten Location serves the blob');

    const https = need(gateways.httpsClientUrl, 'gateway');
    const viaHttps = await httpRequest(`${https.url}/v2/${IMAGE_REPO}/blobs/${layer.digest}`);
    const httpsLocation = assertRedirect(viaHttps, `${httpsClientUrl}${contentPath(IMAGE_REPO, 'blobs', layer.digest)}`, 'https clientUrl');
    assert.equal(httpsLocation.protocol, 'https:');
  });

  it('skopeo copy through the gateway pulls the content through the clientUrl, digests verified', async () => {
    const lb = need(balancer, 'balancer');
    const gw = need(gateways.clientUrl, 'gateway');
    const before = lb.calls.length;
    const dest = path.join(workDir, 'copy-clienturl-index');
    await skopeoCopyToDir(dockerReference(gw.url, INDEX_REPO, 'latest'), dest, { multiArch: 'all' });
    const report = await verifyDirCopy(dest);
    assert.equal(report.manifestDigest, index.manifest.digest);
    assert.deepEqual(report.missingInstances, []);
    assert.deepEqual(report.blobs.map((b) => b.digest).sort(), sortedDigests(index));
    const through = lb.calls.slice(before);
    for (const digest of sortedDigests(index)) {
      assert.ok(through.some((c) => c.url === contentPath(INDEX_REPO, 'blobs', digest) && c.finished), `blob ${digest} did not come through the clientUrl`);
    }
  });
});

describe('proxy mode against the same Pulp-like backend', () => {
  it('manifests: no redirect reaches the client, the bytes and headers do, and the content app was used', async () => {
    const gw = need(gateways.proxy, 'gateway');
    const be = need(pulp, 'pulp');
    be.resetCounts();
    const accept = `${MEDIA_TYPE_OCI_MANIFEST}, ${MEDIA_TYPE_OCI_INDEX}`;
    const res = await httpRequest(`${gw.url}/v2/${INDEX_REPO}/manifests/latest`, { headers: { Accept: accept } });
    assert.equal(res.status, 200);
    assert.equal(headerValue(res.headers, 'location'), undefined);
    assert.ok(res.body.equals(index.manifest.bytes));
    assert.equal(headerValue(res.headers, 'content-type'), MEDIA_TYPE_OCI_INDEX);
    assert.equal(headerValue(res.headers, 'docker-content-digest'), index.manifest.digest);
    assert.equal(headerValue(res.headers, 'content-length'), String(index.manifest.size));
    assertNoBackendAddress(res, be);
    assert.equal(be.counts.manifestRedirects, 1);
    assert.equal(be.counts.contentManifests, 1);
    const contentCall = be.requests.find((r) => r.kind === 'contentManifests');
    assert.equal(contentCall?.accept, accept, 'the client Accept reached the content app');

    const head = await httpRequest(`${gw.url}/v2/${IMAGE_REPO}/manifests/1.0`, { method: 'HEAD', headers: { Accept: MEDIA_TYPE_OCI_MANIFEST } });
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    assert.equal(headerValue(head.headers, 'content-length'), String(image.manifest.size));
    assert.equal(headerValue(head.headers, 'docker-content-digest'), image.manifest.digest);
  });

  it('blobs: streamed whole and by Range from the content app, never redirected', async () => {
    const gw = need(gateways.proxy, 'gateway');
    const be = need(pulp, 'pulp');
    const layer = firstLayer();
    be.resetCounts();
    const whole = await httpDigest(`${gw.url}/v2/${IMAGE_REPO}/blobs/${layer.digest}`);
    assert.equal(whole.status, 200);
    assert.equal(whole.digest, layer.digest);
    assert.equal(headerValue(whole.headers, 'content-length'), String(layer.size));
    assert.equal(headerValue(whole.headers, 'location'), undefined);
    assert.equal(be.counts.blobRedirects, 1);
    assert.equal(be.counts.contentBlobs, 1);

    const part = await httpRequest(`${gw.url}/v2/${IMAGE_REPO}/blobs/${layer.digest}`, { headers: { Range: 'bytes=5-24' } });
    assert.equal(part.status, 206);
    assert.equal(headerValue(part.headers, 'content-range'), `bytes 5-24/${layer.size}`);
    assert.ok(part.body.equals(await readSlice(layer.path, 5, 20)));
    assertNoBackendAddress(part, be);
    assert.equal(be.requests.filter((r) => r.kind === 'contentBlobs').at(-1)?.range, 'bytes=5-24', 'Range reached the content app');

    const head = await httpRequest(`${gw.url}/v2/${IMAGE_REPO}/blobs/${layer.digest}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    assert.equal(headerValue(head.headers, 'content-length'), String(layer.size));
    assert.equal(be.counts.contentBlobs, 3);
  });

  it('skopeo copy through the gateway succeeds and skopeo never sees a redirect (the gateway fetched from the content app)', async () => {
    const gw = need(gateways.proxy, 'gateway');
    const be = need(pulp, 'pulp');
    // skopeo talks to the gateway through a recorder, so everything it was answered is on record.
    const front = await startRecordingProxy(gw.url);
    try {
      be.resetCounts();
      const dest = path.join(workDir, 'copy-proxy-index');
      await skopeoCopyToDir(dockerReference(front.url, INDEX_REPO, 'latest'), dest, { multiArch: 'all' });
      const report = await verifyDirCopy(dest);
      assert.equal(report.manifestDigest, index.manifest.digest);
      assert.deepEqual(report.missingInstances, []);
      assert.deepEqual(report.blobs.map((b) => b.digest).sort(), sortedDigests(index));

      const blobCalls = front.calls.filter((c) => c.url.includes('/blobs/'));
      assert.ok(blobCalls.length >= sortedDigests(index).length, 'skopeo fetched the blobs from the gateway');
      assert.deepEqual(front.calls.filter((c) => c.status !== undefined && c.status >= 300 && c.status < 400 && c.status !== 304), [], 'skopeo was redirected');
      assert.ok(blobCalls.every((c) => c.status === 200), `blob answers: ${blobCalls.map((c) => c.status).join(',')}`);
      assert.ok(be.counts.contentBlobs >= sortedDigests(index).length, 'the gateway fetched the blobs from the content app');
      assert.ok(be.counts.blobRedirects >= sortedDigests(index).length);
    } finally {
      await front.stop();
    }
  });
});

function assertNoBackendAddress(res: HttpResponse, be: PulpLikeBackend): void {
  for (const [name, value] of Object.entries(res.headers)) {
    const text = Array.isArray(value) ? value.join(', ') : String(value);
    assert.ok(!text.includes(`:${be.contentPort}`) && !text.includes(`:${be.port}`), `header ${name} names the backend: ${text}`);
  }
}

