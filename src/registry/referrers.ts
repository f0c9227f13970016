/**
 * The referrers API (OCI distribution-spec 1.1 "Listing Referrers") for every backend. A backend
 * that has it answers `GET /v2/<name>/referrers/<digest>` itself and the answer passes through.
 * One that does not (CNCF Distribution 2.8: 404) gets the spec's fallback, kept by the gateway:
 * the referrers of a subject are the manifests of an image index tagged `<alg>-<encoded>` (the
 * "referrers tag schema"). The gateway adds a descriptor there when a manifest with a `subject`
 * is pushed through it (and answers `OCI-Subject`, so clients do not do it themselves) and removes
 * it when that manifest is deleted through it; it reads that index to answer the referrers API.
 * Answers are filtered by `artifactType` when asked (with `OCI-Filters-Applied`).
 *
 * Updates of one fallback index are serialized within the process; instances sharing a backend
 * can still race on the same subject, as clients doing the fallback themselves can.
 */
import { createHash } from 'node:crypto';
import type { FastifyReply } from 'fastify';
import type { BackendClient } from '../backend/client.js';
import { backendFailure } from '../backend/content.js';
import { RegistryError } from '../errors/registry-error.js';
import { isValidDigest } from './grammar.js';

export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_EMPTY_CONFIG = 'application/vnd.oci.empty.v1+json';
const MAX_INDEX_BYTES = 4 * 1024 * 1024;
/** RFC 6838 media type (type/subtype, with optional parameters), bounded. */
const MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}(?:\s*;\s*[A-Za-z0-9!#$&^_.+-]+=[A-Za-z0-9!#$&^_.+-]+){0,4}$/;

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly artifactType?: string;
  readonly annotations?: Record<string, string>;
}

/** The referrers tag schema: `<alg>-<encoded>`, the algorithm cut to 32 and the encoding to 64 characters. */
export function fallbackTag(digest: string): string {
  const [algorithm = '', encoded = ''] = digest.split(':');
  return `${algorithm.slice(0, 32)}-${encoded.slice(0, 64)}`;
}

/** A client's `artifactType` filter: one media type, or a 400. */
export function parseArtifactType(value: string | null): string | undefined {
  if (value === null) return undefined;
  if (value.length > 255 || !MEDIA_TYPE.test(value)) {
    throw new RegistryError('BAD_REQUEST', { message: 'artifactType must be a media type of at most 255 characters', detail: { artifactType: value.slice(0, 100) } });
  }
  return value;
}

/** The descriptor a manifest gets in its subject's referrers list, and its subject; undefined without one. */
export function referrerOf(body: Buffer, digest: string, contentType: string | undefined): { subject: string; descriptor: Descriptor } | undefined {
  let manifest: { mediaType?: unknown; artifactType?: unknown; config?: { mediaType?: unknown }; subject?: { digest?: unknown }; annotations?: unknown };
  try {
    manifest = JSON.parse(body.toString('utf8')) as typeof manifest;
  } catch {
    return undefined;
  }
  const subject = manifest.subject?.digest;
  if (typeof subject !== 'string' || !isValidDigest(subject)) return undefined;
  const mediaType = typeof manifest.mediaType === 'string' ? manifest.mediaType : (contentType ?? '').split(';')[0]?.trim() ?? '';
  // Spec: artifactType, else the config's media type unless it is the empty config.
  const configType = typeof manifest.config?.mediaType === 'string' && manifest.config.mediaType !== OCI_EMPTY_CONFIG ? manifest.config.mediaType : undefined;
  const artifactType = typeof manifest.artifactType === 'string' ? manifest.artifactType : configType;
  const annotations = stringRecord(manifest.annotations);
  return {
    subject,
    descriptor: { mediaType, digest, size: body.length, ...(artifactType === undefined ? {} : { artifactType }), ...(annotations === undefined ? {} : { annotations }) },
  };
}

function stringRecord(value: unknown): Record<string, string> | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const entries = Object.entries(value as Record<string, unknown>).filter((entry): entry is [string, string] => typeof entry[1] === 'string');
  return entries.length === 0 ? undefined : Object.fromEntries(entries);
}

export function digestOf(body: Buffer): string {
  return `sha256:${createHash('sha256').update(body).digest('hex')}`;
}

