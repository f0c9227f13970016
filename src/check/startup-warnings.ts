/**
 * startupWarnings: what `serve` says once at start about a configuration that cannot work as
 * meant — the configuration findings, and a backend (or management server) that does not serve
 * the gateway right now. The gateway starts anyway: the backend may come up later, and a
 * public-only gateway is a valid choice; these are plain sentences for whoever reads the log.
 */
import type { GatewayConfig } from '../config/compiled.js';
import { probeBackend } from './backend-probe.js';
import { configurationFindings } from './configuration-findings.js';
import { probeUpstream } from './upstream-probe.js';

export async function startupWarnings(config: GatewayConfig): Promise<string[]> {
  const warnings = configurationFindings(config).map((finding) => finding.text);
  const upstreamUrl = config.upstream.url;
  const [backend, upstream] = await Promise.all([
    probeBackend(config.backend),
    // Hosts are looked up there whatever the login providers are.
    upstreamUrl !== null ? probeUpstream({ ...config.upstream, url: upstreamUrl }) : undefined,
  ]);
  if (backend.status !== 'ok') warnings.push(`backend at start: ${backend.detail}`);
  if (upstream !== undefined && upstream.status !== 'ok') warnings.push(`management server at start: ${upstream.detail}`);
  return warnings;
}
