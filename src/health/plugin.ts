/**
 * `GET /healthz`: the process is up. `GET /readyz`: the gateway can serve — the database answers
 * with its schema current, and the backend registry answers `/v2/`. The management server is
 * reported but never makes the gateway unready: pulls go on while Katello is down.
 * Both are what deploy/ probes (systemd, Kubernetes).
 */
import type { FastifyPluginAsync } from 'fastify';
import { sql, type Kysely } from 'kysely';
import type { BackendClient } from '../backend/client.js';
import type { Database } from '../store/schema.js';
import type { UpstreamClient } from '../upstream/katello-client.js';

export interface HealthDependencies {
  readonly db: Kysely<Database>;
  readonly schemaCurrent: () => Promise<boolean>;
  readonly backend: BackendClient;
  readonly upstream: UpstreamClient;
  readonly upstreamConfigured: boolean;
}

type Check = { ok: boolean; detail: string };

const PROBE_TIMEOUT_MS = 2_000;

const healthPlugin: FastifyPluginAsync<HealthDependencies> = async (app, deps) => {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    const [database, backend, upstream] = await Promise.all([checkDatabase(deps), checkBackend(deps.backend), checkUpstream(deps)]);
    const ready = database.ok && backend.ok;
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks: { database, backend, upstream } });
  });
};

async function checkDatabase(deps: HealthDependencies): Promise<Check> {
  try {
    await sql`SELECT 1`.execute(deps.db);
    return (await deps.schemaCurrent()) ? { ok: true, detail: 'reachable, schema current' } : { ok: false, detail: 'migrations pending' };
  } catch (error) {
    return { ok: false, detail: `unreachable: ${(error as Error).message}` };
  }
}

async function checkBackend(backend: BackendClient): Promise<Check> {
  try {
    const response = await backend.send({ method: 'GET', url: backend.location.urlOf('/v2/'), headers: {}, signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    await response.body.dump();
    const ok = response.statusCode === 200 || response.statusCode === 401;
    return { ok, detail: `answered /v2/ with ${response.statusCode}` };
  } catch (error) {
    return { ok: false, detail: (error as Error).message };
  }
}

async function checkUpstream(deps: HealthDependencies): Promise<Check & { affectsReadiness: false }> {
  if (!deps.upstreamConfigured) return { ok: false, detail: 'not configured', affectsReadiness: false };
  const reachable = await deps.upstream.ping(PROBE_TIMEOUT_MS);
  return { ok: reachable.ok, detail: reachable.detail, affectsReadiness: false };
}

export default healthPlugin;
