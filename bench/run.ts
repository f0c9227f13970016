/**
 * bench/run.ts — `npm run bench [-- --quick]`: the gateway's cost as a ratio to the registry itself (issue 5).
 *
 * Starts a real docker-registry, the fake Katello and the gateway (built from the working tree, run as
 * `node dist/cli.js serve`, configured by CG_* variables only) on 127.0.0.1, seeds data, drives load with wrk
 * (or the node generator for HEAD), prints a table and writes <date>[-quick][-only-N-M].{json,md} to
 * bench/results/local/ (ignored by git, so a run leaves the tree clean), or to bench/results/ with --save.
 * Every process it starts is stopped again, also on error and on SIGINT/SIGTERM. See bench/README.md.
 *
 * Options: --quick, --no-build, --only 2,3,7 (scenario numbers), --duration S, --rounds N, --connections N,
 *          --threads N, --loadgen wrk|node, --blob-mib N, --out DIR, --save (keep the results in bench/results/),
 *          --profile (run each gateway under `node --cpu-prof`; .cpuprofile files go to <out>/profiles/)
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { startFakeKatello, type FakeKatello } from '../test/fake-katello/fake-katello.js';
import { writeImageLayout, type BuiltImage } from '../test/integration/harness/oci-layout.js';
import { startPulpLikeBackend } from '../test/integration/harness/pulp-like-backend.js';
import { startRegistry, type RunningRegistry } from '../test/integration/harness/registry.js';
import { pushLayout } from '../test/integration/harness/seed.js';
import { BENCH_USER, CATALOG_USER, JWT_ROBOT, REPOS, TAG, bigData, smallRepositoryList, smallUserMapping, type BigData } from './lib/data.js';
import {
  basicAuth,
  describeAnswer,
  header,
  login,
  managementPut,
  send,
  startGateway,
  type HttpAnswer,
  type RunningGateway,
} from './lib/gateway.js';
import { startInstantBackend } from './lib/instant-backend.js';
import { setWorkDir, wrkAvailable, type LoadTool, type PathSpread } from './lib/load.js';
import { fmt, measurePair, median, type LoadSettings, type PairResult, type Target } from './lib/measure.js';
import { cpuSecondsOf, installCleanupHooks, onCleanup, ownCpuSeconds, PeakRss, run, runCleanups } from './lib/proc.js';
import { check, consoleTable, writeReport, type Report, type Row } from './lib/report.js';

const MiB = 1024 * 1024;
const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

// ---------------------------------------------------------------------------------------------
// settings
// ---------------------------------------------------------------------------------------------

interface Args {
  quick: boolean;
  build: boolean;
  only: Set<number> | undefined;
  durationS: number | undefined;
  rounds: number | undefined;
  connections: number;
  threads: number;
  loadgen: LoadTool;
  blobMiB: number | undefined;
  outDir: string | undefined;
  save: boolean;
  profile: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = {
    quick: false,
    build: true,
    only: undefined,
    durationS: undefined,
    rounds: undefined,
    connections: 64,
    threads: 1,
    loadgen: 'wrk',
    blobMiB: undefined,
    outDir: undefined,
    save: false,
    profile: false,
  };
  const number = (flag: string, value: string | undefined): number => {
    const n = Number(value);
    if (value === undefined || !Number.isFinite(n) || n <= 0) throw new Error(`${flag} needs a positive number`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    switch (flag) {
      case '--quick':
        args.quick = true;
        break;
      case '--no-build':
        args.build = false;
        break;
      case '--only':
        args.only = new Set((argv[++i] ?? '').split(',').map((s) => number('--only', s.trim())));
        break;
      case '--duration':
        args.durationS = number(flag, argv[++i]);
        break;
      case '--rounds':
        args.rounds = number(flag, argv[++i]);
        break;
      case '--connections':
        args.connections = number(flag, argv[++i]);
        break;
      case '--threads':
        args.threads = number(flag, argv[++i]);
        break;
      case '--loadgen': {
        const value = argv[++i];
        if (value !== 'wrk' && value !== 'node') throw new Error('--loadgen is wrk or node');
        args.loadgen = value;
        break;
      }
      case '--blob-mib':
        args.blobMiB = number(flag, argv[++i]);
        break;
      case '--out':
        args.outDir = argv[++i];
        break;
      case '--save':
        args.save = true;
        break;
      case '--profile':
        args.profile = true;
        break;
      case '--help':
      case '-h':
        process.stdout.write(
          'npm run bench [-- --quick] [--no-build] [--only 2,3,7] [--duration S] [--rounds N]\n' +
            '              [--connections N] [--threads N] [--loadgen wrk|node] [--blob-mib N] [--out DIR] [--save] [--profile]\n',
        );
        process.exit(0);
        break;
      default:
        throw new Error(`unknown option ${String(flag)} (try --help)`);
    }
  }
  return args;
}

interface Settings {
  load: LoadSettings;
  blobBytes: number;
  blobDurationS: number;
  blobRounds: number;
  pullsDuringPutsS: number;
  pullsRounds: number;
  managementRepeats: number;
  catalogSamples: number;
}

function settingsFor(args: Args): Settings {
  const quick = args.quick;
  return {
    load: {
      durationS: args.durationS ?? (quick ? 2 : 5),
      warmupS: quick ? 1 : 2,
      rounds: args.rounds ?? (quick ? 1 : 3),
      connections: args.connections,
      threads: args.threads,
      timeoutS: 10,
      loadTool: args.loadgen,
    },
    blobBytes: (args.blobMiB ?? (quick ? 64 : 1024)) * MiB,
    blobDurationS: quick ? 3 : 10,
    blobRounds: quick ? 1 : 2,
    pullsDuringPutsS: quick ? 4 : 15,
    pullsRounds: quick ? 1 : 2,
    managementRepeats: quick ? 1 : 3,
    catalogSamples: quick ? 10 : 50,
  };
}

// ---------------------------------------------------------------------------------------------
// context and helpers
// ---------------------------------------------------------------------------------------------

interface Ctx {
  /** node options for every gateway started (the --profile switch). */
  gatewayNodeArgs: (name: string) => string[];
  args: Args;
  settings: Settings;
  repoRoot: string;
  workDir: string;
  registry: RunningRegistry;
  katello: FakeKatello;
  small: BuiltImage;
  big: BuiltImage | undefined;
  rows: Row[];
  problems: string[];
}

const log = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

const wants = (ctx: { args: Args }, scenario: number): boolean => ctx.args.only === undefined || ctx.args.only.has(scenario);

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

type Expect = Target['expect'];

const expectStatus =
  (...statuses: number[]): Expect =>
  (a) =>
    statuses.includes(a.status) ? undefined : `expected status ${statuses.join(' or ')}`;

const expectManifest =
  (digest: string): Expect =>
  (a) => {
    if (a.status !== 200) return 'expected 200 with the manifest';
    const served = header(a, 'docker-content-digest');
    if (served !== undefined && served !== digest) return `Docker-Content-Digest ${served}, expected ${digest}`;
    if (a.body.length > 0 && sha256(a.body) !== digest) return `body sha256 ${sha256(a.body)}, expected ${digest}`;
    return undefined;
  };

