/**
 * Loopback ports for the demo's registry and gateway: a preferred one if it is free, else one the
 * kernel picks. (The tests take theirs from here too.)
 */
import net from 'node:net';

/** A free TCP port on 127.0.0.1: listen on `port` (0: any) and close again; undefined when it is taken. */
function tryPort(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(undefined));
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      const chosen = address !== null && typeof address === 'object' ? address.port : undefined;
      server.close(() => resolve(chosen));
    });
  });
}

export async function findFreePort(): Promise<number> {
  const port = await tryPort(0);
  if (port === undefined) throw new Error('could not find a free port on 127.0.0.1');
  return port;
}

/** `preferred` when nothing listens there, else any free port. */
export async function freePortPreferring(preferred: number): Promise<number> {
  return (await tryPort(preferred)) ?? findFreePort();
}
