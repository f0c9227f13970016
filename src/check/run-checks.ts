/**
 * runChecks: what `check` prints (zot's `verify`): the configuration as understood, and whether
 * each part it names would work for the gateway — not merely answer. Every line is `ok`, `warn`
 * or `FAIL`, and every warn or FAIL says what to do. Any FAIL means the gateway would not serve
 * as configured (exit 1); warnings leave it serving.
 *
 * `check` only looks: it creates no file or directory and changes no database (see
 * store/inspect-database.ts for how SQLite is read without its -wal and -shm files appearing).
 */
import type { GatewayConfig } from '../config/compiled.js';
import { X509Certificate } from 'node:crypto';
import { describeDatabaseUrl, sqliteFileOf } from '../store/connect.js';
import { migrationStateReadOnly } from '../store/inspect-database.js';
import { checkRobotRealm } from '../backend/credentials.js';
import { createKubernetesClient } from '../providers/kubernetes-client.js';
import { probeBackend } from './backend-probe.js';
import { configurationFindings } from './configuration-findings.js';
import { blobCacheProblem } from './deployment-problems.js';
import { DATABASE_SECRETS, inspectFilePlace } from './file-place.js';
import { probeUpstream } from './upstream-probe.js';

export interface CheckReport {
  readonly ok: boolean;
  readonly text: string;
}

export type Line = { status: 'ok' | 'warn' | 'FAIL'; what: string; detail: string };

export async function runChecks(config: GatewayConfig): Promise<CheckReport> {
  const lines: Line[] = [
    { status: 'ok', what: 'config', detail: `listen ${config.server.listen.host}:${config.server.listen.port}, public URL ${config.server.publicUrl.href}, backend mode ${config.backend.mode}, identity providers ${config.identity.providers.join(', ')}` },
  ];
  lines.push(...configurationFindings(config).map((finding): Line => ({ status: 'warn', what: finding.what, detail: finding.text })));
  lines.push(...checkCertificates(config));
  lines.push(await checkDatabase(config));
  const audit = checkAuditDestination(config);
  if (audit !== undefined) lines.push(audit);
  if (config.backend.blobCache !== undefined) {
    const problem = blobCacheProblem(config);
    lines.push(problem === undefined ? { status: 'ok', what: 'blob cache', detail: `${config.backend.blobCache.path}, up to ${config.backend.blobCache.maxBytes} bytes` } : { status: 'FAIL', what: 'blob cache', detail: problem });
  }
  lines.push({ what: 'backend', ...(await probeBackend(config.backend)) });
  if (config.backend.auth !== undefined) lines.push(await checkRobotRealm(config.backend));
  lines.push(await checkUpstream(config));
  if (config.identity.providers.includes('kubernetes')) lines.push(await checkKubernetes(config));
  const failures = lines.filter((line) => line.status === 'FAIL').length;
  const warnings = lines.filter((line) => line.status === 'warn').length;
  const verdict =
    failures > 0
      ? `the gateway would NOT serve as configured: ${failures} problem(s) above\n`
      : warnings > 0
        ? `the gateway would serve; read the ${warnings} warning(s) above\n`
        : 'all checks passed\n';
  const text = lines.map((line) => `${line.status.padEnd(4)} ${line.what.padEnd(10)} ${line.detail}\n`).join('') + verdict;
  return { ok: failures === 0, text };
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
    ['identity.kubernetes.tls.cert', config.identity.kubernetes.tls?.cert],
    ['identity.kubernetes.tls.ca', config.identity.kubernetes.tls?.ca],
    ...config.tokens.verifyCertificates.map((pem, index): [string, Buffer] => [`tokens.verifyCertificates.${index}`, pem]),
  ];
  const lines: Line[] = [];
  for (const [what, pem] of pems) {
    if (pem === undefined) continue;
    for (const text of pem.toString('utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []) {
      let certificate: X509Certificate;
      try {
        certificate = new X509Certificate(text);
      } catch (error) {
        lines.push({ status: 'FAIL', what: 'tls', detail: `${what}: a certificate block that does not parse (${(error as Error).message}). Fix: replace the file named by ${what}` });
        continue;
      }
      const validTo = new Date(certificate.validTo);
      const days = Math.floor((validTo.getTime() - now.getTime()) / 86_400_000);
      const subject = certificate.subject.replaceAll('\n', ', ');
      const detail = `${what}: ${subject}, valid until ${validTo.toISOString().slice(0, 10)}`;
      const fix = renewalAdvice(what);
      if (validTo < now || new Date(certificate.validFrom) > now) lines.push({ status: 'FAIL', what: 'tls', detail: `${detail} (not valid now). Fix: ${fix}` });
      else if (days < WARN_DAYS) lines.push({ status: 'warn', what: 'tls', detail: `${detail} (${days} days left). Fix: ${fix} before then` });
      else lines.push({ status: 'ok', what: 'tls', detail: `${detail} (${days} days left)` });
    }
  }
  return lines;
}

