/**
 * The client-facing registry API (Docker Registry HTTP API v2 / OCI Distribution, pull side).
 *
 * Every request takes the same path: parse the raw URL (registry/paths) → required access
 * (from the route alone) → decision (access/) → backend. Repository names contain slashes,
 * so one wildcard route receives `/v2/...` and parseRegistryPath does the matching.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Decision } from '../access/decide-access.js';
import type { Identity } from '../access/identity.js';
import { repositoryPull, repositoryPush, type RequiredAccess } from '../access/required-access.js';
import type { BackendClient } from '../backend/client.js';
import type { DeliveryPolicy } from '../backend/content.js';
import type { ManifestCache } from '../backend/manifest-cache.js';
import type { RedirectCache } from '../backend/redirect-cache.js';
import { Challenge, RegistryError } from '../errors/registry-error.js';
import { API_VERSION, API_VERSION_HEADER } from '../http/server.js';
import { serveBlob, serveManifest, serveReferrers } from './content-handlers.js';
import { parseRegistryPath, splitUrl, type RegistryPath } from './paths.js';
import { serveCatalog, serveTags, type CatalogSource } from './listing-handlers.js';
import { serveSearch } from './search-handler.js';
import { serveFlatpakIndex } from './flatpak-index.js';
import { isValidRepositoryName } from './grammar.js';
import { forwardPush, MAX_MANIFEST_BYTES } from './push-handlers.js';
import { checkPushQuery, pushRequestKind, refuseFormBody } from './push-query.js';

export interface RegistryDependencies {
  readonly backend: BackendClient;
  readonly delivery: DeliveryPolicy;
  /** Manifests by digest, kept after the access decision (they are immutable). */
  readonly manifestCache: ManifestCache;
  /** Redirect mode: the backend's redirects, kept for a few seconds after the access decision. */
  readonly redirectCache: RedirectCache;
  /** Loads the facts a decision needs and decides; the only door between identity and backend. */
  readonly authorize: (identity: Identity, required: RequiredAccess) => Decision | Promise<Decision>;
  readonly catalog: CatalogSource;
  /** Backend path of the flatpak index (Pulp serves it at /index/static). */
  readonly flatpakIndexPath: string;
  readonly publicUrl: URL;
  /** Where clients fetch tokens: realm and service of every Bearer challenge. */
  readonly challenge: { readonly realm: string; readonly service: string };
  /** A provider that can grant push is configured (static, kubernetes); otherwise push verbs are refused outright. */
  readonly pushEnabled: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set once the access decision is made; the request log reports it. */
    accessLog?: { repository?: string; decision: Decision['outcome']; reason: string };
  }
}

