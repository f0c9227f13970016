/**
 * A keep-alive pool to a server the gateway asks questions of (Katello, a Kubernetes API
 * server): its CA and client certificate, and one timeout for connecting, headers and body, so
 * a dead server costs a bounded wait.
 */
import { Pool } from 'undici';
import type { PeerTlsMaterial } from '../config/compiled.js';

export function createPeerPool(origin: string, options: { tls: PeerTlsMaterial | undefined; timeoutMs: number; connections: number }): Pool {
  const { tls, timeoutMs } = options;
  return new Pool(origin, {
    connections: options.connections,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    connect: {
      timeout: timeoutMs,
      ...(tls?.ca === undefined ? {} : { ca: tls.ca }),
      ...(tls?.cert === undefined ? {} : { cert: tls.cert, key: tls.key }),
    },
  });
}