function renewalAdvice(setting: string): string {
  if (setting.startsWith('server.tls')) return `renew the certificate in ${setting} (SIGHUP makes a running gateway take it without a restart)`;
  if (setting.startsWith('tokens.')) return `drop ${setting} once no token it verifies can be live (tokens.lifetimeSeconds after its key stopped signing)`;
  return `replace the file named by ${setting} and restart the gateway`;
}

async function checkDatabase(config: GatewayConfig): Promise<Line> {
  const file = sqliteFileOf(config.database.url);
  const location = file === undefined ? `postgres ${describeDatabaseUrl(config.database.url)}` : `sqlite ${file}`;
  if (file === ':memory:') return { status: 'ok', what: 'database', detail: 'sqlite in memory: nothing is kept across restarts' };
  if (file !== undefined) {
    const place = inspectFilePlace(file, { extraFilesBeside: true, setting: 'database.url', secret: DATABASE_SECRETS });
    if (place.kind === 'blocked') return { status: 'FAIL', what: 'database', detail: `sqlite ${place.problem}. Fix: ${place.fix}` };
    if (place.kind === 'missing') {
      return { status: 'warn', what: 'database', detail: `sqlite ${place.file} does not exist yet: serve (or migrate) will create it, and any missing directory, under ${place.createdUnder}. If the data should be elsewhere, fix database.url` };
    }
  }
  try {
    const { pending, unknown } = await migrationStateReadOnly(config.database);
    if (unknown.length > 0) {
      return {
        status: 'FAIL',
        what: 'database',
        detail: `${location} was migrated by a newer version of the gateway (${unknown.join(', ')}); this one refuses to start on it. Fix: run that newer version, or restore the backup taken before the upgrade (docs/upgrade.md)`,
      };
    }
    return pending.length === 0
      ? { status: 'ok', what: 'database', detail: `${location}, schema up to date` }
      : { status: 'warn', what: 'database', detail: `${location}, ${pending.length} migration(s) pending: serve (or migrate) applies them at start` };
  } catch (error) {
    const fix = file === undefined ? 'check database.url, and that PostgreSQL runs there and accepts this user and password' : 'database.url must name the gateway\'s SQLite file';
    return { status: 'FAIL', what: 'database', detail: `${location}: ${describe(error)}. Fix: ${fix}` };
  }
}

/** A file destination must be writable, or creatable; serve would stop at it otherwise. */
function checkAuditDestination(config: GatewayConfig): Line | undefined {
  const destination = config.audit.destination;
  if (destination === 'stdout' || destination === 'off') return undefined;
  const place = inspectFilePlace(destination, { extraFilesBeside: false, setting: 'audit.destination' });
  switch (place.kind) {
    case 'blocked':
      return { status: 'FAIL', what: 'audit', detail: `${place.problem}. Fix: ${place.fix}` };
    case 'missing':
      return { status: 'ok', what: 'audit', detail: `${place.file} will be created at start` };
    case 'exists':
      return { status: 'ok', what: 'audit', detail: `appends to ${place.file}` };
  }
}

async function checkUpstream(config: GatewayConfig): Promise<Line> {
  const url = config.upstream.url;
  // Set, it is asked about hosts (client certificates) whatever the login providers are.
  if (url === null && !config.identity.providers.includes('katello')) return { status: 'ok', what: 'upstream', detail: `not used (identity.providers: ${config.identity.providers.join(', ')})` };
  if (url === null) return { status: 'warn', what: 'upstream', detail: 'not configured (upstream.url): Katello logins answer 503 "not configured". Fix: set upstream.url to the Katello/Foreman server' };
  return { what: 'upstream', ...(await probeUpstream({ ...config.upstream, url })) };
}

/** A TokenReview of a token nobody has: any answer proves the API server is there and takes our credential. */
async function checkKubernetes(config: GatewayConfig): Promise<Line> {
  const client = createKubernetesClient(config.identity.kubernetes);
  const origin = config.identity.kubernetes.apiServer?.origin ?? '(not configured)';
  try {
    await client.reviewToken('container-gateway-check');
    return { status: 'ok', what: 'kubernetes', detail: `${origin} answers TokenReview` };
  } catch (error) {
    return { status: 'FAIL', what: 'kubernetes', detail: `${origin}: ${describe(error)}. Fix: check identity.kubernetes.apiServer, its tls.ca, and the tokenFile's service account (it needs system:auth-delegator)` };
  } finally {
    await client.close();
  }
}

function describe(error: unknown): string {
  const cause = (error as { cause?: { reason?: string } }).cause;
  return cause?.reason ?? (error instanceof Error ? error.message : String(error));
}
