/**
 * harness.test.ts — exercises the integration-test harness end to end: a real docker-registry (Distribution
 * 2.8.2), seeded with skopeo from OCI layouts built in code, read back with skopeo directly and through the
 * Pulp-like backend (302 redirects to a content app), with every manifest and blob digest checked.
 * It also pins down registry/skopeo behaviours the gateway has to live with (Accept handling, tags pagination).
 *
 * Run: node --import tsx --test test/integration/harness.test.ts
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { headerValue, httpDigest, httpRequest, sha256Digest } from './harness/http-client.js';
import {
  MEDIA_TYPE_OCI_INDEX,
  MEDIA_TYPE_OCI_MANIFEST,
  allBlobs,
  allManifests,
  type BuiltArtifact,
} from './harness/oci-layout.js';
import { startPulpLikeBackend, type PulpLikeBackend } from './harness/pulp-like-backend.js';
import { startRegistry, type RunningRegistry } from './harness/registry.js';
import { BIG_LAYER_BYTES, MANY_TAGS, SEED_REPOS, seedRegistry, type SeedData } from './harness/seed.js';
import {
  dockerReference,
  dockerRepository,
  sha256File,
  skopeoCopyToDir,
  skopeoInspect,
  skopeoListTags,
  verifyDirCopy,
} from './harness/skopeo.js';

const harnessDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'harness');
const machineArchitecture = process.arch === 'x64' ? 'amd64' : process.arch;

let workDir = '';
let registry: RunningRegistry | undefined;
let backend: PulpLikeBackend | undefined;
let seed: SeedData;

function requireRegistry(): RunningRegistry {
  if (!registry) throw new Error('registry not started');
  return registry;
}

function requireBackend(): PulpLikeBackend {
  if (!backend) throw new Error('backend not started');
  return backend;
}

function seededTags(): Array<{ repo: string; tag: string; artifact: BuiltArtifact }> {
  const out: Array<{ repo: string; tag: string; artifact: BuiltArtifact }> = [];
  for (const [repo, tags] of Object.entries(seed.repos)) {
    for (const [tag, artifact] of Object.entries(tags)) out.push({ repo, tag, artifact });
  }
  return out;
}

before(async () => {
  workDir = await mkdtemp(path.join(os.tmpdir(), 'cg-harness-test-'));
  registry = await startRegistry();
  seed = await seedRegistry(registry.url, path.join(workDir, 'seed'));
  backend = await startPulpLikeBackend(registry.url);
});

after(async () => {
  await backend?.stop();
  await registry?.stop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe('registry', () => {
  test('answers /v2/ and catalogs every seeded repository', async () => {
    const { url } = requireRegistry();
    const ping = await httpRequest(`${url}/v2/`);
    assert.equal(ping.status, 200);
    assert.equal(headerValue(ping.headers, 'docker-distribution-api-version'), 'registry/2.0');
    const catalog = await httpRequest(`${url}/v2/_catalog`);
    const { repositories } = JSON.parse(catalog.body.toString('utf8')) as { repositories: string[] };
    assert.deepEqual([...repositories].sort(), Object.values(SEED_REPOS).sort());
  });

  test('serves every seeded manifest and blob with the digest the layout computed', async () => {
    const { url } = requireRegistry();
    for (const { repo, tag, artifact } of seededTags()) {
      const res = await httpRequest(`${url}/v2/${repo}/manifests/${tag}`, {
        headers: { Accept: artifact.manifest.mediaType },
      });
      assert.equal(res.status, 200, `${repo}:${tag}`);
      assert.equal(headerValue(res.headers, 'content-type'), artifact.manifest.mediaType);
      assert.equal(headerValue(res.headers, 'docker-content-digest'), artifact.manifest.digest);
      assert.ok(res.body.equals(artifact.manifest.bytes), `${repo}:${tag} manifest bytes`);
      for (const child of allManifests(artifact).slice(1)) {
        const childRes = await httpRequest(`${url}/v2/${repo}/manifests/${child.digest}`, {
          headers: { Accept: child.mediaType },
        });
        assert.equal(sha256Digest(childRes.body), child.digest);
      }
      for (const blob of allBlobs(artifact)) {
        const fetched = await httpDigest(`${url}/v2/${repo}/blobs/${blob.digest}`);
        assert.equal(fetched.status, 200);
        assert.equal(fetched.digest, blob.digest, `${repo} blob ${blob.digest}`);
        assert.equal(fetched.size, blob.size);
        assert.equal(headerValue(fetched.headers, 'docker-content-digest'), blob.digest);
      }
    }
  });

  test('big/blob has one ~40 MiB uncompressed layer', () => {
    const [layer, ...rest] = seed.images.bigBlob.layers;
    assert.equal(rest.length, 0);
    assert.ok(layer);
    assert.equal(layer.mediaType, 'application/vnd.oci.image.layer.v1.tar');
    assert.ok(layer.size > BIG_LAYER_BYTES && layer.size < BIG_LAYER_BYTES + 4096);
    assert.equal(layer.diffId, layer.digest);
  });

  test('quirk: OCI manifests need an Accept header naming their media type (*/* is not enough)', async () => {
    const { url } = requireRegistry();
    const image = seed.images.alpineIsh;
    for (const accept of [undefined, '*/*', 'application/vnd.docker.distribution.manifest.v2+json']) {
      const res = await httpRequest(`${url}/v2/${SEED_REPOS.alpineIsh}/manifests/1.0`, {
        headers: accept === undefined ? {} : { Accept: accept },
      });
      assert.equal(res.status, 404, `Accept: ${String(accept)}`);
      assert.match(res.body.toString('utf8'), /MANIFEST_UNKNOWN/);
    }
    // Same by digest.
    const byDigest = await httpRequest(`${url}/v2/${SEED_REPOS.alpineIsh}/manifests/${image.manifest.digest}`);
    assert.equal(byDigest.status, 404);
    // An index needs the index media type; a manifest-only Accept does not get a platform pick.
    const index = await httpRequest(`${url}/v2/${SEED_REPOS.multiArch}/manifests/latest`, {
      headers: { Accept: MEDIA_TYPE_OCI_MANIFEST },
    });
    assert.equal(index.status, 404);
    const ok = await httpRequest(`${url}/v2/${SEED_REPOS.multiArch}/manifests/latest`, {
      headers: { Accept: `${MEDIA_TYPE_OCI_MANIFEST}, ${MEDIA_TYPE_OCI_INDEX}` },
    });
    assert.equal(ok.status, 200);
    assert.equal(headerValue(ok.headers, 'content-type'), MEDIA_TYPE_OCI_INDEX);
  });

  test('quirk: tags/list ignores n/last (no pagination, no Link), order is not sorted, HEAD is 405', async () => {
    const { url } = requireRegistry();
    const res = await httpRequest(`${url}/v2/${SEED_REPOS.manyTags}/tags/list?n=3`);
    assert.equal(res.status, 200);
    assert.equal(headerValue(res.headers, 'link'), undefined);
    const body = JSON.parse(res.body.toString('utf8')) as { name: string; tags: string[] };
    assert.equal(body.name, SEED_REPOS.manyTags);
    assert.deepEqual([...body.tags].sort(), [...MANY_TAGS]);
    const withLast = await httpRequest(`${url}/v2/${SEED_REPOS.manyTags}/tags/list?n=3&last=t3`);
    assert.equal((JSON.parse(withLast.body.toString('utf8')) as { tags: string[] }).tags.length, MANY_TAGS.length);
    const head = await httpRequest(`${url}/v2/${SEED_REPOS.manyTags}/tags/list`, { method: 'HEAD' });
    assert.equal(head.status, 405);
    const unknown = await httpRequest(`${url}/v2/does/not/exist/tags/list`);
    assert.equal(unknown.status, 404);
    assert.match(unknown.body.toString('utf8'), /NAME_UNKNOWN/);
  });

  test('blob Range requests answer 206 with Content-Range', async () => {
    const { url } = requireRegistry();
    const layer = seed.images.bigBlob.layers[0];
    assert.ok(layer);
    const res = await httpRequest(`${url}/v2/${SEED_REPOS.bigBlob}/blobs/${layer.digest}`, {
      headers: { Range: 'bytes=1000-1999' },
    });
    assert.equal(res.status, 206);
    assert.equal(headerValue(res.headers, 'content-range'), `bytes 1000-1999/${layer.size}`);
    assert.ok(res.body.equals(await readSlice(layer.path, 1000, 1000)));
  });

  test('a second registry starts on its own port, and stop() kills it and removes its data dir', async () => {
    const other = await startRegistry();
    assert.notEqual(other.port, requireRegistry().port);
    assert.equal((await httpRequest(`${other.url}/v2/`)).status, 200);
    await other.stop();
    await other.stop(); // idempotent
    await assert.rejects(stat(other.dataDir));
    await assert.rejects(httpRequest(`${other.url}/v2/`, { timeoutMs: 1000 }));
  });
});

