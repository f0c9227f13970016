/** Builds a validated GatewayConfig for tests from CG_* style settings, failing loudly on problems. */
import type { GatewayConfig } from '../../src/config/compiled.js';
import { loadConfig } from '../../src/config/load.js';

export function testConfig(env: Record<string, string> = {}): GatewayConfig {
  const result = loadConfig({ env: { CG_SERVER_LISTEN: '127.0.0.1:0', CG_LOG_LEVEL: 'silent', CG_CONFIG: '/dev/null', ...env } });
  if (!result.ok) throw new Error(`test config invalid:\n${result.problems.join('\n')}`);
  return result.config;
}
