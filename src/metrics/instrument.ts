/**
 * Wrappers that count and time the gateway's outbound calls without the clients knowing about
 * metrics: the backend registry and the management server.
 */
import { RegistryError } from '../errors/registry-error.js';
import type { BackendClient } from '../backend/client.js';
import { UpstreamFailed, UpstreamRejected, UpstreamUnavailable } from '../upstream/errors.js';
import type { UpstreamClient } from '../upstream/katello-client.js';
import type { GatewayMetrics } from './gateway-metrics.js';

/** Label objects made once per outcome: a backend call costs no allocation for its metrics. */
const OUTCOME_LABELS = new Map<string, { outcome: string }>();

function outcomeLabels(outcome: string): { outcome: string } {
  let labels = OUTCOME_LABELS.get(outcome);
  if (labels === undefined) {
    labels = { outcome };
    // The outcomes are status classes and error codes: a small, fixed set.
    OUTCOME_LABELS.set(outcome, labels);
  }
  return labels;
}

const STATUS_CLASSES = ['0xx', '1xx', '2xx', '3xx', '4xx', '5xx'];

function statusClass(status: number): string {
  return STATUS_CLASSES[Math.floor(status / 100)] ?? `${Math.floor(status / 100)}xx`;
}

function backendErrorOutcome(error: unknown): string {
  return error instanceof RegistryError ? error.code.toLowerCase() : 'error';
}

export function instrumentBackend(client: BackendClient, metrics: GatewayMetrics): BackendClient {
  // Not an async function: it runs on every backend call, and a promise chain of its own costs.
  const timed = <T>(call: () => Promise<T>, statusOf: (result: T) => number): Promise<T> => {
    const started = performance.now();
    const observe = (outcome: string) => {
      metrics.backendRequests.inc(outcomeLabels(outcome));
      metrics.backendDuration.observe((performance.now() - started) / 1000);
    };
    let calling: Promise<T>;
    try {
      calling = call();
    } catch (error) {
      calling = Promise.reject(error);
    }
    return calling.then(
      (result) => {
        observe(statusClass(statusOf(result)));
        return result;
      },
      (error: unknown) => {
        observe(backendErrorOutcome(error));
        throw error;
      },
    );
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
