/**
 * A tiny HTTP server whose every answer the test scripts: for the failure modes a real registry
 * will not produce on demand (hangs, resets, 500s, refusing the gateway). Loopback only.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Script = (request: IncomingMessage, response: ServerResponse) => void;

export interface ScriptedBackend {
  readonly url: string;
  readonly requests: Array<{ method: string; url: string; headers: IncomingMessage['headers'] }>;
  script: Script;
  close(): Promise<void>;
}

export async function startScriptedBackend(initial: Script): Promise<ScriptedBackend> {
  const requests: ScriptedBackend['requests'] = [];
  const backend: ScriptedBackend = {
    url: '',
    requests,
    script: initial,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = createServer((request, response) => {
    requests.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers });
    backend.script(request, response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  (backend as { url: string }).url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return backend;
}
