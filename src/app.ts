/**
 * buildApp: the composition root. Opens the database (migrating it), creates the adapters
 * (backend, upstream, store, caches), wires them into the API plugins and returns a ready,
 * un-listened fastify instance. Only `cli.ts serve` listens.
 *
 * Request path: identity hook → registry route → decideAccess (facts from the cache) → backend.
 */
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import type { Server as TlsServer } from 'node:tls';
import { join } from 'node:path';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import { createBackendClient, type BackendClient } from './backend/client.js';
import { coalesceReads } from './backend/coalescing/coalescing-client.js';
import { SharedStreams } from './backend/coalescing/shared-streams.js';
import { BlobCache, type BlobCacheSettings } from './blob-cache/blob-cache.js';
import type { CacheView } from './caches/bounded-cache.js';
import { ManifestCache } from './backend/manifest-cache.js';
import { RedirectCache } from './backend/redirect-cache.js';
import type { GatewayConfig } from './config/compiled.js';
import { createHttpServer, type HttpServerOptions } from './http/server.js';
import { workerSlot } from './http/workers.js';
import auditPlugin, { createAuditLogger } from './audit/plugin.js';
import healthPlugin from './health/plugin.js';
import { GatewayMetrics } from './metrics/gateway-metrics.js';
import { instrumentBackend, instrumentUpstream } from './metrics/instrument.js';
import metricsPlugin from './metrics/plugin.js';
import identityPlugin from './identity/plugin.js';
import { createCertificateReader } from './identity/client-certificate.js';
import { KnownHosts } from './identity/known-hosts.js';
import { createIdentityResolver } from './identity/resolve-identity.js';
import { UserTokens } from './identity/user-tokens.js';
import managementPlugin from './management/plugin.js';
import smartProxyPlugin from './smart-proxy/plugin.js';
import { GATEWAY_VERSION } from './version.js';
import registryPlugin from './registry/plugin.js';
import { AccessFactsCache } from './store/access-facts-cache.js';
import { watchPostgres, watchSqlite } from './store/change-feed.js';
import { openDatabase } from './store/connect.js';
import { pendingMigrations } from './store/migrations.js';
import { GatewayStore } from './store/gateway-store.js';
import { createKatelloProvider } from './providers/katello-provider.js';
import { createKubernetesClient } from './providers/kubernetes-client.js';
import { createKubernetesProvider } from './providers/kubernetes-provider.js';
import { createAccessPolicy } from './providers/access-policy.js';
import type { IdentityProvider } from './providers/provider.js';
import { PasswordChecks } from './providers/password-checks.js';
import { createStaticProvider } from './providers/static-provider.js';
import { BackendCatalog } from './registry/backend-catalog.js';
import { ALL_CHANGED, SIGNING_KEYS_CHANGED } from './store/gateway-store.js';
import { AnonymousTokens } from './token/anonymous-token.js';
import { GatewayTokens } from './token/gateway-tokens.js';
import { KeyRing } from './token/key-ring.js';
import { LoginThrottle } from './token/login-throttle.js';
import tokenPlugin from './token/plugin.js';
import { createLoginService } from './token/login-service.js';
import { createKatelloClient, type UpstreamClient } from './upstream/katello-client.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The app's metrics, for a separate /metrics listener (metrics.listen). */
    metrics: GatewayMetrics;
    /** Takes new TLS certificates and management secrets from a reloaded configuration. */
    reloadSecrets: (config: GatewayConfig) => void;
  }
}

export interface AppDependencies extends HttpServerOptions {
  /** Injected in tests that need a particular backend or upstream; created from config otherwise. */
  readonly backend?: BackendClient;
  readonly upstream?: UpstreamClient;
  readonly now?: () => number;
}

const PRUNE_INTERVAL_MS = 10 * 60 * 1000;
/** How often expired entries nobody asked for again are dropped from the caches. */
const CACHE_SWEEP_INTERVAL_MS = 60 * 1000;

