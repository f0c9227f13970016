/**
 * buildImage: a small single-layer OCI image, built in memory from a few files: the layer (a
 * gzip'd tar), its config and the manifest, each with its digest. What the demo puts in its
 * registry without network access; deterministic, so every run gives the same digests.
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { buildTar, FIXED_EPOCH_SECONDS, type FileEntry } from './tar.js';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';

export interface ImageBlob {
  readonly mediaType: string;
  readonly digest: string;
  readonly bytes: Buffer;
}

export interface InMemoryImage {
  readonly layer: ImageBlob;
  readonly config: ImageBlob;
  readonly manifest: ImageBlob;
}

export interface ImageSpec {
  readonly files: readonly FileEntry[];
  /** OCI architecture name (amd64, arm64...): clients pull the image for their own. */
  readonly architecture: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** Node's process.arch in the names OCI image configs use. */
export function ociArchitectureOf(nodeArch: string): string {
  const names: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return names[nodeArch] ?? nodeArch;
}

function blob(mediaType: string, bytes: Buffer): ImageBlob {
  return { mediaType, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, bytes };
}

const descriptor = (b: ImageBlob) => ({ mediaType: b.mediaType, digest: b.digest, size: b.bytes.length });

export function buildImage(spec: ImageSpec): InMemoryImage {
  const tar = buildTar([...spec.files]);
  const layer = blob(OCI_LAYER_GZIP, gzipSync(tar, { level: 9 }));
  const created = new Date(FIXED_EPOCH_SECONDS * 1000).toISOString();
  const config = blob(
    OCI_CONFIG,
    Buffer.from(
      JSON.stringify({
        created,
        architecture: spec.architecture,
        os: 'linux',
        config: { Labels: spec.labels },
        rootfs: { type: 'layers', diff_ids: [`sha256:${createHash('sha256').update(tar).digest('hex')}`] },
        history: [{ created, created_by: 'container-gateway demo' }],
      }),
    ),
  );
  const manifest = blob(OCI_MANIFEST, Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: descriptor(config), layers: [descriptor(layer)] })));
  return { layer, config, manifest };
}
