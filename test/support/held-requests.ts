/**
 * Helpers for tests that arrange requests to be in flight together, without timing: a gate the
 * recording proxy holds backend answers behind, a wait for a condition, and a client that walks
 * away whose leaving the gateway is known to have seen.
 */
import http from 'node:http';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/** A promise to hold requests behind, opened by the test when it is ready. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** Waits until `condition` holds (checked every 10 ms, for at most 10 s); fails naming `what`. */
export async function until(what: string, condition: () => boolean | Promise<boolean>): Promise<void> {
  for (let attempt = 0; attempt < 1_000; attempt += 1) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`never happened: ${what}`);
}

/** The sockets a server has open, kept up to date (a closed one leaves after the server's own close handlers ran). */
export function openSockets(server: Server): Set<Socket> {
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => setImmediate(() => sockets.delete(socket)));
  });
  return sockets;
}

/**
 * A GET whose client walks away mid-request. `abandon` resolves once the server's side of the
 * connection is closed too (found by the client's port among `serverSockets`) and the server has
 * had a turn to react.
 */
export function abandonableGet(url: string, headers: Record<string, string>, serverSockets: Set<Socket>): { abandon: () => Promise<void> } {
  const request = http.get(url, { headers, agent: false });
  request.on('error', () => undefined);
  return {
    abandon: async () => {
      await until('the request was sent', () => request.socket?.localPort !== undefined);
      const port = request.socket?.localPort;
      request.destroy();
      await until('the server saw the client leave', () => [...serverSockets].every((socket) => socket.remotePort !== port || socket.destroyed));
      await new Promise((resolve) => setImmediate(resolve));
    },
  };
}
