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
import { repositoryPull, type RequiredAccess } from '../access/required-access.js';
import type { BackendClient } from '../backend/client.js';
import type { DeliveryPolicy } from '../backend/content.js';
import type { ManifestCache } from '../backend/manifest-cache.js';
import type { RedirectCache } from '../backend/redirect-cache.js';
import { RegistryError } from '../errors/registry-error.js';
import { API_VERSION, API_VERSION_HEADER } from '../http/server.js';
import { serveBlob, type BlobDelivery } from './blob-handlers.js';
import { serveManifest } from './content-handlers.js';
import { denialError, type ChallengeSettings } from './denial.js';
import { serveReferrers } from './referrers.js';
import { createWriteHandler } from './write-handlers.js';
import type { LoginService } from '../token/login-service.js';
import { parseRegistryPath, splitUrl, type RegistryPath } from './paths.js';
import { serveCatalog, serveTags, type CatalogSource } from './listing-handlers.js';
import { serveSearch } from './search-handler.js';
import { serveFlatpakIndex } from './flatpak-index.js';

export interface RegistryDependencies {
  readonly backend: BackendClient;
  readonly delivery: DeliveryPolicy;
  /** Manifests by digest, kept after the access decision (they are immutable). */
  readonly manifestCache: ManifestCache;
  /** Redirect mode: the backend's redirects, kept for a few seconds after the access decision. */
  readonly redirectCache: RedirectCache;
  /** Blob GETs: shared backend streams and the blob cache (when configured). */
  readonly blobs: BlobDelivery;
  /** Loads the facts a decision needs and decides; the only door between identity and backend. */
  readonly authorize: (identity: Identity, required: RequiredAccess) => Decision | Promise<Decision>;
  readonly catalog: CatalogSource;
  /** Backend path of the flatpak index (Pulp serves it at /index/static). */
  readonly flatpakIndexPath: string;
  readonly publicUrl: URL;
  /** Where clients fetch tokens: realm and service of every Bearer challenge. */
  readonly challenge: ChallengeSettings;
  /** A provider that can grant push and delete is configured (static, kubernetes); otherwise write verbs are refused outright. */
  readonly writesEnabled: boolean;
  /** A login with Basic credentials, for `/v1/search` (docker search sends them there). */
  readonly logIn: LoginService;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set once the access decision is made; the request log reports it. */
    accessLog?: { repository?: string; decision: Decision['outcome']; reason: string };
  }
}

const registryPlugin: FastifyPluginAsync<RegistryDependencies> = async (app, deps) => {
  const handleWrite = createWriteHandler({
    backend: deps.backend,
    authorize: deps.authorize,
    publicUrl: deps.publicUrl,
    challenge: deps.challenge,
    log: app.log,
    blobDeleted: (repository, digest) => deps.blobs.cache?.confirmed.forget(repository, digest),
  });
  if (!deps.writesEnabled) {
    // Write verbs are refused before identity or body parsing: with Katello alone this gateway serves pulls only.
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
        return handleWrite(parseRegistryPath(path), path, new URLSearchParams(query), request, reply);
      },
    });
  }

  /**
   * Not an async function: when the decision and the answer come from memory (the facts, the
   * manifest and redirect caches) the whole request is answered in one synchronous pass, without
   * the promises and microtask turns an async chain costs on every request.
   */
  const read = (request: FastifyRequest, reply: FastifyReply): unknown => {
    reply.header(API_VERSION_HEADER, API_VERSION);
    const { path, query } = splitUrl(request.raw.url ?? '/');
    const route = parseRegistryPath(path);
    request.routeFamily = route.kind;
    if (route.kind === 'upload') {
      if (deps.writesEnabled) return handleWrite(route, path, new URLSearchParams(query), request, reply);
      throw new RegistryError('UNSUPPORTED', { message: 'this registry is read-only: uploads are not supported' });
    }
    const required = requiredAccessOf(route);
    const decision = deps.authorize(request.identity, required);
    if (decision instanceof Promise) return decision.then((decided) => answer(route, query, required, decided, request, reply));
    return answer(route, query, required, decision, request, reply);
  };

  const answer = (route: ReadRoute, query: string, required: RequiredAccess, decision: Decision, request: FastifyRequest, reply: FastifyReply): unknown => {
    request.accessLog = required.type === 'repository' ? { repository: required.name, decision: decision.outcome, reason: decision.reason } : { decision: decision.outcome, reason: decision.reason };
    if (decision.outcome === 'deny') throw denialError(decision, required, deps.challenge, request.identity);
    const answered = dispatch(route, query, request, reply, deps);
    // Answered already (reply sent synchronously): nothing for fastify to send.
    return answered === reply && reply.sent ? undefined : answered;
  };
  // `/v2/*` and, because trailing slashes are ignored (KCG's routes take them), `/v2` for `/v2/` itself.
  app.route({ method: ['GET', 'HEAD'], url: '/v2/*', exposeHeadRoute: false, handler: read });
  app.route({ method: ['GET', 'HEAD'], url: '/v2', exposeHeadRoute: false, handler: read });

  app.get('/index/static', async (request, reply) =>
    serveFlatpakIndex(request, reply, { backend: deps.backend, indexPath: deps.flatpakIndexPath, catalog: deps.catalog, publicUrl: deps.publicUrl }),
  );

  app.get('/v1/search', async (request, reply) => serveSearch(request, reply, deps.catalog, deps.logIn));

  app.get('/v1/_ping', async (_request, reply) => {
    reply.header('x-docker-registry-standalone', 'true');
    return {};
  });
};

type ReadRoute = Exclude<RegistryPath, { kind: 'upload' }>;

function requiredAccessOf(route: ReadRoute): RequiredAccess {
  switch (route.kind) {
    case 'base':
      return { type: 'registry', name: 'base' };
    case 'catalog':
      return { type: 'registry', name: 'catalog' };
    default:
      return repositoryPull(route.name);
  }
}

function dispatch(route: ReadRoute, query: string, request: FastifyRequest, reply: FastifyReply, deps: RegistryDependencies): unknown {
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
      return serveReferrers(deps.backend, route.name, route.digest, new URLSearchParams(query), reply);
  }
}

export default registryPlugin;
