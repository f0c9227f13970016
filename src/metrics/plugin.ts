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

/** Label sets remembered; beyond (never with real routes), labels are made per request as before. */
const MAX_LABEL_SETS = 10_000;

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
  // Label objects are made once per (route, method, status) and per route, not per request.
  const requestLabels = new Map<string, { route: string; method: string; status: string }>();
  const durationLabels = new Map<string, { route: string }>();
  app.addHook('onResponse', (request, reply, done) => {
    const route = familyOf(request);
    const key = `${route} ${request.method} ${reply.statusCode}`;
    let labels = requestLabels.get(key);
    if (labels === undefined) {
      labels = { route, method: request.method, status: String(reply.statusCode) };
      // Route families, methods and statuses are small fixed sets; unmatched paths share one family.
      if (requestLabels.size < MAX_LABEL_SETS) requestLabels.set(key, labels);
    }
    let routeLabels = durationLabels.get(route);
    if (routeLabels === undefined) {
      routeLabels = { route };
      if (durationLabels.size < MAX_LABEL_SETS) durationLabels.set(route, routeLabels);
    }
    const status = labels.status;
    metrics.httpRequests.inc(labels);
    metrics.httpDuration.observe(routeLabels, reply.elapsedTime / 1000);
    if (request.loginLog !== undefined) metrics.logins.inc({ outcome: request.loginLog.outcome });
    if (request.method === 'PUT' && MANAGEMENT_ROUTES.has(route)) metrics.managementUpdates.inc({ endpoint: route.slice(1), status });
    done();
  });
};

export default fp(metricsPlugin, { name: 'metrics', fastify: '5.x' });