export async function buildApp(config: GatewayConfig, deps: AppDependencies = {}): Promise<FastifyInstance> {
  const database = await openDatabase(config.database);
  const app = createHttpServer(config, deps);
  const pgPool = database.pgPool;
  const metrics = new GatewayMetrics(pgPool === undefined ? {} : { poolWaiting: () => pgPool.waitingCount });
  app.decorate('metrics', metrics);
  metrics.countOnScrape('cg_log_lines_dropped_total', 'Log lines dropped because the reader of stdout stalled with 8 MiB of lines waiting', app.droppedLogLines);
  if (database.imported !== undefined) app.log.info({ ...database.imported }, 'copied the old SQLite database into PostgreSQL');
  if (database.tightened !== undefined) app.log.warn({ tightened: database.tightened }, 'the database was readable by other local users; its permissions were tightened');
  const ownedBackend = deps.backend === undefined ? createBackendClient(config.backend) : undefined;
  const ownedUpstream = deps.upstream === undefined ? createKatelloClient(config.upstream) : undefined;
  // Coalescing sits above the metrics: cg_backend_requests_total counts the calls the backend really gets.
  const backend = coalesceReads(instrumentBackend(deps.backend ?? (ownedBackend as BackendClient), metrics), () => metrics.backendSharedReads.inc({ kind: 'whole' }));
  const upstream = instrumentUpstream(deps.upstream ?? (ownedUpstream as UpstreamClient), metrics);
  const now = deps.now ?? Date.now;

  const store = new GatewayStore(database.db, database.dialect, database.reads);
  const facts = new AccessFactsCache(store);
  const userTokens = new UserTokens(store, (hit) => metrics.tokenLookedUp(hit));
  const anonymousKey = await store.ensureSecret('anonymous-token-key', randomBytes(32).toString('base64'));
  const anonymousTokens = new AnonymousTokens(Buffer.from(anonymousKey, 'base64'));

  const knownHosts = new KnownHosts({ store, upstream, facts, log: app.log, now });
  const keyRing = await KeyRing.open(store, config.tokens, now());
  const gatewayTokens = new GatewayTokens(keyRing, config.tokens);
  const prune = setInterval(() => {
    store.pruneExpiredTokens(now()).then(
      (count) => count > 0 && app.log.info({ count }, 'pruned expired tokens'),
      (error: unknown) => app.log.warn({ err: error }, 'pruning expired tokens failed'),
    );
    keyRing.prune(now(), config.tokens.lifetimeSeconds * 1000).then(
      (kids) => kids.length > 0 && app.log.info({ kids }, 'dropped signing keys whose tokens have all expired'),
      (error: unknown) => app.log.warn({ err: error }, 'pruning signing keys failed'),
    );
  }, PRUNE_INTERVAL_MS);
  prune.unref();

  // Other workers and instances change the same data: drop what they changed from our caches.
  const onChange = (change: string): void => {
    if (change === SIGNING_KEYS_CHANGED || change === ALL_CHANGED) {
      keyRing.reload().catch((error: unknown) => app.log.warn({ err: error }, 'reloading signing keys failed'));
      if (change === SIGNING_KEYS_CHANGED) return;
    }
    if (change.startsWith('user:')) facts.invalidateCaller({ kind: 'user', username: change.slice(5), provider: 'katello' });
    else if (change.startsWith('host:')) facts.invalidateCaller({ kind: 'host', uuid: change.slice(5) });
    else {
      facts.invalidateAll();
      knownHosts.forgetAll();
    }
  };
  const changeFeed =
    database.dialect === 'postgres'
      ? await watchPostgres(config.database.url, onChange, (error) => app.log.warn({ reason: error.message }, 'database change feed interrupted'))
      : watchSqlite(database.sqlite as NonNullable<typeof database.sqlite>, onChange);

  app.addHook('onClose', async () => {
    clearInterval(prune);
    await changeFeed.close();
    await Promise.all([ownedBackend?.close(), ownedUpstream?.close()]);
    await database.close();
  });

  let managementCredentials: GatewayConfig['management'] = config.management;
  const publicUrl = config.server.publicUrl;
  await app.register(metricsPlugin, { metrics, exposeHere: config.metrics.listen === null });
  const audit = createAuditLogger(config.audit.destination, deps.auditStream);
  if (audit !== undefined) {
    await app.register(auditPlugin, { audit });
    app.addHook('onClose', async () => audit.flush());
  }
  // `katello` without upstream.url can log nobody in. Beside other providers it is left out, so their users who
  // mistype get 401 rather than 503; alone it stays and answers 503 "not configured" (serve warns at start).
  const loginProviders = config.identity.providers.filter((name) => name !== 'katello' || config.upstream.url !== null || config.identity.providers.length === 1);
  const providers: IdentityProvider[] = loginProviders.map((name): IdentityProvider => {
    switch (name) {
      case 'katello':
        return createKatelloProvider({ upstream, store, facts, userTokens, now });
      case 'static': {
        const { workers, queue } = config.limits.passwordChecks;
        const checks = new PasswordChecks({ workers: workers ?? Math.max(1, availableParallelism() - 1), queue });
        app.addHook('onClose', async () => checks.close());
        return createStaticProvider(config.identity.static, checks);
      }
      case 'kubernetes': {
        const client = createKubernetesClient(config.identity.kubernetes);
        app.addHook('onClose', async () => client.close());
        return createKubernetesProvider(config.identity.kubernetes, client, now);
      }
    }
  });
  const rulesDecide = providers.some((provider) => provider.name !== 'katello');
  const policy = createAccessPolicy({
    facts,
    providers,
    // Rules decide visibility for those providers: the backend's own catalog, filtered, joins what the repository list shows.
    ...(rulesDecide ? { backendCatalog: new BackendCatalog(backend, config.backend.catalogCacheSeconds * 1000, app.log, now) } : {}),
  });

  const logins = config.limits.logins;
  const throttle = new LoginThrottle({ ...logins, windowMs: logins.windowSeconds * 1000 });
  const logIn = createLoginService({ providers, gatewayTokens, policy, throttle, now });

  // Identity is resolved for the client-facing API only; the token and management APIs have their own credentials.
  const readClientCertificate = createCertificateReader({
    socketClientCa: config.server.tls?.clientCa,
    headerClientCa: config.server.proxyClientCa,
    trustedProxies: config.server.trustedProxySet,
    hasTrustedProxies: config.server.trustedProxies.length > 0,
    headerName: config.server.clientCertificateHeader,
  });
  const manifestCache = new ManifestCache(config.backend.manifestCacheBytes);
  const blobCache = config.backend.blobCache === undefined ? undefined : await openBlobCache(config.backend.blobCache, config.server.workers, app.log, metrics);
  const redirectCache = new RedirectCache(config.backend.redirectCacheSeconds * 1000);
  await app.register(async (clientApi) => {
    await clientApi.register(identityPlugin, {
      resolveIdentity: createIdentityResolver({ anonymousTokens, userTokens, gatewayTokens, readClientCertificate, knownHosts, now }),
    });
    await clientApi.register(registryPlugin, {
      backend,
      delivery: { mode: config.backend.mode, clientUrl: config.backend.clientUrl },
      manifestCache,
      redirectCache,
      blobs: {
        cache: blobCache,
        streams: new SharedStreams(),
        onShared: (kind) => metrics.backendSharedReads.inc({ kind }),
        onCacheHit: () => metrics.blobCacheHits.inc(),
      },
      authorize: policy.authorize,
      catalog: policy.catalogOf,
      flatpakIndexPath: config.backend.flatpakIndexPath,
      publicUrl,
      challenge: { realm: new URL('/v2/token', publicUrl).href, service: config.tokens.services[0] ?? publicUrl.host },
      writesEnabled: policy.grantsWrites,
      logIn,
    });
  });
  await app.register(healthPlugin, {
    db: database.db,
    schemaCurrent: async () => (await pendingMigrations(database.db as Kysely<unknown>, database.dialect)).length === 0,
    backend,
    upstream,
    upstreamConfigured: config.upstream.url !== null,
  });
  await app.register(tokenPlugin, { logIn, keyRing, anonymousTokens, now });

  // Every per-caller or per-name cache is bounded (caches/bounded-cache.ts); /metrics shows their
  // sizes, and expired entries nobody asks for again are swept.
  const caches = (): CacheView[] => [
    ...[userTokens, anonymousTokens, gatewayTokens, knownHosts, facts, throttle, manifestCache, redirectCache].flatMap((owner) => owner.caches),
    ...(blobCache?.caches ?? []),
    ...(backend.caches ?? []),
    ...database.caches,
    ...providers.flatMap((provider) => provider.caches ?? []),
  ];
  metrics.showCaches(caches);
  const sweep = setInterval(() => {
    for (const cache of caches()) cache.purgeStale();
  }, CACHE_SWEEP_INTERVAL_MS);
  sweep.unref();
  app.addHook('onClose', async () => clearInterval(sweep));
  await app.register(managementPlugin, {
    store,
    facts,
    credentials: () => managementCredentials,
    onChange: () => knownHosts.forgetAll(),
  });
  await app.register(smartProxyPlugin, {
    version: config.management.proxyVersion ?? GATEWAY_VERSION,
    https: config.server.tls !== undefined,
    credentials: () => managementCredentials,
  });
  // SIGHUP (cli.ts): new TLS certificates and management secrets without dropping connections.
  app.decorate('reloadSecrets', (next: GatewayConfig) => {
    managementCredentials = next.management;
    for (const provider of providers) provider.reload?.(next.identity);
    const tls = next.server.tls;
    const server = app.server as unknown as Partial<TlsServer>;
    if (tls !== undefined && typeof server.setSecureContext === 'function') {
      server.setSecureContext({ cert: tls.cert, key: tls.key, ...(tls.clientCa === undefined ? {} : { ca: tls.clientCa }) });
    }
  });
  await app.ready();
  return app;
}

/**
 * The blob cache, opened (its directory indexed) before the gateway serves. Worker processes
 * each keep their own part of the directory and of the cap, so none can evict what another is
 * serving or overrun the cap between them.
 */
async function openBlobCache(settings: BlobCacheSettings, workers: number, log: FastifyBaseLogger, metrics: GatewayMetrics): Promise<BlobCache> {
  const slot = workerSlot();
  const ownPart = slot === undefined || workers <= 1 ? settings : { path: join(settings.path, `worker-${slot}`), maxBytes: Math.floor(settings.maxBytes / workers) };
  const cache = await BlobCache.open(ownPart, log, {
    fillSettled: (outcome, digest, reason) => {
      metrics.blobCacheFills.inc({ outcome });
      if (outcome === 'failed') log.warn({ digest, reason }, 'a blob download into the cache failed; nothing of it was kept');
    },
    fillsPaused: (reason, forMs) => {
      log.warn({ reason, until: new Date(Date.now() + forMs).toISOString() }, 'the blob cache could not write to its disk: blobs are served straight from the backend until then, and cached ones from the cache');
    },
  });
  metrics.showBlobCache(() => cache.usage);
  return cache;
}
