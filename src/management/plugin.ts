/**
 * The management API Katello calls at smart-proxy sync time: the paths of
 * smart_proxy_container_gateway, reached at `<proxy url>/container_gateway/...` (the prefix is
 * taken off in http/server.ts), with the bodies Katello's rest-client really sends (Rack-style
 * forms) or the same shapes as JSON. Every route needs management credentials; every write is
 * one transaction and then invalidates the in-process access facts.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { RegistryError } from '../errors/registry-error.js';
import type { AccessFactsCache } from '../store/access-facts-cache.js';
import type { GatewayStore } from '../store/gateway-store.js';
import { authenticateManagement, type ManagementCaller } from './authenticate.js';
import { BodyProblems, readHostMappings, readHosts, readRepositoryList, readUserMappings } from './bodies.js';
import { FormBodyInvalid, parseRackFormInSlices, type FormHash } from './rack-form.js';

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

/**
 * Katello sends Rack-style form bodies (rest-client's encoding of a Ruby Hash); other clients may
 * send the same shapes as JSON. Both reach the readers (bodies.ts) as the same plain structure;
 * what is wrong with one is a 400 that changes nothing.
 */
async function readBody<T>(read: (body: unknown) => Promise<T>, body: unknown): Promise<T> {
  try {
    return await read(body);
  } catch (error) {
    if (error instanceof BodyProblems) throw new RegistryError('BODY_INVALID', { message: error.message, detail: { problems: error.problems } });
    throw error;
  }
}

/** A form body must be UTF-8 text before its escapes are even looked at. */
const utf8 = new TextDecoder('utf-8', { fatal: true });

async function parseFormBody(raw: Buffer): Promise<FormHash> {
  let text: string;
  try {
    text = utf8.decode(raw);
  } catch {
    throw new RegistryError('BODY_INVALID', { message: 'form body is not UTF-8 text' });
  }
  if (text.trim() === '') throw new RegistryError('BODY_INVALID', { message: 'empty body: send the lists, even empty ones (a bare key such as "repositories")' });
  try {
    return await parseRackFormInSlices(text);
  } catch (error) {
    if (error instanceof FormBodyInvalid) throw new RegistryError('BODY_INVALID', { message: `malformed form body: ${error.message}` });
    throw error;
  }
}

const managementPlugin: FastifyPluginAsync<ManagementDependencies> = async (app, deps) => {
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'buffer' }, async (_request: FastifyRequest, body: Buffer | string) => parseFormBody(body as Buffer));

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
    const entries = await readBody(readRepositoryList, request.body);
    return changed(request, 'repository_list', await deps.store.replaceRepositoryList(entries));
  });

  app.put('/user_repository_mapping', async (request) => {
    const { mappings } = await readBody(readUserMappings, request.body);
    return changed(request, 'user_repository_mapping', await deps.store.replaceUserMappings(mappings));
  });

  app.put('/update_hosts', async (request) => {
    const { uuids, skipped } = await readBody(readHosts, request.body);
    return changed(request, 'update_hosts', { ...(await deps.store.replaceHosts(uuids)), skipped });
  });

  app.put('/host_repository_mapping', async (request) => {
    const { mappings, skipped } = await readBody(readHostMappings, request.body);
    return changed(request, 'host_repository_mapping', { ...(await deps.store.writeHostMappings(mappings, 'replace')), skipped });
  });

  app.put('/update_host_repositories', async (request) => {
    const { mappings, skipped } = await readBody(readHostMappings, request.body);
    return changed(request, 'update_host_repositories', { ...(await deps.store.writeHostMappings(mappings, 'merge')), skipped });
  });

  app.get('/users', async () => ({ users: await deps.store.listUsers() }));
};

export default managementPlugin;
