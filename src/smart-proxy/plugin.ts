/**
 * Smart-proxy discovery: the three calls Foreman makes to register and refresh a smart proxy, so
 * the gateway can be registered in Foreman (UI or `hammer proxy create`) as the colocated proxy
 * with the Container_Gateway feature that Katello's `sync_container_gateway` looks for
 * (app/models/katello/concerns/smart_proxy_extensions.rb, `self_or_colocated_with_feature`).
 *
 * Shapes follow smart-proxy's modules/root: `GET /features` (root_api.rb, no authorization) lists
 * running module names; `GET /version` (root_api.rb) gives `{version, modules}`; `GET /v2/features`
 * (root_v2_api.rb, behind `authorize_with_trusted_hosts` and `authorize_with_ssl_client`) gives
 * each module's `http_enabled`, `https_enabled`, `settings`, `state` and `capabilities`. Foreman
 * (app/models/smart_proxy.rb `get_features`) asks v2 first and keeps only modules whose state is
 * "running"; its Feature.name_map turns "Container_Gateway" into the key "container_gateway".
 * smart_proxy_container_gateway exposes no settings and no capabilities, and neither do we.
 */
import type { FastifyPluginAsync } from 'fastify';
import { RegistryError } from '../errors/registry-error.js';
import { authenticateManagement } from '../management/authenticate.js';

export const FEATURE_NAME = 'container_gateway';

export interface SmartProxyDependencies {
  /** The version reported at /version (Foreman compares its own against it). */
  readonly version: string;
  /** Whether the gateway itself speaks HTTPS (server.tls). */
  readonly https: boolean;
  /** Read per request, so SIGHUP can replace them: who counts as a trusted host. */
  readonly credentials: () => { readonly tokens: readonly string[]; readonly clientCertCNs: readonly string[] };
}

const smartProxyPlugin: FastifyPluginAsync<SmartProxyDependencies> = async (app, deps) => {
  app.get('/features', async () => [FEATURE_NAME]);

  app.get('/version', async () => ({ version: deps.version, modules: { [FEATURE_NAME]: deps.version } }));

  app.get('/v2/features', async (request) => {
    // smart-proxy's trusted_hosts check: the same credentials the management API accepts.
    const { tokens, clientCertCNs } = deps.credentials();
    if (authenticateManagement(request, tokens, clientCertCNs) === undefined) {
      throw new RegistryError('DENIED', { message: 'untrusted client: present a certificate whose CN is in management.clientCertCNs' });
    }
    return {
      [FEATURE_NAME]: { http_enabled: !deps.https, https_enabled: deps.https, settings: {}, state: 'running', capabilities: [] },
    };
  });
};

export default smartProxyPlugin;