/** GET /v2/<name>/referrers/<digest>: the backend's own answer, or the fallback index. */
export async function serveReferrers(backend: BackendClient, name: string, digest: string, query: URLSearchParams, reply: FastifyReply): Promise<unknown> {
  const artifactType = parseArtifactType(query.get('artifactType'));
  const search = artifactType === undefined ? '' : `?${new URLSearchParams({ artifactType }).toString()}`;
  const native = await backend.fetchWhole({ method: 'GET', url: backend.location.urlOf(`/v2/${name}/referrers/${digest}${search}`), headers: { accept: OCI_INDEX }, maxBytes: MAX_INDEX_BYTES });
  if (native.statusCode === 200) {
    const filtered = native.headers['oci-filters-applied'];
    reply.code(200).type(OCI_INDEX);
    if (typeof filtered === 'string') reply.header('oci-filters-applied', filtered);
    return reply.send(native.body);
  }
  if (native.statusCode !== 404) throw await backendFailure(native, 'NAME_UNKNOWN');
  const manifests = (await readFallbackIndex(backend, name, digest)).filter((descriptor) => artifactType === undefined || descriptor.artifactType === artifactType);
  reply.code(200).type(OCI_INDEX);
  if (artifactType !== undefined) reply.header('oci-filters-applied', 'artifactType');
  // A Buffer, so no charset is added: clients compare the media type exactly.
  return reply.send(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests })));
}

/** The descriptors of the fallback index for `subject`; none when there is no such tag. */
async function readFallbackIndex(backend: BackendClient, name: string, subject: string): Promise<Descriptor[]> {
  const response = await backend.fetchWhole({ method: 'GET', url: backend.location.urlOf(`/v2/${name}/manifests/${fallbackTag(subject)}`), headers: { accept: OCI_INDEX }, maxBytes: MAX_INDEX_BYTES });
  if (response.statusCode === 404) {
    const failure = await backendFailure(response, 'MANIFEST_UNKNOWN');
    // A repository the backend does not know has no referrers to list: it is unknown.
    if (failure.code === 'NAME_UNKNOWN') throw failure;
    return [];
  }
  if (response.statusCode !== 200) throw await backendFailure(response, 'MANIFEST_UNKNOWN');
  try {
    const index = JSON.parse(response.body.toString('utf8')) as { manifests?: unknown };
    return Array.isArray(index.manifests) ? (index.manifests as Descriptor[]).filter((entry) => typeof entry?.digest === 'string') : [];
  } catch {
    throw new RegistryError('BACKEND_ERROR', { message: `the referrers index of ${subject} is not JSON` });
  }
}

const updates = new Map<string, Promise<unknown>>();

/** Runs `change` on the fallback index of `subject` after every earlier change to it has finished. */
function serialized<T>(key: string, change: () => Promise<T>): Promise<T> {
  const previous = updates.get(key) ?? Promise.resolve();
  const next = previous.then(change, change);
  const settled = next.then(
    () => undefined,
    () => undefined,
  );
  updates.set(key, settled);
  void settled.then(() => {
    if (updates.get(key) === settled) updates.delete(key);
  });
  return next;
}

/** Adds (`add`) or removes a referrer from its subject's fallback index, writing the index back. */
export function updateFallbackIndex(backend: BackendClient, name: string, subject: string, descriptor: Descriptor, change: 'add' | 'remove'): Promise<void> {
  return serialized(`${name}@${subject}`, async () => {
    const current = await readFallbackIndex(backend, name, subject);
    const others = current.filter((entry) => entry.digest !== descriptor.digest);
    const manifests = change === 'add' ? [...others, descriptor] : others;
    if (change === 'remove' && manifests.length === current.length) return;
    const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }));
    const response = await backend.write({
      method: 'PUT',
      url: backend.location.urlOf(`/v2/${name}/manifests/${fallbackTag(subject)}`),
      headers: { 'content-type': OCI_INDEX, 'content-length': String(body.length) },
      body,
    });
    await response.body.dump();
    if (response.statusCode >= 300) throw new RegistryError('BACKEND_ERROR', { message: `the backend refused the referrers index of ${subject}`, detail: { status: response.statusCode } });
  });
}