/**
 * Runs `code` (an ES module using the harness) in a separate Node process that starts a registry, prints
 * `{ url, dataDir }` as its first stdout line and then does whatever `code` says; resolves with that line
 * and the process's exit status once it has exited. `afterReady` runs once the line has been printed.
 */
function runRegistryInChildProcess(
  code: string,
  afterReady: (child: ChildProcess) => void,
): Promise<{ url: string; dataDir: string; exitCode: number | null; signal: NodeJS.Signals | null }> {
  const registryModule = pathToFileURL(path.join(harnessDir, 'registry.ts')).href;
  const script = `import { startRegistry } from ${JSON.stringify(registryModule)};\n` +
    `const r = await startRegistry();\n` +
    `console.log(JSON.stringify({ url: r.url, dataDir: r.dataDir }));\n${code}\n`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let ready = false;
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      if (!ready && stdout.includes('\n')) {
        ready = true;
        afterReady(child);
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('exit', (exitCode, signal) => {
      clearTimeout(timer);
      const line = stdout.split('\n')[0] ?? '';
      try {
        const info = JSON.parse(line) as { url: string; dataDir: string };
        resolve({ ...info, exitCode, signal });
      } catch {
        reject(new Error(`child printed no registry info; stdout: ${stdout}; stderr: ${stderr}`));
      }
    });
  });
}