const expectBlobHead =
  (size: number): Expect =>
  (a) => {
    if (a.status !== 200) return 'expected 200';
    const length = header(a, 'content-length');
    return length === String(size) ? undefined : `Content-Length ${String(length)}, expected ${size}`;
  };

const expectRedirect: Expect = (a) =>
  [301, 302, 303, 307, 308].includes(a.status) && header(a, 'location') !== undefined ? undefined : 'expected a redirect with Location';

const expectToken: Expect = (a) => {
  if (a.status !== 200) return 'expected 200 with a token';
  try {
    const parsed = JSON.parse(a.body.toString('utf8')) as { token?: unknown };
    return typeof parsed.token === 'string' && !['unauthorized', 'unauthenticated'].includes(parsed.token)
      ? undefined
      : 'no usable token in the answer';
  } catch {
    return 'not JSON';
  }
};

function bearer(token: string | undefined): Record<string, string> {
  return token === undefined ? {} : { authorization: `Bearer ${token}` };
}

function registryTarget(ctx: Ctx, pathAndQuery: string, expect: Expect, extra: Partial<Target> = {}): Target {
  return {
    label: 'registry',
    url: `${ctx.registry.url}${pathAndQuery}`,
    cpu: () => cpuSecondsOf(ctx.registry.pid),
    expect,
    ...extra,
  };
}

function inProcessTarget(label: string, url: string, expect: Expect, extra: Partial<Target> = {}): Target {
  return { label, url, cpu: ownCpuSeconds, expect, ...extra };
}

function gatewayTarget(
  gateway: RunningGateway,
  pathAndQuery: string,
  expect: Expect,
  backend: { label: string; cpu: () => number },
  extra: Partial<Target> = {},
): Target {
  return {
    label: 'gateway',
    url: `${gateway.url}${pathAndQuery}`,
    cpu: () => cpuSecondsOf(gateway.pid),
    rssPid: gateway.pid,
    alsoCpu: backend,
    expect,
    ...extra,
  };
}

function pairRow(id: string, scenario: number, title: string, baselineLabel: string, result: PairResult, unit: 'req/s' | 'MB/s'): Row {
  const value = (s: PairResult['baseline']): number => (unit === 'MB/s' ? s.mbPerSec : s.reqPerSec);
  return {
    id,
    scenario,
    title,
    unit,
    baselineLabel,
    baselineValue: value(result.baseline),
    gatewayValue: value(result.gateway),
    ratio: value(result.gateway) / value(result.baseline),
    baseline: result.baseline,
    gateway: result.gateway,
    checks: [],
    notes: [],
  };
}

/** Why a measured pair cannot be judged, or undefined. */
function invalidity(result: PairResult, tokenMissing: boolean): string | undefined {
  if (tokenMissing) return 'measured without a token: login failed';
  const bad = result.gateway.errors + result.baseline.errors;
  if (bad > 0) return `${result.gateway.errors} gateway / ${result.baseline.errors} baseline errors`;
  return undefined;
}

function ratioCheck(row: Row, minRatio: number, baselineName: string, result: PairResult, tokenMissing: boolean): void {
  row.checks.push(
    check(
      `${row.unit} ≥ ${minRatio}× ${baselineName}`,
      (row.ratio ?? 0) >= minRatio,
      `${fmt(row.ratio, 2)}× (${fmt(row.gatewayValue, 0)} vs ${fmt(row.baselineValue, 0)} ${row.unit})`,
      invalidity(result, tokenMissing),
    ),
  );
}

/** Peak RSS per worker under pull load (blob and manifest scenarios; not the 100,000-repository pushes). */
const MAX_GATEWAY_RSS_MIB = 150;

function rssCheck(row: Row, result: PairResult, tokenMissing: boolean): void {
  const peak = result.gateway.peakRssMiB ?? Number.NaN;
  row.checks.push(check(`gateway peak RSS ≤ ${MAX_GATEWAY_RSS_MIB} MiB`, peak <= MAX_GATEWAY_RSS_MIB, `${fmt(peak, 0)} MiB`, invalidity(result, tokenMissing)));
}

async function variant(ctx: Ctx, id: string, scenario: number, title: string, body: () => Promise<Row | Row[]>): Promise<void> {
  log(`\n[${id}] ${title}`);
  try {
    const rows = await body();
    for (const row of Array.isArray(rows) ? rows : [rows]) ctx.rows.push(row);
  } catch (err) {
    const message = (err as Error).message;
    log(`  ERROR: ${message.split('\n')[0] ?? ''}`);
    ctx.rows.push({ id, scenario, title, unit: '-', checks: [], notes: [], error: message });
  }
}

/** Pushes the small repository list and bench-user's mapping, then logs bench-user in. */
async function prepareGateway(ctx: Ctx, gateway: RunningGateway): Promise<string | undefined> {
  for (const [pathName, body] of [
    ['/repository_list', smallRepositoryList()],
    ['/user_repository_mapping', smallUserMapping()],
  ] as const) {
    try {
      const answer = await managementPut(gateway, pathName, body);
      if (answer.status >= 300) ctx.problems.push(`${gateway.name}: PUT ${pathName} answered ${describeAnswer(answer)}`);
    } catch (err) {
      ctx.problems.push(`${gateway.name}: PUT ${pathName} failed: ${(err as Error).message}`);
    }
  }
  try {
    return await login(gateway, BENCH_USER.name, BENCH_USER.password, REPOS.private);
  } catch (err) {
    ctx.problems.push(`${gateway.name}: ${(err as Error).message}`);
    log(`  ! ${(err as Error).message} — scenarios that need a token run without one and are marked INVALID`);
    return undefined;
  }
}

