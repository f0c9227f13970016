/**
 * probeUpstream: is upstream.url really a management server's registry API? `GET
 * {url}{registryPath}token` without credentials, as the gateway will ask it with them: Katello
 * answers a JSON token ("unauthenticated") or 401. A 404, a redirect to a login page or an HTML
 * page means the URL or the registry path is wrong, and every login would fail.
 * `judgeUpstreamAnswer` is the decision, pure; `probeUpstream` does the request.
 */
import type { GatewayConfig } from '../config/compiled.js';
import type { Verdict } from './backend-probe.js';
import { describeNetworkFailure } from './network-failure.js';
import { probeGet } from './probe-request.js';

export interface UpstreamAnswer {
  readonly statusCode: number;
  readonly contentType: string | undefined;
  readonly location: string | undefined;
  readonly body: string;
}

const WHERE = 'upstream.url must be the management server\'s base URL (https://foreman.example.com) and upstream.registryPath its registry path (Katello: /v2/)';

export function tokenEndpointOf(upstream: { url: URL; registryPath: string }): URL {
  return new URL(`${upstream.url.pathname.replace(/\/$/, '')}${upstream.registryPath}token`, upstream.url);
}

export function judgeUpstreamAnswer(answer: UpstreamAnswer, endpoint: string): Verdict {
  if (answer.statusCode === 401) return { status: 'ok', detail: `${endpoint} answers (401: asks for credentials)` };
  if (answer.statusCode >= 300 && answer.statusCode < 400) {
    return { status: 'FAIL', detail: `${endpoint} redirects (${answer.statusCode}) to ${answer.location ?? 'nowhere'}, a login page rather than a registry token endpoint, so every login would fail. Fix: ${WHERE}` };
  }
  if (answer.statusCode === 404) return { status: 'FAIL', detail: `${endpoint} does not exist (404), so every login would fail. Fix: ${WHERE}` };
  if (answer.statusCode >= 500) return { status: 'FAIL', detail: `${endpoint} answered HTTP ${answer.statusCode}: the management server is failing. Fix: see its own log` };
  if (answer.statusCode === 200) {
    if (hasToken(answer.body)) return { status: 'ok', detail: `${endpoint} answers with a token (200)` };
    return { status: 'FAIL', detail: `${endpoint} answered 200 with ${answer.contentType ?? 'no content type'}, not a registry token, so every login would fail. Fix: ${WHERE}` };
  }
  return { status: 'FAIL', detail: `${endpoint} answered HTTP ${answer.statusCode}. Fix: ${WHERE}` };
}

function hasToken(body: string): boolean {
  try {
    const json = JSON.parse(body) as { token?: unknown; access_token?: unknown } | null;
    return typeof json?.token === 'string' || typeof json?.access_token === 'string';
  } catch {
    return false;
  }
}

export async function probeUpstream(upstream: GatewayConfig['upstream'] & { url: URL }): Promise<Verdict> {
  const endpoint = tokenEndpointOf(upstream);
  try {
    const answer = await probeGet(endpoint, upstream.tls, { accept: 'application/json' });
    // Printed without any user:password an operator left in upstream.url.
    return judgeUpstreamAnswer({ statusCode: answer.statusCode, contentType: answer.header('content-type'), location: answer.header('location'), body: answer.body }, `${endpoint.origin}${endpoint.pathname}`);
  } catch (error) {
    const diagnosis = describeNetworkFailure(error, upstream.url.origin, 'upstream');
    return { status: 'FAIL', detail: `${diagnosis.problem}, so every Katello login would fail. Fix: ${diagnosis.fix}` };
  }
}