async function assertRegistryGone(info: { url: string; dataDir: string }): Promise<void> {
  await assert.rejects(httpRequest(`${info.url}/v2/`, { timeoutMs: 1000 }), `${info.url} still answers`);
  await assert.rejects(stat(info.dataDir), `${info.dataDir} still exists`);
}

describe('registry cleanup when the test process dies', () => {
  test('an uncaught exception kills the registry and removes its data dir', async () => {
    const result = await runRegistryInChildProcess("throw new Error('simulated test crash');", () => {});
    assert.equal(result.exitCode, 1);
    await assertRegistryGone(result);
  });

  test('a forgotten stop() does not keep the process alive, and exit cleans up', async () => {
    const result = await runRegistryInChildProcess('/* no stop() */', () => {});
    assert.equal(result.exitCode, 0);
    await assertRegistryGone(result);
  });

  test('SIGTERM kills the registry, then the process dies by SIGTERM as usual', async () => {
    const result = await runRegistryInChildProcess('setInterval(() => {}, 1000);', (child) => child.kill('SIGTERM'));
    assert.equal(result.signal, 'SIGTERM');
    await assertRegistryGone(result);
  });
});

async function readSlice(filePath: string, offset: number, length: number): Promise<Buffer> {
  const handle = await open(filePath, 'r');
  try {
    const buf = Buffer.alloc(length);
    await handle.read(buf, 0, length, offset);
    return buf;
  } finally {
    await handle.close();
  }
}

