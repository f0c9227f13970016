/**
 * `GET /metrics` (Prometheus text format), unless metrics.listen moves it to a listener of its
 * own, and the per-request counters: route family, method, status and duration, logins by
 * outcome, management writes by endpoint.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { GatewayMetrics } from './gateway-metrics.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the registry route: which endpoint of the API this was (manifest, blob, ...). */
    routeFamily?: string;
  }
}

const MANAGEMENT_ROUTES = new Set(['/repository_list', '/user_repository_mapping', '/update_hosts', '/host_repository_mapping', '/update_host_repositories']);

function familyOf(request: FastifyRequest): string {
  if (request.routeFamily !== undefined) return request.routeFamily;
  const url = request.routeOptions.url;
  return url === undefined ? 'unmatched' : url;
}

const metricsPlugin: FastifyPluginAsync<{ metrics: GatewayMetrics; exposeHere: boolean }> = async (app, { metrics, exposeHere }) => {
  if (exposeHere) {
    app.get('/metrics', async (_request, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
  }
  app.addHook('onResponse', (request, reply, done) => {
    const route = familyOf(request);
    metrics.requests.record(route, request.method, reply.statusCode, reply.elapsedTime / 1000);
    if (request.loginLog !== undefined) metrics.logins.inc({ outcome: request.loginLog.outcome });
    if (request.method === 'PUT' && MANAGEMENT_ROUTES.has(route)) metrics.managementUpdates.inc({ endpoint: route.slice(1), status: String(reply.statusCode) });
    done();
  });
};

export default fp(metricsPlugin, { name: 'metrics', fastify: '5.x' });
