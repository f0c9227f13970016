/**
 * oci-layout.ts — write OCI image layouts (https://github.com/opencontainers/image-spec/blob/main/image-layout.md)
 * to disk, entirely in code (node:zlib + the project's ustar writer), deterministically.
 *
 * Contract:
 *  - `writeImageLayout(dir, image)` writes (or adds to) an OCI layout in `dir`: `oci-layout`,
 *    `blobs/sha256/<hex>` for each layer, the image config and the OCI image manifest, and an
 *    `index.json` entry for the manifest annotated `org.opencontainers.image.ref.name: <image.tag>`
 *    (an existing entry with the same tag is replaced; other entries are kept, so one layout can hold
 *    several tags). Resolves with every digest and size (`BuiltImage`).
 *  - `writeIndexLayout(dir, tag, platforms, opts)` writes one image per platform (untagged) plus an OCI
 *    image index referencing them (with `platform`), tagged `tag` in index.json. Resolves with `BuiltIndex`.
 *  - Same inputs ⇒ byte-identical blobs ⇒ identical digests (fixed mtimes, fixed JSON key order,
 *    deterministic gzip and pseudo-random data). Different `seed`s ⇒ different digests.
 *  - Tar archives come from src/oci-image/tar.ts (the demo builds its images with the same writer).
 *  - Small layers are gzip'd tars (`application/vnd.oci.image.layer.v1.tar+gzip`); the optional large layer
 *    (`largeLayerBytes`) is an uncompressed tar (`application/vnd.oci.image.layer.v1.tar`) holding one file of
 *    exactly that many incompressible bytes (AES-128-CTR keystream keyed by sha256(seed)), streamed to disk
 *    in 1 MiB chunks.
 *  - Every digest is "sha256:<hex>" of the exact bytes written; `diffId` is the digest of the uncompressed tar.
 *  - Not safe for concurrent writers on the same `dir` (index.json is read-modify-written).
 */
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { buildTar, FIXED_EPOCH_SECONDS, normalizeLayerPath, TAR_END, tarHeader, tarPadding, type FileEntry } from '../../../src/oci-image/tar.js';

export type { FileEntry };

export const MEDIA_TYPE_OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const MEDIA_TYPE_OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const MEDIA_TYPE_OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const MEDIA_TYPE_OCI_LAYER_TAR = 'application/vnd.oci.image.layer.v1.tar';
export const MEDIA_TYPE_OCI_LAYER_TAR_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name';

const FIXED_CREATED = new Date(FIXED_EPOCH_SECONDS * 1000).toISOString().replace('.000Z', 'Z');

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}


export interface SmallLayerSpec {
  files: FileEntry[];
  /** Default 'gzip'. */
  compression?: 'gzip' | 'none';
}

export interface ImageSpec {
  /** Written as the `org.opencontainers.image.ref.name` annotation in index.json. */
  tag: string;
  /** Default linux/amd64. */
  platform?: Platform;
  /** Makes content, and so every digest, unique. Default: the tag. */
  seed?: string;
  /**
   * Small layers (gzip'd tars by default). Default when omitted: two gzip layers derived from `seed`
   * (`etc/<seed>-release` and `app/hello.txt` + `app/data.bin`). Pass `[]` for none.
   */
  layers?: SmallLayerSpec[];
  /** If set, appends one uncompressed tar layer containing a single file of exactly this many bytes. */
  largeLayerBytes?: number;
  labels?: Record<string, string>;
  /** Extra annotations on the image manifest. */
  annotations?: Record<string, string>;
}

export interface BuiltBlob extends Descriptor {
  /** Absolute path of the blob file in the layout. */
  path: string;
}

export interface BuiltLayer extends BuiltBlob {
  /** sha256 of the uncompressed tar (what goes into the config's rootfs.diff_ids). */
  diffId: string;
  uncompressedSize: number;
  /** Paths of the regular files in the layer. */
  files: string[];
}

export interface ManifestDocument extends BuiltBlob {
  /** The exact bytes whose sha256 is `digest`. */
  bytes: Buffer;
}

export interface BuiltImage {
  kind: 'image';
  /** ref.name in index.json; '' for an untagged child of an index. */
  tag: string;
  platform: Platform;
  /** The OCI image manifest. */
  manifest: ManifestDocument;
  config: ManifestDocument;
  layers: BuiltLayer[];
}