describe('skopeo directly against the registry', () => {
  test('list-tags returns every seeded tag', async () => {
    const { url } = requireRegistry();
    await Promise.all(
      Object.entries(seed.repos).map(async ([repo, tags]) => {
        const listed = await skopeoListTags(dockerRepository(url, repo));
        assert.deepEqual([...listed.Tags].sort(), Object.keys(tags).sort(), repo);
      }),
    );
  });

  test('inspect --raw returns the exact manifest bytes for every tag', async () => {
    const { url } = requireRegistry();
    await Promise.all(
      seededTags().map(async ({ repo, tag, artifact }) => {
        const raw = await skopeoInspect(dockerReference(url, repo, tag), { raw: true });
        assert.equal(raw.digest, artifact.manifest.digest, `${repo}:${tag}`);
        assert.equal(raw.mediaType, artifact.manifest.mediaType);
      }),
    );
  });

  test('inspect of the multi-arch index reports the index digest and this machine\'s platform', async () => {
    const { url } = requireRegistry();
    const inspected = await skopeoInspect(dockerReference(url, SEED_REPOS.multiArch, 'latest'));
    assert.equal(inspected.Digest, seed.images.multiArch.manifest.digest);
    assert.equal(inspected.Architecture, machineArchitecture);
    assert.deepEqual(inspected.RepoTags, ['latest']);
    const child = seed.images.multiArch.images.find((i) => i.platform.architecture === machineArchitecture);
    assert.ok(child);
    assert.deepEqual(
      inspected.Layers,
      child.layers.map((l) => l.digest),
    );
  });

  test('copy of a single-arch image to dir: has every blob with the right sha256', async () => {
    const { url } = requireRegistry();
    const dest = path.join(workDir, 'copy-alpine');
    await skopeoCopyToDir(dockerReference(url, SEED_REPOS.alpineIsh, 'latest'), dest);
    const report = await verifyDirCopy(dest);
    const image = seed.images.alpineIsh;
    assert.equal(report.kind, 'image');
    assert.equal(report.manifestDigest, image.manifest.digest);
    assert.deepEqual(
      report.blobs.map((b) => b.digest).sort(),
      allBlobs(image)
        .map((b) => b.digest)
        .sort(),
    );
    const configOnDisk = report.images[0]?.config.path;
    assert.ok(configOnDisk);
    assert.equal(await sha256File(configOnDisk), image.config.digest);
  });

  test('copy --multi-arch all writes the index as manifest.json and children as <hex>.manifest.json', async () => {
    const { url } = requireRegistry();
    const dest = path.join(workDir, 'copy-multi-all');
    await skopeoCopyToDir(dockerReference(url, SEED_REPOS.multiArch, 'latest'), dest, { multiArch: 'all' });
    const report = await verifyDirCopy(dest);
    const index = seed.images.multiArch;
    assert.equal(report.kind, 'index');
    assert.equal(report.manifestDigest, index.manifest.digest);
    assert.deepEqual(report.missingInstances, []);
    assert.deepEqual(
      report.images.map((i) => i.digest),
      index.images.map((i) => i.manifest.digest),
    );
    assert.deepEqual(
      report.blobs.map((b) => b.digest).sort(),
      allBlobs(index)
        .map((b) => b.digest)
        .sort(),
    );
  });

  test('copy of the index without --multi-arch copies only this machine\'s image', async () => {
    const { url } = requireRegistry();
    const dest = path.join(workDir, 'copy-multi-system');
    await skopeoCopyToDir(dockerReference(url, SEED_REPOS.multiArch, 'latest'), dest);
    const report = await verifyDirCopy(dest);
    const child = seed.images.multiArch.images.find((i) => i.platform.architecture === machineArchitecture);
    assert.ok(child);
    assert.equal(report.kind, 'image');
    assert.equal(report.manifestDigest, child.manifest.digest);
  });

  test('copy --multi-arch index-only copies just the index', async () => {
    const { url } = requireRegistry();
    const dest = path.join(workDir, 'copy-multi-index-only');
    await skopeoCopyToDir(dockerReference(url, SEED_REPOS.multiArch, 'latest'), dest, { multiArch: 'index-only' });
    const report = await verifyDirCopy(dest);
    assert.equal(report.kind, 'index');
    assert.equal(report.images.length, 0);
    assert.deepEqual(
      report.missingInstances,
      seed.images.multiArch.images.map((i) => i.manifest.digest),
    );
  });

  test('copy by digest of the slash-named repo', async () => {
    const { url } = requireRegistry();
    const dest = path.join(workDir, 'copy-app-digest');
    const app = seed.images.app;
    await skopeoCopyToDir(dockerReference(url, SEED_REPOS.app, app.manifest.digest), dest);
    assert.equal((await verifyDirCopy(dest)).manifestDigest, app.manifest.digest);
  });

  test('a failing skopeo call rejects with its stderr', async () => {
    const { url } = requireRegistry();
    await assert.rejects(skopeoInspect(dockerReference(url, 'does/not/exist', 'latest')), (err: Error) => {
      assert.match(err.message, /--- stderr ---/);
      assert.match(err.message, /does\/not\/exist/);
      return true;
    });
  });
});

