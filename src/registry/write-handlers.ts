/**
 * The write side of the registry API, for identities a provider grants it: blob uploads (with
 * cross-repository mounts), manifest PUT, and DELETE of manifests and blobs. Each needs its own
 * access (push, or delete) on top of pull, decided by the same door as pulls, so a caller who may
 * not see a repository learns nothing about it by writing to it either.
 */
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import type { Decision } from '../access/decide-access.js';
import type { Identity } from '../access/identity.js';
import { repositoryDelete, repositoryPull, repositoryPush, type RepositoryAccess, type RequiredAccess } from '../access/required-access.js';
import type { BackendClient } from '../backend/client.js';
import { RegistryError } from '../errors/registry-error.js';
import { denialError, type ChallengeSettings } from './denial.js';
import { isValidRepositoryName } from './grammar.js';
import type { RegistryPath } from './paths.js';
import { backendErrorCode, CLIENT_LEFT, MAX_MANIFEST_BYTES, relayWrite, sendWrite, type WriteResult } from './push-handlers.js';
import { checkPushQuery, pushRequestKind, refuseFormBody } from './push-query.js';
import { digestOf, referrerOf, updateFallbackIndex } from './referrers.js';

/** What a client may ask for when the gateway reads a manifest before deleting it. */
const MANIFEST_TYPES = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

export interface WriteDependencies {
  readonly backend: BackendClient;
  readonly authorize: (identity: Identity, required: RequiredAccess) => Decision | Promise<Decision>;
  readonly publicUrl: URL;
  readonly challenge: ChallengeSettings;
  readonly log: FastifyBaseLogger;
  /** A blob the backend deleted from a repository: what the gateway remembers of it there goes. */
  readonly blobDeleted?: (repository: string, digest: string) => void;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** A manifest or blob the backend accepted to delete, for the audit log. */
    deletion?: { repository: string; reference: string };
  }
}

