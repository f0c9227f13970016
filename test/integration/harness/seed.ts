/**
 * seed.ts — push OCI layouts into a registry with skopeo and seed the standard fixture set.
 *
 * Contract:
 *  - `pushLayout(layoutDir, tag, registryUrl, repo)` runs
 *    `skopeo copy --retry-times 0 --dest-tls-verify=false --preserve-digests [--multi-arch all]
 *     oci:<layoutDir>:<tag> docker://<host:port>/<repo>:<tag>` (`--multi-arch all` when the tag is an image
 *    index), then checks that the registry serves the manifest under `<tag>` with exactly the digest the layout
 *    holds (Docker-Content-Digest header and sha256 of the body), and for an index that every child manifest
 *    is served by digest. Rejects with skopeo's stdout/stderr, or with the digest mismatch.
 *  - `tagManifest(registryUrl, repo, manifest, tag)` PUTs already-pushed manifest bytes under another tag
 *    (the blobs must already be in `repo`) and checks the returned digest.
 *  - `seedRegistry(registryUrl, workDir)` builds the fixture layouts under `workDir/layouts/` and pushes:
 *      library/alpine-ish:1.0 and :latest (same small single-arch image, two gzip layers)
 *      org/team/app:v1 (small image)
 *      multi/arch:latest (OCI index, linux/amd64 + linux/arm64)
 *      big/blob:1 (one uncompressed tar layer of ~40 MiB)
 *      many/tags:t1..t7 (seven tags of one image)
 *    and resolves with every repo → tag → BuiltArtifact. Deterministic: same digests on every run.
 */
import path from 'node:path';
import { headerValue, httpRequest, sha256Digest } from './http-client.js';
import {
  MEDIA_TYPE_OCI_INDEX,
  findLayoutTag,
  layoutBlobPath,
  writeImageLayout,
  writeIndexLayout,
  type BuiltArtifact,
  type BuiltImage,
  type BuiltIndex,
  type ImageSpec,
  type ManifestDocument,
} from './oci-layout.js';
import { runSkopeo } from './skopeo.js';
import { readFile } from 'node:fs/promises';

export const SEED_REPOS = {
  alpineIsh: 'library/alpine-ish',
  app: 'org/team/app',
  multiArch: 'multi/arch',
  bigBlob: 'big/blob',
  manyTags: 'many/tags',
} as const;

export const MANY_TAGS = ['t1', 't2', 't3', 't4', 't5', 't6', 't7'] as const;
export const BIG_LAYER_BYTES = 40 * 1024 * 1024;

export interface SeedData {
  registryUrl: string;
  /** repo → tag → what was pushed under that tag. */
  repos: Record<string, Record<string, BuiltArtifact>>;
  images: {
    alpineIsh: BuiltImage;
    app: BuiltImage;
    multiArch: BuiltIndex;
    bigBlob: BuiltImage;
    manyTags: BuiltImage;
  };
  /** The OCI layout directory each repo was pushed from. */
  layoutDirs: Record<string, string>;
}

export interface PushLayoutOptions {
  /** Tag to push to in the registry; default: the layout tag. */
  destTag?: string;
  timeoutMs?: number;
}

interface IndexChildren {
  manifests?: Array<{ mediaType: string; digest: string }>;
}

async function expectServedManifest(
  registryUrl: string,
  repo: string,
  reference: string,
  mediaType: string,
  expectedDigest: string,
): Promise<Buffer> {
  const url = `${registryUrl}/v2/${repo}/manifests/${reference}`;
  const res = await httpRequest(url, { headers: { Accept: mediaType } });
  if (res.status !== 200) {
    throw new Error(`GET ${url} after push answered ${res.status}: ${res.body.toString('utf8')}`);
  }
  const served = headerValue(res.headers, 'docker-content-digest');
  const actual = sha256Digest(res.body);
  if (served !== expectedDigest || actual !== expectedDigest) {
    throw new Error(
      `registry rewrote ${repo}:${reference}: expected ${expectedDigest}, Docker-Content-Digest ${String(served)}, body sha256 ${actual}`,
    );
  }
  return res.body;
}

export async function pushLayout(
  layoutDir: string,
  tag: string,
  registryUrl: string,
  repo: string,
  opts: PushLayoutOptions = {},
): Promise<void> {
  const destTag = opts.destTag ?? tag;
  const descriptor = await findLayoutTag(layoutDir, tag);
  const isIndex = descriptor.mediaType === MEDIA_TYPE_OCI_INDEX;
  const host = new URL(registryUrl).host;
  await runSkopeo(
    'copy',
    ({ authfile }) => [
      '--quiet',
      '--retry-times',
      '0',
      '--dest-tls-verify=false',
      '--dest-authfile',
      authfile,
      '--preserve-digests',
      ...(isIndex ? ['--multi-arch', 'all'] : []),
      `oci:${layoutDir}:${tag}`,
      `docker://${host}/${repo}:${destTag}`,
    ],
    { timeoutMs: opts.timeoutMs ?? 120_000 },
  );

  await expectServedManifest(registryUrl, repo, destTag, descriptor.mediaType, descriptor.digest);
  if (isIndex) {
    const index = JSON.parse(await readFile(layoutBlobPath(layoutDir, descriptor.digest), 'utf8')) as IndexChildren;
    for (const child of index.manifests ?? []) {
      await expectServedManifest(registryUrl, repo, child.digest, child.mediaType, child.digest);
    }
  }
}

