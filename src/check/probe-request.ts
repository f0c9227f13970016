/**
 * probeGet: one GET to a server the gateway asks (backend, management server), for `check` and
 * the warnings at start: the server's TLS settings, a short timeout, redirects not followed (a
 * redirect is itself a finding), the body read up to a bound. Errors keep their codes
 * (ECONNREFUSED, a certificate's) for describeNetworkFailure.
 */
import { Agent, request } from 'undici';
import type { PeerTlsMaterial } from '../config/compiled.js';

const PROBE_TIMEOUT_MS = 5_000;
const MAX_BODY_CHARS = 64 * 1024;

export interface ProbeAnswer {
  readonly statusCode: number;
  header(name: string): string | undefined;
  readonly body: string;
}

export async function probeGet(url: URL, tls: PeerTlsMaterial | undefined, headers: Record<string, string> = {}): Promise<ProbeAnswer> {
  const agent = new Agent({
    headersTimeout: PROBE_TIMEOUT_MS,
    bodyTimeout: PROBE_TIMEOUT_MS,
    connect: { timeout: PROBE_TIMEOUT_MS, ...(tls?.ca === undefined ? {} : { ca: tls.ca }), ...(tls?.cert === undefined ? {} : { cert: tls.cert, key: tls.key }) },
  });
  try {
    const response = await request(url, { dispatcher: agent, headers });
    const body = (await response.body.text()).slice(0, MAX_BODY_CHARS);
    return {
      statusCode: response.statusCode,
      header(name) {
        const value = response.headers[name];
        return Array.isArray(value) ? value[0] : value;
      },
      body,
    };
  } finally {
    await agent.close();
  }
}