async function sequentialLatency(
  url: string,
  headers: Record<string, string>,
  samples: number,
  cpu: () => number,
): Promise<{ p50: number; p99: number; mean: number; first: HttpAnswer; cpuSecPerRequest: number }> {
  const target = new URL(url);
  const pool = new Pool(target.origin, { connections: 1 });
  const times: number[] = [];
  let first: HttpAnswer | undefined;
  const cpuBefore = cpu();
  try {
    for (let i = 0; i < samples; i++) {
      const t0 = performance.now();
      const res = await pool.request({ path: `${target.pathname}${target.search}`, method: 'GET', headers, headersTimeout: 60_000, bodyTimeout: 60_000 });
      const body = Buffer.from(await res.body.arrayBuffer());
      const ms = performance.now() - t0;
      times.push(ms);
      if (first === undefined) first = { status: res.statusCode, headers: res.headers, body, ms };
      if (res.statusCode !== 200) break;
    }
  } finally {
    await pool.close();
  }
  const cpuUsed = cpu() - cpuBefore;
  const sorted = [...times].sort((a, b) => a - b);
  const at = (p: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
  if (first === undefined) throw new Error(`no answer from ${url}`);
  return {
    p50: median(times),
    p99: at(99),
    mean: times.reduce((a, b) => a + b, 0) / Math.max(1, times.length),
    first,
    cpuSecPerRequest: cpuUsed / Math.max(1, times.length),
  };
}

// ---------------------------------------------------------------------------------------------
// scenarios on the proxy-mode gateway in front of the registry: 1-5, 8-10
// ---------------------------------------------------------------------------------------------

async function proxyGatewayScenarios(ctx: Ctx): Promise<void> {
  const { settings, registry, small } = ctx;
  log('\n== gateway in proxy mode in front of docker-registry');
  const gateway = await startGateway({
    name: 'proxy',
    nodeArgs: ctx.gatewayNodeArgs('proxy'),
    repoRoot: ctx.repoRoot,
    backendUrl: registry.url,
    backendMode: 'proxy',
    upstreamUrl: ctx.katello.url,
  });
  try {
    const token = await prepareGateway(ctx, gateway);
    const noToken = token === undefined;
    const registryCpu = { label: 'registry', cpu: () => cpuSecondsOf(registry.pid) };
    const accept = { accept: MANIFEST_ACCEPT };
    const layer = small.layers[0];
    if (layer === undefined) throw new Error('the small image has no layer');

    if (wants(ctx, 1)) {
      await variant(ctx, '1', 1, 'GET /v2/ with a valid token', async () => {
        const result = await measurePair(
          registryTarget(ctx, '/v2/', expectStatus(200)),
          gatewayTarget(gateway, '/v2/', expectStatus(200), registryCpu, { headers: bearer(token) }),
          settings.load,
          log,
        );
        const row = pairRow('1', 1, 'GET /v2/ with a valid token', 'registry GET /v2/', result, 'req/s');
        const why = invalidity(result, noToken);
        if (why !== undefined) row.notes.push(why);
        return row;
      });
    }

    if (wants(ctx, 2)) {
      await variant(ctx, '2', 2, 'anonymous GET public manifest by tag', async () => {
        const p = `/v2/${REPOS.public}/manifests/${TAG}`;
        const result = await measurePair(
          registryTarget(ctx, p, expectManifest(small.manifest.digest), { headers: accept }),
          gatewayTarget(gateway, p, expectManifest(small.manifest.digest), registryCpu, { headers: accept }),
          settings.load,
          log,
        );
        const row = pairRow('2', 2, 'anonymous GET public manifest by tag', 'registry, same GET', result, 'req/s');
        ratioCheck(row, 0.85, 'registry', result, false);
        rssCheck(row, result, false);
        return row;
      });
    }

    if (wants(ctx, 3)) {
      for (const [suffix, reference, minRatio] of [
        ['tag', TAG, 0.85],
        ['digest', small.manifest.digest, 1.5],
      ] as const) {
        const id = `3-${suffix}`;
        const title = `GET private manifest by ${suffix} with a token`;
        await variant(ctx, id, 3, title, async () => {
          const p = `/v2/${REPOS.private}/manifests/${reference}`;
          const result = await measurePair(
            registryTarget(ctx, p, expectManifest(small.manifest.digest), { headers: accept }),
            gatewayTarget(gateway, p, expectManifest(small.manifest.digest), registryCpu, { headers: { ...accept, ...bearer(token) } }),
            settings.load,
            log,
          );
          const row = pairRow(id, 3, title, 'registry, same GET', result, 'req/s');
          ratioCheck(row, minRatio, 'registry', result, noToken);
          rssCheck(row, result, noToken);
          return row;
        });
      }
    }

    if (wants(ctx, 11)) {
      // A CI farm starting on one tag: 32 clients asking for the same manifest at once.
      for (const [suffix, repository, credential] of [
        ['public', REPOS.public, false],
        ['private', REPOS.private, true],
      ] as const) {
        const id = `11-${suffix}`;
        const title = `same-tag herd: ${suffix} manifest by tag, 32 clients, one tag`;
        await variant(ctx, id, 11, title, async () => {
          const p = `/v2/${repository}/manifests/${TAG}`;
          const herd: LoadSettings = { ...settings.load, connections: 32 };
          const result = await measurePair(
            registryTarget(ctx, p, expectManifest(small.manifest.digest), { headers: accept }),
            gatewayTarget(gateway, p, expectManifest(small.manifest.digest), registryCpu, { headers: { ...accept, ...(credential ? bearer(token) : {}) } }),
            herd,
            log,
          );
          const row = pairRow(id, 11, title, 'registry, same GET, 32 connections', result, 'req/s');
          ratioCheck(row, 1.2, 'registry', result, credential && noToken);
          rssCheck(row, result, credential && noToken);
          return row;
        });
      }
    }

    if (wants(ctx, 4)) {
      await variant(ctx, '4', 4, 'HEAD blob with a token', async () => {
        const p = `/v2/${REPOS.private}/blobs/${layer.digest}`;
        const result = await measurePair(
          registryTarget(ctx, p, expectBlobHead(layer.size), { method: 'HEAD' }),
          gatewayTarget(gateway, p, expectBlobHead(layer.size), registryCpu, { method: 'HEAD', headers: bearer(token) }),
          settings.load,
          log,
        );
        const row = pairRow('4', 4, 'HEAD blob with a token', 'registry, same HEAD', result, 'req/s');
        row.notes.push('HEAD is driven by the node generator (wrk 4.1 cannot complete HEAD responses), for both sides');
        ratioCheck(row, 1.0, 'registry', result, noToken);
        rssCheck(row, result, noToken);
        return row;
      });
    }

    if (wants(ctx, 5) && ctx.big !== undefined) {
      const big = ctx.big;
      const bigLayer = big.layers[0];
      if (bigLayer === undefined) throw new Error('the big image has no layer');
      const sizeLabel = bigLayer.size >= 1024 * MiB ? `${fmt(bigLayer.size / (1024 * MiB), 1)} GiB` : `${fmt(bigLayer.size / MiB, 0)} MiB`;
      for (const streams of [1, 4]) {
        const id = `5-${streams}x`;
        const title = `${sizeLabel} blob download in proxy mode, ${streams} stream${streams > 1 ? 's' : ''}`;
        await variant(ctx, id, 5, title, async () => {
          const p = `/v2/${REPOS.big}/blobs/${bigLayer.digest}`;
          const blobSettings: LoadSettings = {
            ...settings.load,
            connections: streams,
            threads: 1,
            durationS: settings.blobDurationS,
            rounds: settings.blobRounds,
            warmupS: 0,
            timeoutS: 600,
          };
          const result = await measurePair(
            registryTarget(ctx, p, expectBlobHead(bigLayer.size), { probe: { method: 'HEAD' } }),
            gatewayTarget(gateway, p, expectBlobHead(bigLayer.size), registryCpu, { headers: bearer(token), probe: { method: 'HEAD' } }),
            blobSettings,
            log,
          );
          const row = pairRow(id, 5, title, 'registry, same GET', result, 'MB/s');
          row.metrics = { blobBytes: bigLayer.size, streams };
          const why = invalidity(result, noToken);
          ratioCheck(row, 0.6, 'registry', result, noToken);
          rssCheck(row, result, noToken);
          const growth = result.gateway.rssGrowthMiB ?? Number.NaN;
          row.checks.push(
            check(
              'gateway RSS flat while streaming (growth ≤ 48 MiB)',
              growth <= 48,
              `peak ${fmt(result.gateway.peakRssMiB, 0)} MiB, growth ${fmt(growth, 1)} MiB`,
              why,
            ),
          );
          return row;
        });
      }
    }

    if (wants(ctx, 8)) {
      await variant(ctx, '8', 8, 'GET /v2/token login (upstream fake answering instantly)', async () => {
        const scope = encodeURIComponent(`repository:${REPOS.private}:pull`);
        const service = encodeURIComponent(new URL(gateway.url).host);
        const basic = { authorization: basicAuth(BENCH_USER.name, BENCH_USER.password) };
        let upstreamCalls = 0;
        let gatewayLogins = 0;
        const result = await measurePair(
          inProcessTarget('fake Katello', `${ctx.katello.url}/v2/token?account=${BENCH_USER.name}&scope=${scope}`, expectToken, {
            headers: basic,
            afterRun: () => ctx.katello.resetCounts(),
          }),
          gatewayTarget(gateway, `/v2/token?service=${service}&scope=${scope}`, expectToken, { label: 'bench process (fake Katello)', cpu: ownCpuSeconds }, {
            headers: basic,
            beforeRun: () => ctx.katello.resetCounts(),
            afterRun: (r) => {
              upstreamCalls += ctx.katello.calls.token + ctx.katello.calls.catalog + ctx.katello.calls.hostCatalog;
              gatewayLogins += r.requests;
              ctx.katello.resetCounts();
            },
          }),
          settings.load,
          log,
        );
        const row = pairRow('8', 8, 'GET /v2/token login (Basic; fake Katello answers instantly)', 'fake Katello GET /v2/token directly', result, 'req/s');
        row.metrics = { upstreamCallsPerLogin: gatewayLogins > 0 ? upstreamCalls / gatewayLogins : Number.NaN };
        row.notes.push(`upstream (fake Katello) calls per gateway login: ${fmt(upstreamCalls / Math.max(1, gatewayLogins), 2)} (issue 3 expects 2: token + _catalog)`);
        row.checks.push(
          check(
            '≥ 2,000 logins/s, none failed',
            result.gateway.reqPerSec >= 2_000 && result.gateway.errors === 0,
            `${fmt(result.gateway.reqPerSec, 0)} logins/s, ${result.gateway.errors} failed, ${fmt(result.gateway.cpuSecPerKReq * 1000, 0)} µs gateway CPU each`,
          ),
        );
        rssCheck(row, result, false);
        return row;
      });
    }

    if (wants(ctx, 9) || wants(ctx, 10)) await bigDataScenarios(ctx, gateway, token);
  } finally {
    await gateway.stop();
  }
}

async function bigDataScenarios(ctx: Ctx, gateway: RunningGateway, benchToken: string | undefined): Promise<void> {
  const { settings } = ctx;
  log('\n== 100,000 repositories, 10,000 users × 20 repositories');
  const data: BigData = bigData();
  ctx.katello.setUser(CATALOG_USER.name, CATALOG_USER.password, data.catalogUserRepositories);
  const mb = (s: string): string => fmt(Buffer.byteLength(s) / 1e6, 1);

  const timedPut = async (pathName: string, body: string): Promise<number> => {
    const cpuBefore = cpuSecondsOf(gateway.pid);
    const answer = await managementPut(gateway, pathName, body, 300_000);
    if (answer.status >= 300) throw new Error(`PUT ${pathName} answered ${describeAnswer(answer)}`);
    log(`    PUT ${pathName}: ${fmt(answer.ms / 1000, 2)} s (gateway CPU ${fmt(cpuSecondsOf(gateway.pid) - cpuBefore, 2)} s)`);
    return answer.ms / 1000;
  };

  let pushed = false;
  const putRow = async (id: string, title: string, pathName: string, body: string, limitS: number): Promise<void> => {
    await variant(ctx, id, 10, title, async () => {
      const times: number[] = [];
      for (let i = 0; i < settings.managementRepeats; i++) times.push(await timedPut(pathName, body));
      const med = median(times);
      return {
        id,
        scenario: 10,
        title,
        unit: 's',
        gatewayValue: med,
        metrics: { bodyMB: Number(mb(body)), repeats: times.length, maxSeconds: Math.max(...times) },
        checks: [check(`≤ ${limitS} s`, med <= limitS, `${fmt(med, 2)} s median of ${times.length} (max ${fmt(Math.max(...times), 2)} s)`)],
        notes: [],
      };
    });
  };
  await putRow('10-repos', 'PUT /repository_list with 100,000 repositories', '/repository_list', data.repositoryListBody, 2);
  await putRow('10-users', 'PUT /user_repository_mapping, 10,000 users × 20 repositories', '/user_repository_mapping', data.userMappingBody, 10);
  pushed = true;

  if (wants(ctx, 9)) {
    await variant(ctx, '9', 9, 'GET /v2/_catalog for a user who sees 10,000 of 100,000 repositories', async () => {
      const t0 = performance.now();
      const token = await login(gateway, CATALOG_USER.name, CATALOG_USER.password, data.catalogUserRepositories[0] ?? REPOS.private);
      const loginMs = performance.now() - t0;
      const n = data.catalogUserRepositories.length;
      const gw = await sequentialLatency(`${gateway.url}/v2/_catalog?n=${n}`, bearer(token), settings.catalogSamples, () => cpuSecondsOf(gateway.pid));
      if (gw.first.status !== 200) throw new Error(`gateway _catalog answered ${describeAnswer(gw.first)}`);
      const names = (JSON.parse(gw.first.body.toString('utf8')) as { repositories?: string[] }).repositories ?? [];
      const base = await sequentialLatency(
        `${ctx.katello.url}/v2/_catalog`,
        { authorization: basicAuth(CATALOG_USER.name, CATALOG_USER.password) },
        settings.catalogSamples,
        ownCpuSeconds,
      );
      const row: Row = {
        id: '9',
        scenario: 9,
        title: 'GET /v2/_catalog, user sees 10,000 of 100,000 (p50 latency)',
        unit: 'ms',
        baselineLabel: 'fake Katello _catalog for the same user (10,000 names from memory)',
        baselineValue: base.p50,
        gatewayValue: gw.p50,
        ratio: gw.p50 / base.p50,
        metrics: {
          namesReturned: names.length,
          linkHeader: header(gw.first, 'link') ?? '(none)',
          gatewayP99Ms: gw.p99,
          gatewayMeanMs: gw.mean,
          gatewayCpuMsPerRequest: gw.cpuSecPerRequest * 1000,
          gatewayFirstRequestMs: gw.first.ms,
          bodyBytes: gw.first.body.length,
          catalogUserLoginMs: loginMs,
          samples: settings.catalogSamples,
        },
        checks: [],
        notes: [],
      };
      const complete = names.length === n;
      if (!complete) row.notes.push(`asked for n=${n}, got ${names.length} names (Link: ${header(gw.first, 'link') ?? 'none'})`);
      row.checks.push(
        check('p50 ≤ 50 ms', gw.p50 <= 50, `p50 ${fmt(gw.p50, 1)} ms, p99 ${fmt(gw.p99, 1)} ms, first ${fmt(gw.first.ms, 0)} ms, ${names.length} names`, complete ? undefined : 'incomplete list'),
      );
      log(`    catalog: gateway p50 ${fmt(gw.p50, 1)} ms p99 ${fmt(gw.p99, 1)} ms (${names.length} names), fake Katello p50 ${fmt(base.p50, 1)} ms; catalog-user login ${fmt(loginMs, 0)} ms`);
      return row;
    });
  }

  if (wants(ctx, 10) && pushed) {
    await variant(ctx, '10-pulls', 10, 'pulls/s while the big PUTs run every second', async () => {
      const p = `/v2/${REPOS.private}/manifests/${TAG}`;
      const headers = { accept: MANIFEST_ACCEPT, ...bearer(benchToken) };
      const load: LoadSettings = { ...settings.load, durationS: settings.pullsDuringPutsS, rounds: settings.pullsRounds, warmupS: 0 };
      const registryCpu = { label: 'registry', cpu: () => cpuSecondsOf(ctx.registry.pid) };
      let putLoop: { stop: () => Promise<void> } | undefined;
      const puts = { done: 0, failed: 0, seconds: [] as number[], errors: [] as string[] };
      const startPutLoop = (): { stop: () => Promise<void> } => {
        let stopped = false;
        let inFlight: Promise<void> = Promise.resolve();
        let busy = false;
        let next = 0;
        const bodies: Array<[string, string]> = [
          ['/repository_list', data.repositoryListBody],
          ['/user_repository_mapping', data.userMappingBody],
        ];
        const tick = (): void => {
          if (stopped || busy) return;
          busy = true;
          const [pathName, body] = bodies[next++ % bodies.length] ?? ['/repository_list', data.repositoryListBody];
          inFlight = managementPut(gateway, pathName, body, 300_000)
            .then((answer) => {
              if (answer.status >= 300) {
                puts.failed++;
                puts.errors.push(`${pathName}: ${describeAnswer(answer)}`);
              } else {
                puts.done++;
                puts.seconds.push(answer.ms / 1000);
              }
            })
            .catch((err: unknown) => {
              puts.failed++;
              puts.errors.push(`${pathName}: ${(err as Error).message}`);
            })
            .finally(() => {
              busy = false;
            });
        };
        tick();
        const timer = setInterval(tick, 1000);
        return {
          stop: async () => {
            stopped = true;
            clearInterval(timer);
            await inFlight;
          },
        };
      };
      const result = await measurePair(
        gatewayTarget(gateway, p, expectManifest(ctx.small.manifest.digest), registryCpu, { label: 'gateway, no PUTs', headers }),
        gatewayTarget(gateway, p, expectManifest(ctx.small.manifest.digest), registryCpu, {
          label: 'gateway, PUTs/1 s',
          headers,
          beforeRun: () => {
            putLoop = startPutLoop();
          },
          afterRun: async () => {
            await putLoop?.stop();
            putLoop = undefined;
          },
        }),
        load,
        log,
      );
      await putLoop?.stop();
      const row = pairRow('10-pulls', 10, 'pulls/s while the big PUTs run every second', 'same gateway, same pulls, no PUTs running', result, 'req/s');
      const failedPulls = result.gateway.errors;
      row.metrics = {
        putsCompleted: puts.done,
        putsFailed: puts.failed,
        putSecondsMedian: median(puts.seconds),
        putSecondsMax: puts.seconds.length > 0 ? Math.max(...puts.seconds) : Number.NaN,
        failedPulls,
      };
      for (const e of puts.errors.slice(0, 5)) row.notes.push(`PUT failed: ${e}`);
      row.checks.push(
        check(
          'no failed pull while PUTs run',
          failedPulls === 0 && puts.done > 0,
          `${failedPulls} failed of ${result.gateway.requests} pulls (p99 ${fmt(result.gateway.p99Ms, 0)} ms); ${puts.done} PUTs done, ${puts.failed} failed`,
          benchToken === undefined ? 'measured without a token: login failed' : undefined,
        ),
      );
      return row;
    });
  }
}

// ---------------------------------------------------------------------------------------------
// scenario 6: redirect mode against a Pulp-like backend
// ---------------------------------------------------------------------------------------------

async function redirectScenarios(ctx: Ctx): Promise<void> {
  log('\n== gateway in redirect mode in front of a Pulp-like backend');
  const pulp = await startPulpLikeBackend(ctx.registry.url);
  onCleanup('pulp-like backend', () => pulp.stop());
  const gateway = await startGateway({
    name: 'redirect',
    nodeArgs: ctx.gatewayNodeArgs('redirect'),
    repoRoot: ctx.repoRoot,
    backendUrl: pulp.url,
    backendMode: 'redirect',
    upstreamUrl: ctx.katello.url,
  });
  try {
    const token = await prepareGateway(ctx, gateway);
    const layer = ctx.small.layers[0];
    if (layer === undefined) throw new Error('the small image has no layer');
    const backendCpu = { label: 'bench process (Pulp-like)', cpu: ownCpuSeconds };
    for (const [suffix, p] of [
      ['manifest', `/v2/${REPOS.private}/manifests/${TAG}`],
      ['blob', `/v2/${REPOS.private}/blobs/${layer.digest}`],
    ] as const) {
      const id = `6-${suffix}`;
      const title = `redirect mode: GET private ${suffix} with a token → 302`;
      await variant(ctx, id, 6, title, async () => {
        const result = await measurePair(
          inProcessTarget('Pulp-like backend', `${pulp.url}${p}`, expectRedirect, { headers: { accept: MANIFEST_ACCEPT } }),
          gatewayTarget(gateway, p, expectRedirect, backendCpu, { headers: { accept: MANIFEST_ACCEPT, ...bearer(token) } }),
          ctx.settings.load,
          log,
        );
        pulp.resetCounts();
        const row = pairRow(id, 6, title, 'Pulp-like backend, same GET (302 to its content app)', result, 'req/s');
        ratioCheck(row, 0.85, 'Pulp-like backend', result, token === undefined);
        rssCheck(row, result, token === undefined);
        return row;
      });
    }
  } finally {
    await gateway.stop();
    await pulp.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// scenario 7: the gateway's own ceiling against an instant in-memory backend
// ---------------------------------------------------------------------------------------------

async function ceilingScenarios(ctx: Ctx): Promise<void> {
  log('\n== gateway in proxy mode in front of an instant in-memory backend');
  const layer = ctx.small.layers[0];
  if (layer === undefined) throw new Error('the small image has no layer');
  const instant = await startInstantBackend({
    manifest: ctx.small.manifest.bytes,
    manifestMediaType: ctx.small.manifest.mediaType,
    manifestDigest: ctx.small.manifest.digest,
    tag: TAG,
    blob: await readFile(layer.path),
    blobDigest: layer.digest,
  });
  onCleanup('instant backend', () => instant.stop());
  const gateway = await startGateway({
    name: 'ceiling',
    nodeArgs: ctx.gatewayNodeArgs('ceiling'),
    repoRoot: ctx.repoRoot,
    backendUrl: instant.url,
    backendMode: 'proxy',
    upstreamUrl: ctx.katello.url,
    // A static robot too, whose pulls carry a gateway-signed JWT (issue 7) instead of Katello's token.
    extraEnv: {
      CG_IDENTITY_PROVIDERS: 'katello,static',
      CG_IDENTITY_STATIC_ROBOTS: `[{username: ${JWT_ROBOT.name}, password: ${JWT_ROBOT.password}}]`,
      CG_IDENTITY_STATIC_RULES: `[{subjects: [${JWT_ROBOT.name}], repositories: ["${REPOS.private}"], actions: [pull]}]`,
    },
  });
  try {
    const token = await prepareGateway(ctx, gateway);
    let jwt: string | undefined;
    try {
      jwt = await login(gateway, JWT_ROBOT.name, JWT_ROBOT.password, REPOS.private);
    } catch (err) {
      ctx.problems.push(`${gateway.name}: robot login failed: ${(err as Error).message}`);
    }
    const backendCpu = { label: 'bench process (instant backend)', cpu: ownCpuSeconds };
    const digest = ctx.small.manifest.digest;
    // Every other variant asks for one URL from 64 connections, which the gateway coalesces; the
    // spread one asks for 100,000 different tags, so that nearly every request is its own backend call.
    const spread: PathSpread = { template: `/v2/${REPOS.private}/manifests/t%d`, count: 100_000 };
    for (const [suffix, title, p, credential, spreadOver] of [
      ['public-tag', 'anonymous public manifest by tag', `/v2/${REPOS.public}/manifests/${TAG}`, undefined, undefined],
      ['private-tag', 'private manifest by tag with a token', `/v2/${REPOS.private}/manifests/${TAG}`, 'katello', undefined],
      ['private-tags-spread', 'private manifest by tag with a token, 100,000 tags (nothing shared)', `/v2/${REPOS.private}/manifests/t1`, 'katello', spread],
      ['private-digest', 'private manifest by digest with a token', `/v2/${REPOS.private}/manifests/${digest}`, 'katello', undefined],
      ['jwt-tag', 'private manifest by tag with a gateway JWT (static robot)', `/v2/${REPOS.private}/manifests/${TAG}`, 'jwt', undefined],
    ] as const) {
      const auth = credential !== undefined;
      const presented = credential === 'jwt' ? jwt : token;
      const id = `7-${suffix}`;
      const fullTitle = `ceiling (instant backend): ${title}`;
      await variant(ctx, id, 7, fullTitle, async () => {
        const spreading = spreadOver === undefined ? {} : { spread: spreadOver };
        const result = await measurePair(
          inProcessTarget('instant backend', `${instant.url}${p}`, expectManifest(digest), { headers: { accept: MANIFEST_ACCEPT }, ...spreading }),
          gatewayTarget(gateway, p, expectManifest(digest), backendCpu, {
            headers: { accept: MANIFEST_ACCEPT, ...(auth ? bearer(presented) : {}) },
            ...spreading,
          }),
          ctx.settings.load,
          log,
        );
        const row = pairRow(id, 7, fullTitle, 'the instant backend directly', result, 'req/s');
        const why = invalidity(result, auth && presented === undefined);
        row.checks.push(check('≥ 20,000 req/s', result.gateway.reqPerSec >= 20_000, `${fmt(result.gateway.reqPerSec, 0)} req/s`, why));
        row.checks.push(
          check(
            '≤ 60 µs gateway CPU per authorized request (0.060 s/1k)',
            result.gateway.cpuSecPerKReq <= 0.06,
            `${fmt(result.gateway.cpuSecPerKReq * 1000, 0)} µs per request`,
            why,
          ),
        );
        rssCheck(row, result, auth && presented === undefined);
        return row;
      });
    }
  } finally {
    await gateway.stop();
    await instant.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// scenarios 12 and 13: proxy mode with the blob cache (backend.blobCache) in front of the registry
// ---------------------------------------------------------------------------------------------

interface Downloads {
  /** MB/s of each client, as curl measured its own download. */
  perClient: number[];
  failures: string[];
  gatewayCpuSeconds?: number;
  peakRssMiB?: number;
}

/** `clients` curl downloads of `url` at once, each to /dev/null; curl reports its own rate. */
async function downloadAtOnce(url: string, clients: number, headers: Record<string, string>, expectedSize: number, pid?: number): Promise<Downloads> {
  const args = ['-s', '-o', '/dev/null', '-w', '%{http_code} %{size_download} %{speed_download}'];
  for (const [name, value] of Object.entries(headers)) args.push('-H', `${name}: ${value}`);
  const cpuBefore = pid === undefined ? undefined : cpuSecondsOf(pid);
  const peak = pid === undefined ? undefined : new PeakRss(pid);
  let answers: Array<{ stdout: string }>;
  let peakBytes: number | undefined;
  try {
    answers = await Promise.all(Array.from({ length: clients }, () => run('curl', [...args, url], { timeoutMs: 600_000 })));
  } finally {
    peakBytes = peak?.stop();
  }
  const perClient: number[] = [];
  const failures: string[] = [];
  for (const answer of answers) {
    const [status, size, speed] = answer.stdout.trim().split(' ');
    if (status !== '200' || Number(size) !== expectedSize) failures.push(`status ${String(status)}, ${String(size)} of ${expectedSize} bytes`);
    perClient.push(Number(speed) / 1e6);
  }
  return {
    perClient,
    failures,
    ...(pid === undefined || cpuBefore === undefined ? {} : { gatewayCpuSeconds: cpuSecondsOf(pid) - cpuBefore }),
    ...(peakBytes === undefined ? {} : { peakRssMiB: peakBytes / MiB }),
  };
}

/**
 * A fresh gateway warmed as the other scenarios' gateways are (their measurements follow warm-up
 * load): a few hundred manifest requests, then a pause. Its first backend calls compile undici's
 * HTTP parser (WebAssembly, tiered up in the background): a one-time 30-35 MiB of compiler memory
 * for ~50 ms that would otherwise land in the herd's peak RSS.
 */
async function warmUp(gateway: RunningGateway, path: string, headers: Record<string, string>): Promise<void> {
  const pool = new Pool(gateway.url, { connections: 4 });
  try {
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let i = 0; i < 100; i++) await (await pool.request({ path, method: 'GET', headers: { ...headers, accept: MANIFEST_ACCEPT } })).body.dump();
      }),
    );
  } finally {
    await pool.close();
  }
  await new Promise((resolve) => setTimeout(resolve, 1_000));
}

/** Calls the gateway made to the backend so far (cg_backend_requests_total, every outcome). */
async function backendRequestsOf(gateway: RunningGateway): Promise<number> {
  const text = (await send(`${gateway.url}/metrics`)).body.toString('utf8');
  let total = 0;
  for (const line of text.split('\n')) if (line.startsWith('cg_backend_requests_total{')) total += Number(line.split(' ').pop());
  return total;
}

async function blobCacheScenarios(ctx: Ctx): Promise<void> {
  const bigLayer = ctx.big?.layers[0];
  if (bigLayer === undefined) throw new Error('the big image was not pushed');
  log('\n== gateway in proxy mode with the blob cache (backend.blobCache), in front of docker-registry');
  const p = `/v2/${REPOS.big}/blobs/${bigLayer.digest}`;
  const rounds = ctx.settings.blobRounds;
  const cachingGateway = (name: string): Promise<RunningGateway> =>
    startGateway({
      name,
      nodeArgs: ctx.gatewayNodeArgs(name),
      repoRoot: ctx.repoRoot,
      backendUrl: ctx.registry.url,
      backendMode: 'proxy',
      upstreamUrl: ctx.katello.url,
      // Relative to the gateway's own temporary directory, which goes with it.
      extraEnv: { CG_BACKEND_BLOB_CACHE_PATH: 'blob-cache', CG_BACKEND_BLOB_CACHE_MAX_BYTES: String(2 * bigLayer.size) },
    });

  if (wants(ctx, 13)) {
    for (const clients of [1, 8]) {
      const id = `13-${clients}x`;
      const title = `${clients === 1 ? 'one client' : `${clients} clients at once`}, the same cold ${fmt(bigLayer.size / MiB, 0)} MiB blob through the blob cache`;
      await variant(ctx, id, 13, title, async () => {
        const direct: number[] = [];
        const directHerd: number[] = [];
        const slowest: number[] = [];
        const perClient: number[] = [];
        const backendCalls: number[] = [];
        const failures: string[] = [];
        let cpuSeconds = 0;
        let peakRss = 0;
        for (let round = 1; round <= rounds; round++) {
          const alone = await downloadAtOnce(`${ctx.registry.url}${p}`, 1, {}, bigLayer.size);
          direct.push(alone.perClient[0] ?? Number.NaN);
          if (clients > 1) directHerd.push(median((await downloadAtOnce(`${ctx.registry.url}${p}`, clients, {}, bigLayer.size)).perClient));
          // A fresh gateway: an empty cache every round.
          const gateway = await cachingGateway(`cache-herd-${clients}-${round}`);
          try {
            const token = await prepareGateway(ctx, gateway);
            if (token === undefined) throw new Error('login failed: the herd would be measured without a token');
            await warmUp(gateway, `/v2/${REPOS.big}/manifests/${TAG}`, bearer(token));
            const before = await backendRequestsOf(gateway);
            const herd = await downloadAtOnce(`${gateway.url}${p}`, clients, bearer(token), bigLayer.size, gateway.pid);
            backendCalls.push((await backendRequestsOf(gateway)) - before);
            failures.push(...herd.failures);
            slowest.push(Math.min(...herd.perClient));
            perClient.push(...herd.perClient);
            cpuSeconds += herd.gatewayCpuSeconds ?? 0;
            peakRss = Math.max(peakRss, herd.peakRssMiB ?? 0);
            log(
              `    round ${round} direct ${fmt(alone.perClient[0], 0)} MB/s alone${clients > 1 ? `, ${fmt(directHerd.at(-1), 0)} MB/s each of ${clients} at once` : ''}; ` +
                `gateway ${herd.perClient.map((speed) => fmt(speed, 0)).join(' ')} MB/s; backend requests ${backendCalls.at(-1)}`,
            );
          } finally {
            await gateway.stop();
          }
        }
        const baselineValue = median(direct);
        const gatewayValue = median(slowest);
        const row: Row = {
          id,
          scenario: 13,
          title,
          unit: 'MB/s',
          baselineLabel: 'one download straight from the registry (curl), same round',
          baselineValue,
          gatewayValue,
          ratio: gatewayValue / baselineValue,
          metrics: {
            clients,
            gatewayMBpsEachClient: perClient.map((speed) => fmt(speed, 0)).join(' '),
            ...(clients > 1 ? { registryMBpsEachOf8AtOnce: median(directHerd), ratioToRegistryUnderTheSameHerd: gatewayValue / median(directHerd) } : {}),
            backendRequestsPerRound: backendCalls.join(' '),
            gatewayCpuSecPerGB: cpuSeconds / ((rounds * clients * bigLayer.size) / 1e9),
            gatewayPeakRssMiB: peakRss,
          },
          checks: [],
          notes: ['the ratio is the slowest client of each round against one download alone from the registry, medians of the rounds'],
        };
        const why = failures.length > 0 ? `${failures.length} downloads failed: ${failures[0] ?? ''}` : undefined;
        row.checks.push(check('one backend request for all the clients', backendCalls.every((calls) => calls === 1), `backend requests per round: ${backendCalls.join(', ')}`, why));
        if (clients > 1) row.checks.push(check('each client ≥ 0.5× one direct download', row.ratio !== undefined && row.ratio >= 0.5, `slowest ${fmt(row.ratio, 2)}× (${fmt(gatewayValue, 0)} vs ${fmt(baselineValue, 0)} MB/s)`, why));
        row.checks.push(check(`gateway peak RSS ≤ ${MAX_GATEWAY_RSS_MIB} MiB`, peakRss <= MAX_GATEWAY_RSS_MIB, `${fmt(peakRss, 0)} MiB`, why));
        return row;
      });
    }
  }

  if (wants(ctx, 12)) {
    const title = `${fmt(bigLayer.size / MiB, 0)} MiB blob from the blob cache, 1 stream`;
    await variant(ctx, '12', 12, title, async () => {
      const gateway = await cachingGateway('cache-warm');
      try {
        const token = await prepareGateway(ctx, gateway);
        const warm = await downloadAtOnce(`${gateway.url}${p}`, 1, bearer(token), bigLayer.size);
        if (warm.failures.length > 0) throw new Error(`warming the cache failed: ${warm.failures[0] ?? ''}`);
        const blobSettings: LoadSettings = { ...ctx.settings.load, connections: 1, threads: 1, durationS: ctx.settings.blobDurationS, rounds: ctx.settings.blobRounds, warmupS: 0, timeoutS: 600 };
        const registryCpu = { label: 'registry', cpu: () => cpuSecondsOf(ctx.registry.pid) };
        const result = await measurePair(
          registryTarget(ctx, p, expectBlobHead(bigLayer.size), { probe: { method: 'HEAD' } }),
          gatewayTarget(gateway, p, expectBlobHead(bigLayer.size), registryCpu, { headers: bearer(token), probe: { method: 'HEAD' } }),
          blobSettings,
          log,
        );
        const row = pairRow('12', 12, title, 'registry, same GET', result, 'MB/s');
        ratioCheck(row, 1.5, 'registry', result, token === undefined);
        rssCheck(row, result, token === undefined);
        row.metrics = { blobBytes: bigLayer.size };
        row.notes.push('the registry stays idle during the gateway rounds (Details: its CPU then): the bytes come from the cache, confirmed once while warming it');
        return row;
      } finally {
        await gateway.stop();
      }
    });
  }
}

// ---------------------------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------------------------

async function versionOf(command: string, args: string[]): Promise<string> {
  try {
    const r = await run(command, args, { timeoutMs: 10_000 });
    return (r.stdout || r.stderr).trim().split('\n')[0] ?? '';
  } catch {
    return 'not installed';
  }
}

async function main(): Promise<number> {
  installCleanupHooks();
  const args = parseArgs(process.argv.slice(2));
  const settings = settingsFor(args);
  const startedAt = new Date();
  const loadAtStart = os.loadavg().map((l) => l.toFixed(2)).join(' ');
  const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const problems: string[] = [];
  const warnings: string[] = [];
  const rows: Row[] = [];

  for (const binary of ['/usr/bin/docker-registry', '/usr/bin/skopeo']) {
    if (!existsSync(binary)) throw new Error(`${binary} is missing: apt-get install -y docker-registry skopeo`);
  }
  const haveWrk = await wrkAvailable();
  if (!haveWrk) {
    const warning = 'wrk is not installed (apt-get install -y wrk): every scenario is driven by the node generator, which needs ~10× the client CPU; fast targets are under-reported';
    log(`WARNING: ${warning}`);
    warnings.push(warning);
  }

  if (args.build) {
    log('building the gateway (npm run build)...');
    const build = await run('npm', ['run', 'build'], { cwd: repoRoot, timeoutMs: 300_000 });
    if (build.code !== 0) throw new Error(`npm run build failed:\n${build.stdout}\n${build.stderr}`);
  }
  if (!existsSync(path.join(repoRoot, 'dist', 'cli.js'))) throw new Error('dist/cli.js is missing: run npm run build');

  const workDir = await mkdtemp(path.join(os.tmpdir(), 'cg-bench-'));
  onCleanup('work dir', () => rm(workDir, { recursive: true, force: true }));
  setWorkDir(workDir);

  log('starting docker-registry, fake Katello; building and pushing images...');
  const registry = await startRegistry();
  onCleanup('registry', () => registry.stop());
  const katello = await startFakeKatello({
    expiresIn: 3600,
    users: { [BENCH_USER.name]: { password: BENCH_USER.password, repositories: [REPOS.private, REPOS.big] } },
  });
  onCleanup('fake Katello', () => katello.stop());

  const smallDir = path.join(workDir, 'layout-small');
  const small = await writeImageLayout(smallDir, { tag: TAG, seed: 'bench-small' });
  await pushLayout(smallDir, TAG, registry.url, REPOS.public);
  await pushLayout(smallDir, TAG, registry.url, REPOS.private);
  let big: BuiltImage | undefined;
  if ([5, 12, 13].some((scenario) => wants({ args }, scenario))) {
    const t0 = performance.now();
    const bigDir = path.join(workDir, 'layout-big');
    big = await writeImageLayout(bigDir, { tag: TAG, seed: 'bench-big', layers: [], largeLayerBytes: settings.blobBytes });
    await pushLayout(bigDir, TAG, registry.url, REPOS.big, { timeoutMs: 900_000 });
    await rm(bigDir, { recursive: true, force: true });
    log(`  pushed a ${fmt(settings.blobBytes / MiB, 0)} MiB blob in ${fmt((performance.now() - t0) / 1000, 1)} s`);
  }

  // Results to keep are committed deliberately (--save); an ordinary run writes where git does not look.
  const outDir = args.outDir ?? path.join(repoRoot, 'bench', 'results', args.save ? '' : 'local');
  const profileDir = path.join(outDir, 'profiles', startedAt.toISOString().replace(/[:.]/g, '-'));
  // BENCH_GATEWAY_NODE_ARGS adds node options to every gateway (e.g. --perf-basic-prof for `perf record`).
  const extraNodeArgs = (process.env.BENCH_GATEWAY_NODE_ARGS ?? '').split(' ').filter((arg) => arg !== '');
  const gatewayNodeArgs = (name: string): string[] => [
    ...extraNodeArgs,
    ...(args.profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${name}.cpuprofile`] : []),
  ];
  const ctx: Ctx = { gatewayNodeArgs, args, settings, repoRoot, workDir, registry, katello, small, big, rows, problems };
  const needsProxy = [1, 2, 3, 4, 5, 8, 9, 10, 11].some((s) => wants(ctx, s));
  const guarded = async (name: string, body: () => Promise<void>): Promise<void> => {
    try {
      await body();
    } catch (err) {
      const message = `${name}: ${(err as Error).message}`;
      log(`ERROR ${message}`);
      problems.push(message);
    }
  };
  if (needsProxy) await guarded('proxy-mode gateway', () => proxyGatewayScenarios(ctx));
  if (wants(ctx, 6)) await guarded('redirect-mode gateway', () => redirectScenarios(ctx));
  if (wants(ctx, 7)) await guarded('ceiling gateway', () => ceilingScenarios(ctx));
  if (wants(ctx, 12) || wants(ctx, 13)) await guarded('blob-cache gateway', () => blobCacheScenarios(ctx));

  rows.sort((a, b) => a.scenario - b.scenario);
  const report: Report = {
    date: startedAt.toISOString().slice(0, 10),
    startedAt: startedAt.toISOString(),
    durationS: (Date.now() - startedAt.getTime()) / 1000,
    mode: args.quick ? 'quick' : 'full',
    settings: { ...settings, only: args.only ? [...args.only] : 'all', wrk: haveWrk },
    environment: {
      node: process.version,
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
      memoryGiB: Math.round(os.totalmem() / 1024 ** 3),
      kernel: os.release(),
      // Other work on the machine shows here: on 2 cores anything above ~2 means the numbers are depressed.
      loadAverageAtStart: loadAtStart,
      loadAverageAtEnd: os.loadavg().map((l) => l.toFixed(2)).join(' '),
      registry: await versionOf('/usr/bin/docker-registry', ['--version']),
      wrk: haveWrk ? await versionOf('wrk', ['--version']) : 'not installed',
      gitCommit: (await versionOf('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD'])) || 'unknown',
      gitDirty: (await run('git', ['-C', repoRoot, 'status', '--porcelain', '--', 'src'], { timeoutMs: 10_000 }).catch(() => ({ stdout: '' }))).stdout.trim()
        ? 'src/ has uncommitted changes'
        : 'clean src/',
    },
    rows,
    problems: [...warnings, ...problems],
  };
  log(`\n${consoleTable(rows)}`);
  if (problems.length > 0) log(`\nSetup problems:\n${problems.map((p) => `  - ${p.split('\n')[0] ?? ''}`).join('\n')}`);
  if (args.profile) log(`\nCPU profiles of the gateways: ${path.relative(process.cwd(), profileDir)} (open in Chrome DevTools or speedscope)`);
  const written = await writeReport(outDir, report);
  log(`\nwrote ${path.relative(process.cwd(), written.json)} and ${path.relative(process.cwd(), written.md)}`);
  // Exit status: 0 when every scenario produced numbers (missed targets are findings, not bench failures).
  return rows.some((r) => r.error !== undefined) || problems.length > 0 ? 1 : 0;
}

let exitCode = 1;
try {
  exitCode = await main();
} catch (err) {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
  exitCode = 1;
} finally {
  await runCleanups();
}
process.exit(exitCode);