describe('through the pulp-like backend (302 to a content app)', () => {
  test('GET /v2/ answers 200 with the API version header', async () => {
    const res = await httpRequest(`${requireBackend().url}/v2/`);
    assert.equal(res.status, 200);
    assert.equal(headerValue(res.headers, 'docker-distribution-api-version'), 'registry/2.0');
  });

  test('manifests and blobs redirect to absolute content-app URLs that serve the same bytes', async () => {
    const be = requireBackend();
    const image = seed.images.alpineIsh;
    const res = await httpRequest(`${be.url}/v2/${SEED_REPOS.alpineIsh}/manifests/1.0`, {
      headers: { Accept: MEDIA_TYPE_OCI_MANIFEST },
    });
    assert.equal(res.status, 302);
    const location = headerValue(res.headers, 'location');
    assert.equal(location, `${be.contentUrl}/pulp/container/${SEED_REPOS.alpineIsh}/manifests/1.0`);
    const content = await httpRequest(location, { headers: { Accept: MEDIA_TYPE_OCI_MANIFEST } });
    assert.equal(content.status, 200);
    assert.equal(headerValue(content.headers, 'docker-content-digest'), image.manifest.digest);
    assert.equal(headerValue(content.headers, 'content-type'), MEDIA_TYPE_OCI_MANIFEST);
    assert.ok(content.body.equals(image.manifest.bytes));

    const layer = seed.images.bigBlob.layers[0];
    assert.ok(layer);
    const blobRedirect = await httpRequest(`${be.url}/v2/${SEED_REPOS.bigBlob}/blobs/${layer.digest}`, {
      method: 'HEAD',
    });
    assert.equal(blobRedirect.status, 302);
    const blobLocation = headerValue(blobRedirect.headers, 'location');
    assert.ok(blobLocation);
    const head = await httpRequest(blobLocation, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(headerValue(head.headers, 'content-length'), String(layer.size));
    assert.equal(headerValue(head.headers, 'docker-content-digest'), layer.digest);
    assert.equal(headerValue(head.headers, 'accept-ranges'), 'bytes');
    const ranged = await httpRequest(blobLocation, { headers: { Range: 'bytes=5-24' } });
    assert.equal(ranged.status, 206);
    assert.equal(headerValue(ranged.headers, 'content-range'), `bytes 5-24/${layer.size}`);
    assert.ok(ranged.body.equals(await readSlice(layer.path, 5, 20)));
    const full = await httpDigest(blobLocation);
    assert.equal(full.digest, layer.digest);

    // Conditional requests are forwarded: the registry answers 304 for a matching ETag.
    const notModified = await httpRequest(location, {
      headers: { Accept: MEDIA_TYPE_OCI_MANIFEST, 'If-None-Match': `"${image.manifest.digest}"` },
    });
    assert.equal(notModified.status, 304);
    assert.equal(notModified.body.length, 0);
  });

  test('skopeo list-tags, inspect and copy work through the redirects', async () => {
    const be = requireBackend();
    be.resetCounts();
    const listed = await skopeoListTags(dockerRepository(be.url, SEED_REPOS.manyTags));
    assert.deepEqual([...listed.Tags].sort(), [...MANY_TAGS]);
    assert.equal(be.counts.tagsList, 1);

    const raw = await skopeoInspect(dockerReference(be.url, SEED_REPOS.multiArch, 'latest'), { raw: true });
    assert.equal(raw.digest, seed.images.multiArch.manifest.digest);

    const dest = path.join(workDir, 'copy-via-backend-multi');
    await skopeoCopyToDir(dockerReference(be.url, SEED_REPOS.multiArch, 'latest'), dest, { multiArch: 'all' });
    const report = await verifyDirCopy(dest);
    assert.equal(report.manifestDigest, seed.images.multiArch.manifest.digest);
    assert.equal(report.images.length, 2);

    assert.ok(be.counts.manifestRedirects >= 3, `manifest redirects: ${be.counts.manifestRedirects}`);
    assert.ok(be.counts.blobRedirects >= allBlobs(seed.images.multiArch).length);
    assert.equal(be.counts.contentManifests, be.counts.manifestRedirects);
    assert.equal(be.counts.contentBlobs, be.counts.blobRedirects);
    assert.equal(be.counts.notFound, 0);
    // skopeo with --tls-verify=false tries HTTPS first on each listener and falls back to HTTP.
    assert.ok(be.counts.clientErrors >= 1, `client errors: ${be.counts.clientErrors}`);
    const contentRequests = be.requests.filter((r) => r.listener === 'content');
    assert.ok(contentRequests.every((r) => r.status === 200));
    assert.ok(
      contentRequests
        .filter((r) => r.kind === 'contentManifests')
        .every((r) => (r.accept ?? '').includes(MEDIA_TYPE_OCI_MANIFEST)),
      'skopeo forwards Accept across the redirect',
    );
  });

  test('the 40 MiB blob survives the redirect path byte-for-byte', async () => {
    const be = requireBackend();
    const dest = path.join(workDir, 'copy-via-backend-big');
    await skopeoCopyToDir(dockerReference(be.url, SEED_REPOS.bigBlob, '1'), dest);
    const report = await verifyDirCopy(dest);
    const layer = seed.images.bigBlob.layers[0];
    assert.ok(layer);
    const copied = report.blobs.find((b) => b.digest === layer.digest);
    assert.ok(copied);
    assert.equal(copied.size, layer.size);
    assert.equal(report.manifestDigest, seed.images.bigBlob.manifest.digest);
  });

  test('unknown paths are 404 and writes are refused', async () => {
    const be = requireBackend();
    assert.equal((await httpRequest(`${be.url}/v3/`)).status, 404);
    assert.equal((await httpRequest(`${be.contentUrl}/elsewhere`)).status, 404);
    const put = await httpRequest(`${be.url}/v2/${SEED_REPOS.app}/manifests/v2`, { method: 'PUT', body: '{}' });
    assert.equal(put.status, 405);
  });
});

describe('layout files', () => {
  test('the OCI layout index.json tags the pushed manifest', async () => {
    const layoutDir = seed.layoutDirs[SEED_REPOS.alpineIsh];
    assert.ok(layoutDir);
    const index = JSON.parse(await readFile(path.join(layoutDir, 'index.json'), 'utf8')) as {
      manifests: Array<{ digest: string; annotations?: Record<string, string> }>;
    };
    const entry = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === '1.0');
    assert.equal(entry?.digest, seed.images.alpineIsh.manifest.digest);
  });
});
