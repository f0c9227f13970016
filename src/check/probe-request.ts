/**
 * probeGet: one GET to a server the gateway asks (backend, management server), for `check` and
 * the warnings at start: the server's TLS settings, a short timeout, redirects not followed (a
 * redirect is itself a finding), the body read up to a bound. Errors keep their codes
 * (ECONNREFUSED, a certificate's) for describeNetworkFailure.
 */
import type { Readable } from 'node:stream';
import type { PeerTlsMaterial } from '../config/compiled.js';
import { createPeerPool } from '../upstream/peer-pool.js';

const PROBE_TIMEOUT_MS = 5_000;
const MAX_BODY_CHARS = 64 * 1024;

export interface ProbeAnswer {
  readonly statusCode: number;
  header(name: string): string | undefined;
  readonly body: string;
}

export async function probeGet(url: URL, tls: PeerTlsMaterial | undefined, headers: Record<string, string> = {}): Promise<ProbeAnswer> {
  // The same pool the gateway uses for such servers, so the probe meets the same TLS settings.
  const pool = createPeerPool(url.origin, { tls, timeoutMs: PROBE_TIMEOUT_MS, connections: 1 });
  try {
    const response = await pool.request({ method: 'GET', path: `${url.pathname}${url.search}`, headers });
    const body = await boundedText(response.body, MAX_BODY_CHARS);
    return {
      statusCode: response.statusCode,
      header(name) {
        const value = response.headers[name];
        return Array.isArray(value) ? value[0] : value;
      },
      body,
    };
  } finally {
    await pool.destroy();
  }
}

/** The start of a body, reading no further than `limit` bytes (a wrong URL may name something huge). */
async function boundedText(body: Readable, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of body) {
    chunks.push(chunk as Buffer);
    length += (chunk as Buffer).length;
    if (length >= limit) {
      body.destroy();
      break;
    }
  }
  return Buffer.concat(chunks).toString('utf8').slice(0, limit);
}
