/**
 * The management API Katello calls at smart-proxy sync time (same paths and bodies as
 * Katello's smart_proxy_container_gateway). Every route needs management credentials; every
 * write is one transaction and then invalidates the in-process access facts.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { RegistryError } from '../errors/registry-error.js';
import type { AccessFactsCache } from '../store/access-facts-cache.js';
import type { GatewayStore } from '../store/gateway-store.js';
import { authenticateManagement, type ManagementCaller } from './authenticate.js';
import { describeIssues, hostListBody, hostMappingBody, mappingsOf, repositoryListBody, userMappingBody } from './bodies.js';

export interface ManagementDependencies {
  readonly store: GatewayStore;
  readonly facts: AccessFactsCache;
  /** Read per request, so SIGHUP can replace them. */
  readonly credentials: () => { readonly tokens: readonly string[]; readonly clientCertCNs: readonly string[] };
  /** Called after every successful write (e.g. to drop the user-token cache). */
  readonly onChange?: () => void;
}

declare module 'fastify' {
  interface FastifyRequest {
    managementCaller?: ManagementCaller;
  }
}

function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  if (body === undefined || body === null || typeof body !== 'object') {
    throw new RegistryError('BODY_INVALID', { message: 'expected a JSON object body (Content-Type: application/json)' });
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    const problems = describeIssues(parsed.error);
    throw new RegistryError('BODY_INVALID', { message: problems[0] ?? 'request body invalid', detail: { problems } });
  }
  return parsed.data;
}

const managementPlugin: FastifyPluginAsync<ManagementDependencies> = async (app, deps) => {
  app.addHook('onRequest', async (request: FastifyRequest) => {
    const { tokens, clientCertCNs } = deps.credentials();
    const caller = authenticateManagement(request, tokens, clientCertCNs);
    if (caller === undefined) throw new RegistryError('UNAUTHORIZED', { message: 'management credentials required' });
    request.managementCaller = caller;
  });

  const changed = async (request: FastifyRequest, what: string, counts: object): Promise<object> => {
    await deps.facts.refresh();
    deps.onChange?.();
    // Recorded once, by the audit log (audit/plugin.ts); the request log has the request's own line.
    request.managementChange = { endpoint: what, ...counts };
    return { status: 'ok', ...counts };
  };

  app.put('/repository_list', async (request) => {
    const body = parseBody(repositoryListBody, request.body);
    const entries = new Map(body.repositories.map((entry) => [entry.repository, entry.auth_required]));
    return changed(request, 'repository_list', await deps.store.replaceRepositoryList(entries));
  });

  app.put('/user_repository_mapping', async (request) => {
    const body = parseBody(userMappingBody, request.body);
    return changed(request, 'user_repository_mapping', await deps.store.replaceUserMappings(mappingsOf(body.users)));
  });

  app.put('/update_hosts', async (request) => {
    const body = parseBody(hostListBody, request.body);
    return changed(request, 'update_hosts', await deps.store.replaceHosts(new Set(body.hosts.map((host) => host.uuid))));
  });

  app.put('/host_repository_mapping', async (request) => {
    const body = parseBody(hostMappingBody, request.body);
    return changed(request, 'host_repository_mapping', await deps.store.writeHostMappings(mappingsOf(body.hosts), 'replace'));
  });

  app.put('/update_host_repositories', async (request) => {
    const body = parseBody(hostMappingBody, request.body);
    return changed(request, 'update_host_repositories', await deps.store.writeHostMappings(mappingsOf(body.hosts), 'merge'));
  });

  app.get('/users', async () => ({ users: await deps.store.listUsers() }));
};

export default managementPlugin;