/** Builds a single-image OCI layout in `layoutDir` and pushes it under `repository:<spec.tag>`. */
export async function pushImage(layoutDir: string, spec: ImageSpec, registryUrl: string, repository: string): Promise<BuiltImage> {
  const image = await writeImageLayout(layoutDir, spec);
  await pushLayout(layoutDir, spec.tag, registryUrl, repository);
  return image;
}

export async function tagManifest(
  registryUrl: string,
  repo: string,
  manifest: ManifestDocument,
  tag: string,
): Promise<void> {
  const url = `${registryUrl}/v2/${repo}/manifests/${tag}`;
  const res = await httpRequest(url, {
    method: 'PUT',
    headers: { 'Content-Type': manifest.mediaType },
    body: manifest.bytes,
  });
  if (res.status !== 201) {
    throw new Error(`PUT ${url} answered ${res.status}: ${res.body.toString('utf8')}`);
  }
  const served = headerValue(res.headers, 'docker-content-digest');
  if (served !== manifest.digest) {
    throw new Error(`PUT ${url}: registry says digest ${String(served)}, expected ${manifest.digest}`);
  }
}

export async function seedRegistry(registryUrl: string, workDir: string): Promise<SeedData> {
  const layoutRoot = path.join(workDir, 'layouts');
  const layoutDirs: Record<string, string> = {};
  for (const [key, repo] of Object.entries(SEED_REPOS)) layoutDirs[repo] = path.join(layoutRoot, key);
  const dirOf = (repo: string): string => {
    const dir = layoutDirs[repo];
    if (dir === undefined) throw new Error(`no layout dir for ${repo}`);
    return dir;
  };

  const [alpineIsh, app, multiArch, bigBlob, manyTags] = await Promise.all([
    writeImageLayout(dirOf(SEED_REPOS.alpineIsh), {
      tag: '1.0',
      seed: 'alpine-ish',
      labels: { 'org.opencontainers.image.title': 'alpine-ish' },
    }),
    writeImageLayout(dirOf(SEED_REPOS.app), { tag: 'v1', seed: 'org-team-app' }),
    writeIndexLayout(
      dirOf(SEED_REPOS.multiArch),
      'latest',
      [
        { architecture: 'amd64', os: 'linux' },
        { architecture: 'arm64', os: 'linux' },
      ],
      { seed: 'multi-arch' },
    ),
    writeImageLayout(dirOf(SEED_REPOS.bigBlob), {
      tag: '1',
      seed: 'big-blob',
      layers: [],
      largeLayerBytes: BIG_LAYER_BYTES,
    }),
    writeImageLayout(dirOf(SEED_REPOS.manyTags), { tag: 't1', seed: 'many-tags' }),
  ]);

  await Promise.all([
    pushLayout(dirOf(SEED_REPOS.alpineIsh), '1.0', registryUrl, SEED_REPOS.alpineIsh).then(() =>
      tagManifest(registryUrl, SEED_REPOS.alpineIsh, alpineIsh.manifest, 'latest'),
    ),
    pushLayout(dirOf(SEED_REPOS.app), 'v1', registryUrl, SEED_REPOS.app),
    pushLayout(dirOf(SEED_REPOS.multiArch), 'latest', registryUrl, SEED_REPOS.multiArch),
    pushLayout(dirOf(SEED_REPOS.bigBlob), '1', registryUrl, SEED_REPOS.bigBlob),
    pushLayout(dirOf(SEED_REPOS.manyTags), 't1', registryUrl, SEED_REPOS.manyTags).then(async () => {
      for (const tag of MANY_TAGS.slice(1)) await tagManifest(registryUrl, SEED_REPOS.manyTags, manyTags.manifest, tag);
    }),
  ]);

  const manyTagsRepo: Record<string, BuiltArtifact> = {};
  for (const tag of MANY_TAGS) manyTagsRepo[tag] = manyTags;
  return {
    registryUrl,
    repos: {
      [SEED_REPOS.alpineIsh]: { '1.0': alpineIsh, latest: alpineIsh },
      [SEED_REPOS.app]: { v1: app },
      [SEED_REPOS.multiArch]: { latest: multiArch },
      [SEED_REPOS.bigBlob]: { '1': bigBlob },
      [SEED_REPOS.manyTags]: manyTagsRepo,
    },
    images: { alpineIsh, app, multiArch, bigBlob, manyTags },
    layoutDirs,
  };
}
