/**
 * buildApp: the composition root. Opens the database (migrating it), creates the adapters
 * (backend, upstream, store, caches), wires them into the API plugins and returns a ready,
 * un-listened fastify instance. Only `cli.ts serve` listens.
 *
 * Request path: identity hook → registry route → decideAccess (facts from the cache) → backend.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import { decideAccess } from './access/decide-access.js';
import { createBackendClient, type BackendClient } from './backend/client.js';
import { ManifestCache } from './backend/manifest-cache.js';
import { RedirectCache } from './backend/redirect-cache.js';
import type { GatewayConfig } from './config/compiled.js';
import { createHttpServer, type HttpServerOptions } from './http/server.js';
import healthPlugin from './health/plugin.js';
import identityPlugin from './identity/plugin.js';
import { createCertificateReader } from './identity/client-certificate.js';
import { KnownHosts } from './identity/known-hosts.js';
import { createIdentityResolver } from './identity/resolve-identity.js';
import { UserTokens } from './identity/user-tokens.js';
import managementPlugin from './management/plugin.js';
import registryPlugin from './registry/plugin.js';
import { AccessFactsCache } from './store/access-facts-cache.js';
import { watchPostgres, watchSqlite } from './store/change-feed.js';
import { openDatabase } from './store/connect.js';
import { pendingMigrations } from './store/migrations.js';
import { GatewayStore } from './store/gateway-store.js';
import { AnonymousTokens } from './token/anonymous-token.js';
import tokenPlugin from './token/plugin.js';
import { createKatelloClient, type UpstreamClient } from './upstream/katello-client.js';

export interface AppDependencies extends HttpServerOptions {
  /** Injected in tests that need a particular backend or upstream; created from config otherwise. */
  readonly backend?: BackendClient;
  readonly upstream?: UpstreamClient;
  readonly now?: () => number;
}

const PRUNE_INTERVAL_MS = 10 * 60 * 1000;

export async function buildApp(config: GatewayConfig, deps: AppDependencies = {}): Promise<FastifyInstance> {
  const database = await openDatabase(config.database);
  const app = createHttpServer(config, deps);
  if (database.imported !== undefined) app.log.info({ ...database.imported }, 'copied the old SQLite database into PostgreSQL');
  const backend = deps.backend ?? createBackendClient(config.backend);
  const upstream = deps.upstream ?? createKatelloClient(config.upstream);
  const now = deps.now ?? Date.now;

  const store = new GatewayStore(database.db, database.dialect, database.reads);
  const facts = new AccessFactsCache(store);
  const userTokens = new UserTokens(store);
  const anonymousKey = await store.ensureSecret('anonymous-token-key', randomBytes(32).toString('base64'));
  const anonymousTokens = new AnonymousTokens(Buffer.from(anonymousKey, 'base64'));

  const knownHosts = new KnownHosts({ store, upstream, facts, log: app.log, now });
  const prune = setInterval(() => {
    store.pruneExpiredTokens(now()).then(
      (count) => count > 0 && app.log.info({ count }, 'pruned expired tokens'),
      (error: unknown) => app.log.warn({ err: error }, 'pruning expired tokens failed'),
    );
  }, PRUNE_INTERVAL_MS);
  prune.unref();

  // Other workers and instances change the same data: drop what they changed from our caches.
  const onChange = (change: string): void => {
    if (change.startsWith('user:')) facts.invalidateCaller({ kind: 'user', username: change.slice(5) });
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
    await Promise.all([deps.backend === undefined ? backend.close() : undefined, deps.upstream === undefined ? upstream.close() : undefined]);
    await database.close();
  });

  const publicUrl = config.server.publicUrl;
  // Identity is resolved for the client-facing API only; the token and management APIs have their own credentials.
  const readClientCertificate = createCertificateReader({
    socketClientCa: config.server.tls?.clientCa,
    headerClientCa: config.server.proxyClientCa,
    trustedProxies: config.server.trustedProxySet,
    hasTrustedProxies: config.server.trustedProxies.length > 0,
  });
  await app.register(async (clientApi) => {
    await clientApi.register(identityPlugin, {
      resolveIdentity: createIdentityResolver({ anonymousTokens, userTokens, readClientCertificate, knownHosts, now }),
    });
    await clientApi.register(registryPlugin, {
      backend,
      delivery: { mode: config.backend.mode, clientUrl: config.backend.clientUrl },
      manifestCache: new ManifestCache(config.backend.manifestCacheBytes),
      redirectCache: new RedirectCache(config.backend.redirectCacheSeconds * 1000),
      authorize: async (identity, required) =>
        decideAccess(identity, required, required.type === 'repository' ? await facts.factsFor(identity, required.name) : undefined),
      catalog: (identity) => facts.visibleRepositories(identity),
      flatpakIndexPath: config.backend.flatpakIndexPath,
      publicUrl,
      challenge: { realm: new URL('/v2/token', publicUrl).href, service: publicUrl.host },
    });
  });
  await app.register(healthPlugin, {
    db: database.db,
    schemaCurrent: async () => (await pendingMigrations(database.db as Kysely<unknown>, database.dialect)).length === 0,
    backend,
    upstream,
    upstreamConfigured: config.upstream.url !== null,
  });
  await app.register(tokenPlugin, { upstream, store, facts, userTokens, anonymousTokens, now });
  await app.register(managementPlugin, {
    store,
    facts,
    tokens: config.management.tokens,
    clientCertCNs: config.management.clientCertCNs,
    onChange: () => knownHosts.forgetAll(),
  });
  await app.ready();
  return app;
}
