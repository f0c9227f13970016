/**
 * Wrappers that count and time the gateway's outbound calls without the clients knowing about
 * metrics: the backend registry and the management server.
 */
import { RegistryError } from '../errors/registry-error.js';
import type { BackendClient } from '../backend/client.js';
import { UpstreamFailed, UpstreamRejected, UpstreamUnavailable } from '../upstream/errors.js';
import type { UpstreamClient } from '../upstream/katello-client.js';
import type { GatewayMetrics } from './gateway-metrics.js';

function statusClass(status: number): string {
  return `${Math.floor(status / 100)}xx`;
}

function backendErrorOutcome(error: unknown): string {
  return error instanceof RegistryError ? error.code.toLowerCase() : 'error';
}

export function instrumentBackend(client: BackendClient, metrics: GatewayMetrics): BackendClient {
  const timed = async <T>(call: () => Promise<T>, statusOf: (result: T) => number): Promise<T> => {
    const end = metrics.backendDuration.startTimer();
    try {
      const result = await call();
      metrics.backendRequests.inc({ outcome: statusClass(statusOf(result)) });
      return result;
    } catch (error) {
      metrics.backendRequests.inc({ outcome: backendErrorOutcome(error) });
      throw error;
    } finally {
      end();
    }
  };
  return {
    location: client.location,
    ...(client.caches === undefined ? {} : { caches: client.caches }),
    send: (request) => timed(() => client.send(request), (response) => response.statusCode),
    fetchWhole: (request) => timed(() => client.fetchWhole(request), (response) => response.statusCode),
    write: (request) => timed(() => client.write(request), (response) => response.statusCode),
    streamInto: (request, open) => {
      let status = 0;
      return timed(
        () =>
          client.streamInto(request, (statusCode, headers) => {
            status = statusCode;
            return open(statusCode, headers);
          }),
        () => status,
      );
    },
    close: () => client.close(),
  };
}

function upstreamOutcome(error: unknown): string {
  if (error instanceof UpstreamRejected) return 'rejected';
  if (error instanceof UpstreamUnavailable) return 'unavailable';
  if (error instanceof UpstreamFailed) return 'failed';
  return 'error';
}

export function instrumentUpstream(client: UpstreamClient, metrics: GatewayMetrics): UpstreamClient {
  const timed = async <T>(call: string, run: () => Promise<T>): Promise<T> => {
    const end = metrics.upstreamDuration.startTimer({ call });
    try {
      const result = await run();
      metrics.upstreamCalls.inc({ call, outcome: 'ok' });
      return result;
    } catch (error) {
      metrics.upstreamCalls.inc({ call, outcome: upstreamOutcome(error) });
      throw error;
    } finally {
      end();
    }
  };
  return {
    login: (authorization, account) => timed('login', () => client.login(authorization, account)),
    catalogForUser: (authorization) => timed('user_catalog', () => client.catalogForUser(authorization)),
    catalogForHost: (uuid) => timed('host_catalog', () => client.catalogForHost(uuid)),
    ping: (timeoutMs) => client.ping(timeoutMs),
    close: () => client.close(),
  };
}
