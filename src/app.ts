/**
 * buildApp: the composition root. Creates the adapters (backend client, ...), wires them into
 * the API plugins and returns a ready, un-listened fastify instance. Only `cli.ts serve` listens.
 */
import type { FastifyInstance } from 'fastify';
import { ANONYMOUS_WITH_TOKEN } from './access/identity.js';
import { createBackendClient, type BackendClient } from './backend/client.js';
import type { GatewayConfig } from './config/compiled.js';
import { createHttpServer, type HttpServerOptions } from './http/server.js';
import identityPlugin from './identity/plugin.js';
import { fetchWholeList } from './registry/listing-handlers.js';
import { compareCodeUnits } from './registry/pagination.js';
import registryPlugin from './registry/plugin.js';

export interface AppDependencies extends HttpServerOptions {
  /** Injected in tests that need a particular backend; created from config otherwise. */
  readonly backend?: BackendClient;
}

export async function buildApp(config: GatewayConfig, deps: AppDependencies = {}): Promise<FastifyInstance> {
  const app = createHttpServer(config, deps);
  const backend = deps.backend ?? createBackendClient(config.backend);
  app.addHook('onClose', async () => {
    if (deps.backend === undefined) await backend.close();
  });

  const publicUrl = config.server.publicUrl;
  // Until the management API pushes who may see what, every repository the backend has is public.
  await app.register(identityPlugin, { resolveIdentity: () => ANONYMOUS_WITH_TOKEN });
  await app.register(registryPlugin, {
    backend,
    delivery: { mode: config.backend.mode, clientUrl: config.backend.clientUrl },
    authorize: () => ({ outcome: 'grant', reason: 'public' }),
    catalog: async () => (await fetchWholeList(backend, '/v2/_catalog', 'repositories')).sort(compareCodeUnits),
    challenge: { realm: new URL('/v2/token', publicUrl).href, service: publicUrl.host },
  });
  await app.ready();
  return app;
}
