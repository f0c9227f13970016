/**
 * runChecks: what `check` prints (zot's `verify`): the configuration as understood, and whether
 * each outside part answers. Every line is `ok`, `warn` or `FAIL`; any FAIL makes the exit non-zero.
 */
import type { GatewayConfig } from '../config/compiled.js';
import { X509Certificate } from 'node:crypto';
import type { Kysely } from 'kysely';
import { createBackendClient } from '../backend/client.js';
import { checkRobotRealm } from '../backend/credentials.js';
import { openDatabase } from '../store/connect.js';
import { pendingMigrations } from '../store/migrations.js';
import { createKatelloClient } from '../upstream/katello-client.js';
import { createKubernetesClient } from '../providers/kubernetes-client.js';

export interface CheckReport {
  readonly ok: boolean;
  readonly text: string;
}

export type Line = { status: 'ok' | 'warn' | 'FAIL'; what: string; detail: string };

export async function runChecks(config: GatewayConfig): Promise<CheckReport> {
  const lines: Line[] = [
    { status: 'ok', what: 'config', detail: `listen ${config.server.listen.host}:${config.server.listen.port}, public URL ${config.server.publicUrl.href}, backend mode ${config.backend.mode}` },
  ];
  lines.push(...checkCertificates(config));
  lines.push(await checkDatabase(config));
  lines.push(await checkBackend(config));
  if (config.backend.auth !== undefined) lines.push(await checkRobotRealm(config.backend));
  lines.push(await checkUpstream(config));
  if (config.identity.providers.includes('kubernetes')) lines.push(await checkKubernetes(config));
  const ok = lines.every((line) => line.status !== 'FAIL');
  const text = lines.map((line) => `${line.status.padEnd(4)} ${line.what.padEnd(9)} ${line.detail}\n`).join('') + (ok ? 'all checks passed\n' : 'some checks FAILED\n');
  return { ok, text };
}

const WARN_DAYS = 30;

/** Every configured certificate's expiry: FAIL when expired or not yet valid, warn under 30 days. */
export function checkCertificates(config: GatewayConfig, now: Date = new Date()): Line[] {
  const pems: Array<[string, Buffer | undefined]> = [
    ['server.tls.cert', config.server.tls?.cert],
    ['server.tls.clientCa', config.server.tls?.clientCa],
    ['server.proxyClientCa', config.server.proxyClientCa === config.server.tls?.clientCa ? undefined : config.server.proxyClientCa],
    ['backend.tls.cert', config.backend.tls?.cert],
    ['backend.tls.ca', config.backend.tls?.ca],
    ['upstream.tls.cert', config.upstream.tls?.cert],
    ['upstream.tls.ca', config.upstream.tls?.ca],
  ];
  const lines: Line[] = [];
  for (const [what, pem] of pems) {
    if (pem === undefined) continue;
    for (const certificate of (pem.toString('utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((text) => new X509Certificate(text))) {
      const validTo = new Date(certificate.validTo);
      const days = Math.floor((validTo.getTime() - now.getTime()) / 86_400_000);
      const subject = certificate.subject.replaceAll('\n', ', ');
      const detail = `${what}: ${subject}, valid until ${validTo.toISOString().slice(0, 10)}`;
      if (validTo < now || new Date(certificate.validFrom) > now) lines.push({ status: 'FAIL', what: 'tls', detail: `${detail} (not valid now)` });
      else if (days < WARN_DAYS) lines.push({ status: 'warn', what: 'tls', detail: `${detail} (${days} days left)` });
      else lines.push({ status: 'ok', what: 'tls', detail: `${detail} (${days} days left)` });
    }
  }
  return lines;
}

async function checkDatabase(config: GatewayConfig): Promise<Line> {
  try {
    const database = await openDatabase(config.database, { migrate: false });
    try {
      const pending = await pendingMigrations(database.db as Kysely<unknown>, database.dialect);
      return pending.length === 0
        ? { status: 'ok', what: 'database', detail: `${database.location}, schema up to date` }
        : { status: 'warn', what: 'database', detail: `${database.location}, ${pending.length} migration(s) pending (applied by serve or migrate)` };
    } finally {
      await database.close();
    }
  } catch (error) {
    return { status: 'FAIL', what: 'database', detail: describe(error) };
  }
}

async function checkBackend(config: GatewayConfig): Promise<Line> {
  const client = createBackendClient({ ...config.backend, timeouts: { ...config.backend.timeouts, headersMs: 5_000 } });
  try {
    const response = await client.send({ method: 'GET', url: client.location.urlOf('/v2/'), headers: {} });
    await response.body.dump();
    const version = response.headers['docker-distribution-api-version'];
    if (response.statusCode === 200 || response.statusCode === 401) {
      return { status: 'ok', what: 'backend', detail: `${config.backend.url.origin} answers /v2/ (${response.statusCode}, API version ${String(version ?? 'not stated')})` };
    }
    return { status: 'FAIL', what: 'backend', detail: `${config.backend.url.origin} answered /v2/ with HTTP ${response.statusCode}` };
  } catch (error) {
    return { status: 'FAIL', what: 'backend', detail: `${config.backend.url.origin} unreachable: ${describe(error)}` };
  } finally {
    await client.close();
  }
}

async function checkUpstream(config: GatewayConfig): Promise<Line> {
  if (!config.identity.providers.includes('katello')) return { status: 'ok', what: 'upstream', detail: `not used (identity.providers: ${config.identity.providers.join(', ')})` };
  if (config.upstream.url === null) return { status: 'warn', what: 'upstream', detail: 'not configured: user logins are refused' };
  const client = createKatelloClient(config.upstream);
  try {
    const reachable = await client.ping(5_000);
    return { status: reachable.ok ? 'ok' : 'FAIL', what: 'upstream', detail: `${config.upstream.url.origin} ${reachable.detail}` };
  } finally {
    await client.close();
  }
}

/** A TokenReview of a token nobody has: any answer proves the API server is there and takes our credential. */
async function checkKubernetes(config: GatewayConfig): Promise<Line> {
  const client = createKubernetesClient(config.identity.kubernetes);
  const origin = config.identity.kubernetes.apiServer?.origin ?? '(not configured)';
  try {
    await client.reviewToken('container-gateway-check');
    return { status: 'ok', what: 'kubernetes', detail: `${origin} answers TokenReview` };
  } catch (error) {
    return { status: 'FAIL', what: 'kubernetes', detail: `${origin}: ${describe(error)}` };
  } finally {
    await client.close();
  }
}

function describe(error: unknown): string {
  const cause = (error as { cause?: { reason?: string } }).cause;
  return cause?.reason ?? (error instanceof Error ? error.message : String(error));
}
