/**
 * coalesceReads: a BackendClient whose shareable whole reads (`shared: true` — the client-facing
 * manifest, HEAD blob, tag-list and catalog reads) are coalesced: concurrent identical reads
 * (read-key.ts) make one backend call, answered to every caller. The access decision has been
 * made for each caller before it gets here, so a caller joins only a read it was itself allowed to
 * make. Reads the gateway makes to modify what it read (the referrers fallback index) are not
 * shared: they must see the backend after the gateway's own last write, not an answer already
 * on its way.
 */
import type { BackendClient, WholeResponse } from '../client.js';
import { InFlight } from './in-flight.js';
import { sharedReadKey } from './read-key.js';

export function coalesceReads(client: BackendClient, onJoined: () => void = () => undefined): BackendClient {
  const reads = new InFlight<WholeResponse>();
  return {
    location: client.location,
    ...(client.caches === undefined ? {} : { caches: client.caches }),
    fetchWhole(request) {
      if (request.shared !== true) return client.fetchWhole(request);
      const key = sharedReadKey(request.method, request.url, request.headers, request.maxBytes);
      return reads.run(key, request.cancelWhenClosed, (connection) => client.fetchWhole({ ...request, cancelWhenClosed: connection }), onJoined);
    },
    send: (request) => client.send(request),
    streamInto: (request, open) => client.streamInto(request, open),
    write: (request) => client.write(request),
    close: () => client.close(),
  };
}
