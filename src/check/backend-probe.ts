/**
 * probeBackend: would the backend serve the gateway? `GET /v2/` without credentials, then (when
 * it wants some and backend.auth is set) with the robot credential, the way pulls will ask.
 * `judgeBackendAnswer` is the decision, pure; `probeBackend` does the two requests.
 * A backend that refuses the gateway makes every pull a 502, so that is a failure, not a pass.
 */
import { BackendLocation } from '../backend/backend-location.js';
import type { GatewayConfig } from '../config/compiled.js';
import { createBackendClient } from '../backend/client.js';
import { describeNetworkFailure } from './network-failure.js';
import { probeGet } from './probe-request.js';

export interface Verdict {
  readonly status: 'ok' | 'warn' | 'FAIL';
  readonly detail: string;
}

export interface BackendAnswer {
  readonly statusCode: number;
  readonly challenge: string | undefined;
  readonly apiVersion: string | undefined;
  readonly location: string | undefined;
}

const CREDENTIALS_TIMEOUT_MS = 5_000;

/** What the backend's answer to an anonymous `GET /v2/` means; 'ask-with-credentials' when backend.auth should be tried. */
export function judgeBackendAnswer(answer: BackendAnswer, origin: string, hasAuth: boolean): Verdict | 'ask-with-credentials' {
  const version = `API version ${answer.apiVersion ?? 'not stated'}`;
  if (answer.statusCode === 200) return { status: 'ok', detail: `${origin} answers /v2/ (200, ${version})` };
  if (answer.statusCode === 401) {
    if (hasAuth) return 'ask-with-credentials';
    const scheme = answer.challenge?.split(' ')[0] ?? 'no';
    return {
      status: 'FAIL',
      detail: `${origin} refuses the gateway: /v2/ answered 401 (${scheme} challenge) and backend.auth is not set, so every pull would fail with 502. Fix: set backend.auth to a robot account of that registry (or backend.tls.cert and key if it authenticates clients by certificate)`,
    };
  }
  if (answer.statusCode >= 300 && answer.statusCode < 400) {
    return { status: 'FAIL', detail: `${origin} redirects /v2/ (${answer.statusCode} to ${answer.location ?? 'nowhere'}). Fix: backend.url must be the registry's own base URL (the gateway calls {url}/v2/, keeping a path such as /pulpcore_registry)` };
  }
  if (answer.statusCode === 404) {
    return { status: 'FAIL', detail: `${origin} has no registry API at /v2/ (404). Fix: backend.url must be the registry's base URL, without /v2/ (the gateway calls {url}/v2/)` };
  }
  if (answer.statusCode >= 500) return { status: 'FAIL', detail: `${origin} answered /v2/ with HTTP ${answer.statusCode}: the registry is failing. Fix: see the registry's own log` };
  return { status: 'FAIL', detail: `${origin} answered /v2/ with HTTP ${answer.statusCode} (${version}). Fix: check that backend.url is a Docker Registry v2 / OCI registry` };
}

export async function probeBackend(backend: GatewayConfig['backend']): Promise<Verdict> {
  const origin = backend.url.origin;
  let verdict: Verdict | 'ask-with-credentials';
  try {
    const answer = await probeGet(new BackendLocation(backend.url).urlOf('/v2/'), backend.tls);
    verdict = judgeBackendAnswer(
      { statusCode: answer.statusCode, challenge: answer.header('www-authenticate'), apiVersion: answer.header('docker-distribution-api-version'), location: answer.header('location') },
      origin,
      backend.auth !== undefined,
    );
  } catch (error) {
    const diagnosis = describeNetworkFailure(error, origin, 'backend');
    return { status: 'FAIL', detail: `${diagnosis.problem}. Fix: ${diagnosis.fix}` };
  }
  if (verdict !== 'ask-with-credentials') return verdict;
  return probeWithCredentials({ ...backend, timeouts: { ...backend.timeouts, headersMs: CREDENTIALS_TIMEOUT_MS } }, backend.auth?.username ?? '');
}

async function probeWithCredentials(backend: GatewayConfig['backend'], username: string): Promise<Verdict> {
  const origin = backend.url.origin;
  const client = createBackendClient(backend);
  try {
    const response = await client.fetchWhole({ method: 'GET', url: client.location.urlOf('/v2/'), headers: {}, maxBytes: 64 * 1024 });
    if (response.statusCode === 200) return { status: 'ok', detail: `${origin} answers /v2/ with backend.auth (${username}): 200` };
    return {
      status: 'FAIL',
      detail: `${origin} refuses backend.auth (${username}): /v2/ answered ${response.statusCode}, so every pull would fail with 502. Fix: check the robot account's name and password at the registry`,
    };
  } catch (error) {
    return { status: 'FAIL', detail: `${origin} refuses backend.auth (${username}): ${(error as Error).message}. Fix: check the robot account at the registry and its token service` };
  } finally {
    await client.close();
  }
}