export interface BuiltIndex {
  kind: 'index';
  tag: string;
  /** The OCI image index document itself (named `manifest` so `artifact.manifest.digest` works for both kinds). */
  manifest: ManifestDocument;
  /** One image per platform, in the order given. */
  images: BuiltImage[];
}

export type BuiltArtifact = BuiltImage | BuiltIndex;

export interface IndexLayoutOptions {
  /** Base seed; each platform's image uses `${seed}-${os}-${architecture}`. Default: the tag. */
  seed?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

interface LayoutIndexEntry {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: Platform;
}

interface LayoutIndex {
  schemaVersion: number;
  mediaType?: string;
  manifests: LayoutIndexEntry[];
}

// ---------------------------------------------------------------------------------------------
// layout plumbing
// ---------------------------------------------------------------------------------------------

function hexOf(digest: string): string {
  const match = /^sha256:([a-f0-9]{64})$/.exec(digest);
  if (!match?.[1]) throw new Error(`not a sha256 digest: ${digest}`);
  return match[1];
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

async function ensureLayout(dir: string): Promise<string> {
  const blobDir = path.join(dir, 'blobs', 'sha256');
  await mkdir(blobDir, { recursive: true });
  const layoutFile = path.join(dir, 'oci-layout');
  if (!(await exists(layoutFile))) {
    await writeFile(layoutFile, JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  }
  return blobDir;
}

async function writeBlob(dir: string, bytes: Buffer, mediaType: string): Promise<ManifestDocument> {
  const blobDir = await ensureLayout(dir);
  const hex = sha256Hex(bytes);
  const blobPath = path.join(blobDir, hex);
  if (!(await exists(blobPath))) {
    const tmp = `${blobPath}.tmp-${randomBytes(6).toString('hex')}`;
    await writeFile(tmp, bytes);
    await rename(tmp, blobPath);
  }
  return { mediaType, digest: `sha256:${hex}`, size: bytes.length, path: blobPath, bytes };
}

function jsonBytes(value: JsonValue): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

export function layoutBlobPath(dir: string, digest: string): string {
  return path.join(dir, 'blobs', 'sha256', hexOf(digest));
}

export async function readLayoutIndex(dir: string): Promise<LayoutIndex> {
  const text = await readFile(path.join(dir, 'index.json'), 'utf8');
  return JSON.parse(text) as LayoutIndex;
}

/** The index.json descriptor tagged `tag` in the layout at `dir`; throws if there is none. */
export async function findLayoutTag(dir: string, tag: string): Promise<Descriptor> {
  const index = await readLayoutIndex(dir);
  const entry = index.manifests.find((m) => m.annotations?.[ANNOTATION_REF_NAME] === tag);
  if (!entry) throw new Error(`tag ${tag} not found in OCI layout ${dir}`);
  return { mediaType: entry.mediaType, digest: entry.digest, size: entry.size };
}

async function tagInLayout(dir: string, tag: string, descriptor: Descriptor): Promise<void> {
  await ensureLayout(dir);
  const indexPath = path.join(dir, 'index.json');
  let index: LayoutIndex = { schemaVersion: 2, mediaType: MEDIA_TYPE_OCI_INDEX, manifests: [] };
  if (await exists(indexPath)) index = await readLayoutIndex(dir);
  index.manifests = index.manifests.filter((m) => m.annotations?.[ANNOTATION_REF_NAME] !== tag);
  index.manifests.push({
    mediaType: descriptor.mediaType,
    digest: descriptor.digest,
    size: descriptor.size,
    annotations: { [ANNOTATION_REF_NAME]: tag },
  });
  const tmp = `${indexPath}.tmp-${randomBytes(6).toString('hex')}`;
  await writeFile(tmp, JSON.stringify(index));
  await rename(tmp, indexPath);
}

// ---------------------------------------------------------------------------------------------
// layers
// ---------------------------------------------------------------------------------------------

async function writeSmallLayer(dir: string, spec: SmallLayerSpec): Promise<BuiltLayer> {
  const tar = buildTar(spec.files);
  const compression = spec.compression ?? 'gzip';
  const stored = compression === 'gzip' ? gzipSync(tar, { level: 6 }) : tar;
  const blob = await writeBlob(dir, stored, compression === 'gzip' ? MEDIA_TYPE_OCI_LAYER_TAR_GZIP : MEDIA_TYPE_OCI_LAYER_TAR);
  return {
    mediaType: blob.mediaType,
    digest: blob.digest,
    size: blob.size,
    path: blob.path,
    diffId: `sha256:${sha256Hex(tar)}`,
    uncompressedSize: tar.length,
    files: spec.files.map((f) => normalizeLayerPath(f.path)),
  };
}

const CHUNK_BYTES = 1024 * 1024;

/**
 * Deterministic incompressible bytes: AES-128-CTR keystream, key and IV = sha256(seed). Calls `sink`
 * with chunks of at most 1 MiB.
 */
export async function generatePseudoRandomBytes(
  seed: string,
  totalBytes: number,
  sink: (chunk: Buffer) => Promise<void>,
): Promise<void> {
  const keyMaterial = createHash('sha256').update(`container-gateway-harness:${seed}`).digest();
  const cipher = createCipheriv('aes-128-ctr', keyMaterial.subarray(0, 16), keyMaterial.subarray(16, 32));
  const zeros = Buffer.alloc(CHUNK_BYTES, 0);
  let remaining = totalBytes;
  while (remaining > 0) {
    const n = Math.min(remaining, CHUNK_BYTES);
    await sink(cipher.update(n === CHUNK_BYTES ? zeros : zeros.subarray(0, n)));
    remaining -= n;
  }
}

async function writeLargeLayer(dir: string, seed: string, fileBytes: number): Promise<BuiltLayer> {
  const blobDir = await ensureLayout(dir);
  const tmp = path.join(blobDir, `large.tmp-${randomBytes(6).toString('hex')}`);
  const fileName = 'data/large.bin';
  const hash = createHash('sha256');
  let size = 0;
  const handle = await open(tmp, 'w');
  try {
    const put = async (chunk: Buffer): Promise<void> => {
      hash.update(chunk);
      size += chunk.length;
      await handle.write(chunk);
    };
    await put(tarHeader({ name: 'data/', size: 0, type: '5', mode: 0o755 }));
    await put(tarHeader({ name: fileName, size: fileBytes, type: '0', mode: 0o644 }));
    await generatePseudoRandomBytes(seed, fileBytes, put);
    await put(tarPadding(fileBytes));
    await put(TAR_END);
  } finally {
    await handle.close();
  }
  const hex = hash.digest('hex');
  const blobPath = path.join(blobDir, hex);
  await rename(tmp, blobPath);
  const digest = `sha256:${hex}`;
  return {
    mediaType: MEDIA_TYPE_OCI_LAYER_TAR,
    digest,
    size,
    path: blobPath,
    diffId: digest,
    uncompressedSize: size,
    files: [fileName],
  };
}

function defaultSmallLayers(seed: string): SmallLayerSpec[] {
  const data = createHash('sha256').update(`data:${seed}`).digest();
  return [
    {
      files: [
        {
          path: `etc/${seed.replace(/[^a-zA-Z0-9._-]/g, '_')}-release`,
          content: `NAME="${seed}"\nID=harness\nVERSION_ID=1.0\n`,
        },
      ],
    },
    {
      files: [
        { path: 'app/hello.txt', content: `hello from ${seed}\n` },
        { path: 'app/data.bin', content: Buffer.concat([data, data, data, data]) },
      ],
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// images and indexes
// ---------------------------------------------------------------------------------------------

function platformJson(platform: Platform): { [key: string]: JsonValue } {
  const out: { [key: string]: JsonValue } = { architecture: platform.architecture, os: platform.os };
  if (platform.variant !== undefined) out.variant = platform.variant;
  return out;
}

async function writeImage(dir: string, image: ImageSpec): Promise<BuiltImage> {
  const platform: Platform = image.platform ?? { architecture: 'amd64', os: 'linux' };
  const seed = image.seed ?? image.tag;
  const layers: BuiltLayer[] = [];
  for (const spec of image.layers ?? defaultSmallLayers(seed)) layers.push(await writeSmallLayer(dir, spec));
  if (image.largeLayerBytes !== undefined) {
    layers.push(await writeLargeLayer(dir, `${seed}:large`, image.largeLayerBytes));
  }

  const labels: { [key: string]: JsonValue } = { 'org.example.harness.seed': seed, ...(image.labels ?? {}) };
  const configJson: { [key: string]: JsonValue } = {
    created: FIXED_CREATED,
    ...platformJson(platform),
    config: {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      Cmd: ['/bin/sh'],
      WorkingDir: '/',
      Labels: labels,
    },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: layers.map((l, i) => ({
      created: FIXED_CREATED,
      created_by: `container-gateway test harness: layer ${i} (${l.files.join(', ')})`,
    })),
  };
  const config = await writeBlob(dir, jsonBytes(configJson), MEDIA_TYPE_OCI_CONFIG);

  const manifestJson: { [key: string]: JsonValue } = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE_OCI_MANIFEST,
    config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
  };
  if (image.annotations !== undefined) manifestJson.annotations = { ...image.annotations };
  const manifest = await writeBlob(dir, jsonBytes(manifestJson), MEDIA_TYPE_OCI_MANIFEST);
  return { kind: 'image', tag: image.tag, platform, manifest, config, layers };
}

export async function writeImageLayout(dir: string, image: ImageSpec): Promise<BuiltImage> {
  const built = await writeImage(dir, image);
  await tagInLayout(dir, image.tag, built.manifest);
  return built;
}

export async function writeIndexLayout(
  dir: string,
  tag: string,
  platforms: Platform[],
  opts: IndexLayoutOptions = {},
): Promise<BuiltIndex> {
  if (platforms.length === 0) throw new Error('writeIndexLayout needs at least one platform');
  const seed = opts.seed ?? tag;
  const images: BuiltImage[] = [];
  for (const platform of platforms) {
    const platformSeed = `${seed}-${platform.os}-${platform.architecture}${platform.variant ? `-${platform.variant}` : ''}`;
    const spec: ImageSpec = { tag: '', platform, seed: platformSeed };
    if (opts.labels !== undefined) spec.labels = opts.labels;
    images.push(await writeImage(dir, spec));
  }
  const indexJson: { [key: string]: JsonValue } = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE_OCI_INDEX,
    manifests: images.map((img) => ({
      mediaType: img.manifest.mediaType,
      digest: img.manifest.digest,
      size: img.manifest.size,
      platform: platformJson(img.platform),
    })),
  };
  if (opts.annotations !== undefined) indexJson.annotations = { ...opts.annotations };
  const manifest = await writeBlob(dir, jsonBytes(indexJson), MEDIA_TYPE_OCI_INDEX);
  await tagInLayout(dir, tag, manifest);
  return { kind: 'index', tag, manifest, images };
}

// ---------------------------------------------------------------------------------------------
// helpers over built artifacts
// ---------------------------------------------------------------------------------------------

/** Every manifest document of an artifact: the top-level one first, then (for an index) each child. */
export function allManifests(artifact: BuiltArtifact): ManifestDocument[] {
  return artifact.kind === 'image' ? [artifact.manifest] : [artifact.manifest, ...artifact.images.map((i) => i.manifest)];
}

/** Every config and layer blob of an artifact (children included), de-duplicated by digest. */
export function allBlobs(artifact: BuiltArtifact): BuiltBlob[] {
  const images = artifact.kind === 'image' ? [artifact] : artifact.images;
  const byDigest = new Map<string, BuiltBlob>();
  for (const img of images) {
    for (const blob of [img.config, ...img.layers]) {
      if (!byDigest.has(blob.digest)) {
        byDigest.set(blob.digest, { mediaType: blob.mediaType, digest: blob.digest, size: blob.size, path: blob.path });
      }
    }
  }
  return [...byDigest.values()];
}

/** `length` bytes of a file from `offset` (for checking Range answers against a layout's blob). */
export async function readSlice(filePath: string, offset: number, length: number): Promise<Buffer> {
  const handle = await open(filePath, 'r');
  try {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, offset);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** Every distinct blob digest of an image or index, sorted. */
export function sortedDigests(artifact: BuiltArtifact): string[] {
  return [...new Set(allBlobs(artifact).map((b) => b.digest))].sort();
}