const registryPlugin: FastifyPluginAsync<RegistryDependencies> = async (app, deps) => {
  if (!deps.pushEnabled) {
    // Push verbs are refused before identity or body parsing: with Katello alone this gateway serves pulls only.
    app.route({
      method: ['POST', 'PUT', 'PATCH', 'DELETE'],
      url: '/v2/*',
      onRequest: async () => {
        throw new RegistryError('UNSUPPORTED', { message: 'this registry is read-only: push and delete are not supported' });
      },
      handler: async () => undefined,
    });
  } else {
    // Upload bodies stay unread: they are streamed to the backend as they arrive.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));
    app.route({
      method: ['POST', 'PUT', 'PATCH', 'DELETE'],
      url: '/v2/*',
      handler: async (request, reply) => {
        reply.header(API_VERSION_HEADER, API_VERSION);
        const { path, query } = splitUrl(request.raw.url ?? '/');
        return push(parseRegistryPath(path), path, new URLSearchParams(query), request, reply);
      },
    });
  }

  async function push(route: RegistryPath, path: string, query: URLSearchParams, request: FastifyRequest, reply: FastifyReply): Promise<void> {
    request.routeFamily = route.kind;
    const isUpload = route.kind === 'upload';
    if (!(isUpload || (route.kind === 'manifest' && request.method === 'PUT'))) {
      throw new RegistryError('UNSUPPORTED', { message: 'deleting manifests and blobs is not supported' });
    }
    const required = repositoryPush(route.name);
    const decision = await deps.authorize(request.identity, required);
    request.accessLog = { repository: route.name, decision: decision.outcome, reason: decision.reason };
    if (decision.outcome === 'deny') throw denialError(decision, required, deps.challenge, request.identity);
    // Only checked values reach the backend: no form body, no parameter it would read that we did not.
    refuseFormBody(request.headers['content-type']);
    const checked = checkPushQuery(pushRequestKind(path, isUpload), query);
    if (checked.has('mount')) await keepMountIfPullable(checked, request.identity);
    await forwardPush(request, reply, deps.backend, deps.publicUrl, {
      path,
      query: new URLSearchParams([...checked]),
      ...(isUpload ? { notFoundCode: 'BLOB_UPLOAD_UNKNOWN' } : { notFoundCode: 'NAME_UNKNOWN', maxBodyBytes: MAX_MANIFEST_BYTES }),
    });
  }

  /** A cross-repository mount reads `from`: without pull there, it becomes a plain upload (as in Distribution). */
  async function keepMountIfPullable(query: Map<string, string>, identity: Identity): Promise<void> {
    const from = query.get('from') ?? '';
    const pullable = isValidRepositoryName(from) && (await deps.authorize(identity, repositoryPull(from))).outcome === 'grant';
    if (!pullable) {
      query.delete('mount');
      query.delete('from');
    }
  }

  app.route({
    method: ['GET', 'HEAD'],
    url: '/v2/*',
    exposeHeadRoute: false,
    handler: async (request, reply) => {
      reply.header(API_VERSION_HEADER, API_VERSION);
      const { path, query } = splitUrl(request.raw.url ?? '/');
      const route = parseRegistryPath(path);
      request.routeFamily = route.kind;
      if (route.kind === 'upload') {
        if (deps.pushEnabled) return push(route, path, new URLSearchParams(query), request, reply);
        throw new RegistryError('UNSUPPORTED', { message: 'this registry is read-only: uploads are not supported' });
      }
      const required = requiredAccessOf(route);
      const decision = await deps.authorize(request.identity, required);
      request.accessLog = {
        ...(required.type === 'repository' ? { repository: required.name } : {}),
        decision: decision.outcome,
        reason: decision.reason,
      };
      if (decision.outcome === 'deny') throw denialError(decision, required, deps.challenge, request.identity);
      return dispatch(route, query, request, reply, deps);
    },
  });

  app.get('/index/static', async (request, reply) =>
    serveFlatpakIndex(request, reply, { backend: deps.backend, indexPath: deps.flatpakIndexPath, catalog: deps.catalog, publicUrl: deps.publicUrl }),
  );

  app.get('/v1/search', async (request, reply) => serveSearch(request, reply, deps.catalog));

  app.get('/v1/_ping', async (_request, reply) => {
    reply.header('x-docker-registry-standalone', 'true');
    return {};
  });
};

function requiredAccessOf(route: Exclude<RegistryPath, { kind: 'upload' }>): RequiredAccess {
  switch (route.kind) {
    case 'base':
      return { type: 'registry', name: 'base' };
    case 'catalog':
      return { type: 'registry', name: 'catalog' };
    default:
      return repositoryPull(route.name);
  }
}

/** Turns a denial into what goes on the wire; the same for "missing" and "hidden" by construction. */
function denialError(
  decision: Extract<Decision, { outcome: 'deny' }>,
  required: RequiredAccess,
  challenge: RegistryDependencies['challenge'],
  identity: Identity,
): RegistryError {
  if (decision.answer === 'name-unknown') return new RegistryError('NAME_UNKNOWN');
  if (decision.answer === 'denied') return new RegistryError('DENIED', { message: 'push to this repository is not granted' });
  const presentedToken = identity.kind !== 'anonymous' || identity.withToken;
  return new Challenge({
    ...challenge,
    ...(required.type === 'repository' ? { scope: `repository:${required.name}:${required.actions.join(',')}` } : {}),
    ...(required.type === 'repository' && presentedToken ? { error: 'insufficient_scope' as const } : {}),
  });
}

async function dispatch(
  route: Exclude<RegistryPath, { kind: 'upload' }>,
  query: string,
  request: FastifyRequest,
  reply: FastifyReply,
  deps: RegistryDependencies,
): Promise<unknown> {
  switch (route.kind) {
    case 'base':
      return {};
    case 'catalog':
      return serveCatalog(request, reply, new URLSearchParams(query), deps.catalog);
    case 'tags':
      return serveTags(route.name, new URLSearchParams(query), reply, deps.backend);
    case 'manifest':
      return serveManifest(route.name, route.reference, route.byDigest, request, reply, deps);
    case 'blob':
      return serveBlob(route.name, route.digest, request, reply, deps);
    case 'referrers':
      return serveReferrers(route.name, route.digest, new URLSearchParams(query), request, reply, deps);
  }
}

export default registryPlugin;
