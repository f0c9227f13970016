/**
 * pushImage: put an in-memory image into a registry over the Distribution API — each blob by a
 * monolithic upload (POST, then PUT with its digest) unless the registry has it already, then the
 * manifest under a tag. For a registry that needs no credentials (the demo's, on loopback).
 */
import { request } from 'undici';
import type { ImageBlob, InMemoryImage } from './image.js';

export async function pushImage(registry: URL, repository: string, tag: string, image: InMemoryImage): Promise<void> {
  for (const blob of [image.layer, image.config]) await pushBlob(registry, repository, blob);
  const url = new URL(`/v2/${repository}/manifests/${tag}`, registry);
  const response = await request(url, { method: 'PUT', headers: { 'content-type': image.manifest.mediaType }, body: image.manifest.bytes });
  await expectStatus(response, 201, `PUT ${url.pathname}`);
}

async function pushBlob(registry: URL, repository: string, blob: ImageBlob): Promise<void> {
  const existing = await request(new URL(`/v2/${repository}/blobs/${blob.digest}`, registry), { method: 'HEAD' });
  await existing.body.dump();
  if (existing.statusCode === 200) return;
  const started = await request(new URL(`/v2/${repository}/blobs/uploads/`, registry), { method: 'POST' });
  await expectStatus(started, 202, `POST /v2/${repository}/blobs/uploads/`);
  const location = started.headers.location;
  if (typeof location !== 'string') throw new Error(`the registry started an upload for ${repository} without a Location`);
  const upload = new URL(location, registry);
  upload.searchParams.set('digest', blob.digest);
  const finished = await request(upload, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: blob.bytes });
  await expectStatus(finished, 201, `PUT ${upload.pathname}`);
}

async function expectStatus(response: { statusCode: number; body: { text(): Promise<string> } }, expected: number, what: string): Promise<void> {
  const text = await response.body.text();
  if (response.statusCode !== expected) throw new Error(`${what} answered ${response.statusCode} (expected ${expected}): ${text.slice(0, 300)}`);
}