export function createWriteHandler(deps: WriteDependencies) {
  async function authorizeOrDeny(request: FastifyRequest, required: RepositoryAccess): Promise<void> {
    const decision = await deps.authorize(request.identity, required);
    request.accessLog = { repository: required.name, decision: decision.outcome, reason: decision.reason };
    if (decision.outcome === 'deny') throw denialError(decision, required, deps.challenge, request.identity);
  }

  /** A cross-repository mount reads `from`: without pull there, it becomes a plain upload (as in Distribution). */
  async function keepMountIfPullable(query: URLSearchParams, identity: Identity): Promise<void> {
    const from = query.get('from') ?? '';
    const pullable = isValidRepositoryName(from) && (await deps.authorize(identity, repositoryPull(from))).outcome === 'grant';
    if (!pullable) {
      query.delete('mount');
      query.delete('from');
    }
  }

  async function upload(route: Extract<RegistryPath, { kind: 'upload' }>, path: string, clientQuery: URLSearchParams, request: FastifyRequest, reply: FastifyReply): Promise<void> {
    await authorizeOrDeny(request, repositoryPush(route.name));
    // Only checked values reach the backend: no form body, no parameter it would read that we did not.
    refuseFormBody(request.headers['content-type']);
    const query = new URLSearchParams([...checkPushQuery(pushRequestKind(path, true), clientQuery)]);
    if (query.has('mount')) await keepMountIfPullable(query, request.identity);
    const target = { path, query, notFoundCode: 'BLOB_UPLOAD_UNKNOWN' as const };
    let result = await sendWrite(request, deps.backend, target);
    if (result !== CLIENT_LEFT && query.has('mount') && result.statusCode >= 400 && result.statusCode < 500) {
      // The spec lets a registry decline a mount with a plain upload session; the backend refused instead.
      query.delete('mount');
      query.delete('from');
      result = await sendWrite(request, deps.backend, { ...target, withoutBody: true });
    }
    await relayWrite(result, request, reply, deps.backend, deps.publicUrl, target);
  }

  async function putManifest(route: Extract<RegistryPath, { kind: 'manifest' }>, path: string, request: FastifyRequest, reply: FastifyReply): Promise<void> {
    await authorizeOrDeny(request, repositoryPush(route.name));
    refuseFormBody(request.headers['content-type']);
    const target = { path, query: new URLSearchParams(), notFoundCode: 'NAME_UNKNOWN' as const, maxBodyBytes: MAX_MANIFEST_BYTES };
    const result = await sendWrite(request, deps.backend, target);
    const subject = result === CLIENT_LEFT ? undefined : await keepReferrer(route.name, result, request);
    await relayWrite(result, request, reply, deps.backend, deps.publicUrl, target, subject === undefined ? {} : { 'oci-subject': subject });
  }

  /** After a manifest with a `subject` is stored by a backend that keeps no referrers itself: the fallback index. */
  async function keepReferrer(name: string, result: WriteResult, request: FastifyRequest): Promise<string | undefined> {
    if (result.statusCode >= 300 || result.sent === undefined || result.headers['oci-subject'] !== undefined) return undefined;
    const stored = result.headers['docker-content-digest'];
    const referrer = referrerOf(result.sent, typeof stored === 'string' ? stored : digestOf(result.sent), request.headers['content-type']);
    if (referrer === undefined) return undefined;
    try {
      await updateFallbackIndex(deps.backend, name, referrer.subject, referrer.descriptor, 'add');
      return referrer.subject;
    } catch (error) {
      // The manifest is stored; without OCI-Subject the client keeps the fallback index itself.
      deps.log.warn({ reqId: request.id, repository: name, subject: referrer.subject, reason: (error as Error).message }, 'could not update the referrers index');
      return undefined;
    }
  }

  async function deleteContent(route: Extract<RegistryPath, { kind: 'manifest' | 'blob' }>, path: string, request: FastifyRequest, reply: FastifyReply): Promise<void> {
    await authorizeOrDeny(request, repositoryDelete(route.name));
    const reference = route.kind === 'manifest' ? route.reference : route.digest;
    // What the manifest refers to must leave its subject's referrers list with it.
    const referrer = route.kind === 'manifest' && route.byDigest ? await referrerToForget(route.name, route.reference) : undefined;
    const target = { path, query: new URLSearchParams(), notFoundCode: route.kind === 'manifest' ? ('MANIFEST_UNKNOWN' as const) : ('BLOB_UNKNOWN' as const), withoutBody: true };
    const result = await sendWrite(request, deps.backend, target);
    if (result !== CLIENT_LEFT && route.kind === 'manifest' && !route.byDigest && result.statusCode === 400 && backendErrorCode(result) === 'DIGEST_INVALID') {
      // Distribution deletes manifests by digest only and says so with DIGEST_INVALID; the spec's word for it is UNSUPPORTED.
      throw new RegistryError('UNSUPPORTED', { message: 'the backend deletes manifests by digest only: delete by digest' });
    }
    if (result !== CLIENT_LEFT && result.statusCode === 202) {
      request.deletion = { repository: route.name, reference };
      if (route.kind === 'blob') deps.blobDeleted?.(route.name, route.digest);
      if (referrer !== undefined) {
        await updateFallbackIndex(deps.backend, route.name, referrer.subject, referrer.descriptor, 'remove').catch((error: unknown) =>
          deps.log.warn({ reqId: request.id, repository: route.name, subject: referrer.subject, reason: (error as Error).message }, 'could not update the referrers index'),
        );
      }
    }
    await relayWrite(result, request, reply, deps.backend, deps.publicUrl, target);
  }

  async function referrerToForget(name: string, digest: string) {
    const response = await deps.backend.fetchWhole({ method: 'GET', url: deps.backend.location.urlOf(`/v2/${name}/manifests/${digest}`), headers: { accept: MANIFEST_TYPES }, maxBytes: MAX_MANIFEST_BYTES });
    if (response.statusCode !== 200) return undefined;
    const type = response.headers['content-type'];
    return referrerOf(response.body, digest, typeof type === 'string' ? type : undefined);
  }

  return async function handleWrite(route: RegistryPath, path: string, query: URLSearchParams, request: FastifyRequest, reply: FastifyReply): Promise<void> {
    request.routeFamily = route.kind;
    if (route.kind === 'upload') return upload(route, path, query, request, reply);
    if (route.kind === 'manifest' && request.method === 'PUT') return putManifest(route, path, request, reply);
    if ((route.kind === 'manifest' || route.kind === 'blob') && request.method === 'DELETE') return deleteContent(route, path, request, reply);
    throw new RegistryError('UNSUPPORTED', { message: `${request.method} is not supported here` });
  };
}
