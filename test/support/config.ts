/** Builds a validated GatewayConfig for tests from CG_* style settings, failing loudly on problems. */
import type { FastifyInstance } from 'fastify';
import type { GatewayConfig } from '../../src/config/compiled.js';
import { loadConfig } from '../../src/config/load.js';

export const MANAGEMENT_TOKEN = 'test-management-secret-0123456789abcdef';

export function testConfig(env: Record<string, string> = {}): GatewayConfig {
  const result = loadConfig({
    env: {
      CG_SERVER_LISTEN: '127.0.0.1:0',
      CG_LOG_LEVEL: 'silent',
      CG_CONFIG: '/dev/null',
      CG_DATABASE_URL: 'sqlite::memory:',
      CG_MANAGEMENT_TOKENS: MANAGEMENT_TOKEN,
      CG_AUDIT_DESTINATION: 'off',
      ...env,
    },
  });
  if (!result.ok) throw new Error(`test config invalid:\n${result.problems.join('\n')}`);
  return result.config;
}

/** PUT /repository_list through inject(), as Katello would; throws unless accepted. */
export async function publishRepositories(app: FastifyInstance, repositories: ReadonlyArray<{ name: string; authRequired?: boolean }>): Promise<void> {
  const response = await app.inject({
    method: 'PUT',
    url: '/repository_list',
    headers: { authorization: `Bearer ${MANAGEMENT_TOKEN}` },
    payload: { repositories: repositories.map((r) => ({ repository: r.name, auth_required: r.authRequired === true })) },
  });
  if (response.statusCode !== 200) throw new Error(`repository_list refused: ${response.statusCode} ${response.body}`);
}
