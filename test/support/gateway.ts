/**
 * startGateway: the real app, listening on a free loopback port, configured the way an operator
 * would (CG_* settings), with a SQLite file in a fresh temp dir. Helpers speak the management API
 * over HTTP exactly as Katello does.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { findFreePort } from '../integration/harness/registry.js';
import { httpRequest, type HttpResponse } from '../integration/harness/http-client.js';
import { MANAGEMENT_TOKEN, testConfig } from './config.js';

export { MANAGEMENT_TOKEN };

export interface RunningGateway {
  readonly url: string;
  readonly host: string;
  readonly app: FastifyInstance;
  readonly dataDir: string;
  management(method: 'GET' | 'PUT', path: string, body?: unknown): Promise<HttpResponse>;
  /** PUT /repository_list; fails the test unless the gateway accepted it. */
  publish(repositories: ReadonlyArray<{ name: string; authRequired?: boolean }>): Promise<void>;
  stop(): Promise<void>;
}

export interface GatewayOptions {
  readonly backendUrl: string;
  readonly upstreamUrl?: string;
  readonly env?: Record<string, string>;
  /** Reuse a data directory (restart tests). */
  readonly dataDir?: string;
  /** A PostgreSQL URL instead of the SQLite file in dataDir. */
  readonly databaseUrl?: string;
  /** Listen here (a port chosen beforehand, e.g. for a registry whose token realm is this gateway). */
  readonly port?: number;
}

export async function startGateway(options: GatewayOptions): Promise<RunningGateway> {
  const port = options.port ?? (await findFreePort());
  const host = `127.0.0.1:${port}`;
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'cg-gateway-'));
  const config = testConfig({
    CG_SERVER_LISTEN: host,
    CG_DATABASE_URL: options.databaseUrl ?? `sqlite://${join(dataDir, 'gateway.db')}`,
    CG_BACKEND_URL: options.backendUrl,
    ...(options.upstreamUrl === undefined ? {} : { CG_UPSTREAM_URL: options.upstreamUrl }),
    ...options.env,
  });
  const app = await buildApp(config);
  await app.listen({ host: '127.0.0.1', port });
  const url = `http://${host}`;
  const management = (method: 'GET' | 'PUT', path: string, body?: unknown) =>
    httpRequest(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${MANAGEMENT_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  return {
    url,
    host,
    app,
    dataDir,
    management,
    async publish(repositories) {
      const response = await management('PUT', '/repository_list', {
        repositories: repositories.map((r) => ({ repository: r.name, auth_required: r.authRequired === true ? 'true' : 'false' })),
      });
      if (response.status !== 200) throw new Error(`repository_list refused: ${response.status} ${response.body.toString()}`);
    },
    async stop() {
      await app.close();
      if (options.dataDir === undefined) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
