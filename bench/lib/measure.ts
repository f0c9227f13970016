/**
 * measure.ts — one scenario variant = a baseline target and a gateway target, probed once each (right
 * status and content, or the variant is an error, not a number), warmed up, then measured in alternating
 * rounds (baseline, gateway, baseline, gateway, ...) and summarised: medians of the rounds for rates and
 * latencies, CPU-seconds per 1,000 requests over all rounds, the highest peak RSS.
 */
import { describeAnswer, send, type HttpAnswer } from './gateway.js';
import { runLoad, totalErrors, type LoadResult, type LoadSpec, type LoadTool, type PathSpread } from './load.js';
import { PeakRss, rssBytes } from './proc.js';

export interface Target {
  /** 'registry', 'gateway', 'pulp-like backend', ... */
  label: string;
  url: string;
  method?: 'GET' | 'HEAD';
  headers?: Record<string, string>;
  /** CPU seconds so far of the server under test. */
  cpu: () => number;
  /** PID whose peak RSS is reported (the gateway). */
  rssPid?: number;
  /** Another process whose CPU is worth knowing during this target's runs (the backend behind the gateway). */
  alsoCpu?: { label: string; cpu: () => number };
  /** Spread each request over many paths (load.ts); the probe uses `url`. */
  spread?: PathSpread;
  /** Probe override: how to check the target once before measuring (default: same method/URL/headers). */
  probe?: { method?: 'GET' | 'HEAD' };
  /** Returns a problem description, or undefined when the probe answer is right. */
  expect: (answer: HttpAnswer) => string | undefined;
  /** Called before and after each measured run (e.g. to reset and read upstream call counts). */
  beforeRun?: () => void | Promise<void>;
  afterRun?: (result: LoadResult) => void | Promise<void>;
}

export interface RunStats extends LoadResult {
  cpuSeconds: number;
  cpuSecPerKReq: number;
  rssBeforeBytes?: number;
  peakRssBytes?: number;
  alsoCpuSeconds?: number;
}

export interface Summary {
  label: string;
  tool: LoadTool;
  rounds: number;
  requests: number;
  errors: number;
  reqPerSec: number;
  mbPerSec: number;
  p50Ms: number;
  p99Ms: number;
  cpuSecPerKReq: number;
  /** CPU seconds per GB (1e9 bytes) of response bodies: the meaningful CPU figure for blob downloads. */
  cpuSecPerGB: number;
  peakRssMiB?: number;
  /** Peak RSS minus RSS before the run, highest over rounds. */
  rssGrowthMiB?: number;
  alsoCpuLabel?: string;
  alsoCpuSecPerKReq?: number;
}

export interface LoadSettings {
  durationS: number;
  warmupS: number;
  rounds: number;
  connections: number;
  threads: number;
  timeoutS: number;
  loadTool: LoadTool;
}

export interface PairResult {
  baseline: Summary;
  gateway: Summary;
  runs: { baseline: RunStats[]; gateway: RunStats[] };
}

const MiB = 1024 * 1024;

export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? Number.NaN) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

export async function probe(target: Target): Promise<void> {
  const method = target.probe?.method ?? target.method ?? 'GET';
  let answer: HttpAnswer;
  try {
    answer = await send(target.url, { method, headers: target.headers ?? {}, timeoutMs: 30_000 });
  } catch (err) {
    throw new Error(`${target.label} ${method} ${target.url}: ${(err as Error).message}`);
  }
  const problem = target.expect(answer);
  if (problem !== undefined) {
    throw new Error(`${target.label} ${method} ${new URL(target.url).pathname}: ${problem} (answered ${describeAnswer(answer)})`);
  }
}

function specOf(target: Target, settings: LoadSettings, durationS: number): LoadSpec {
  return {
    url: target.url,
    method: target.method ?? 'GET',
    headers: target.headers ?? {},
    connections: settings.connections,
    threads: settings.threads,
    durationS,
    timeoutS: settings.timeoutS,
    ...(target.spread === undefined ? {} : { spread: target.spread }),
  };
}

export async function measureOnce(target: Target, settings: LoadSettings): Promise<RunStats> {
  await target.beforeRun?.();
  const rssBeforeBytes = target.rssPid !== undefined ? rssBytes(target.rssPid) : undefined;
  const peak = target.rssPid !== undefined ? new PeakRss(target.rssPid) : undefined;
  const alsoBefore = target.alsoCpu?.cpu();
  const cpuBefore = target.cpu();
  let result: LoadResult;
  let peakRssBytes: number | undefined;
  try {
    result = await runLoad(specOf(target, settings, settings.durationS), settings.loadTool);
  } finally {
    peakRssBytes = peak?.stop();
  }
  const cpuSeconds = target.cpu() - cpuBefore;
  const alsoCpuSeconds = alsoBefore !== undefined && target.alsoCpu ? target.alsoCpu.cpu() - alsoBefore : undefined;
  await target.afterRun?.(result);
  return {
    ...result,
    cpuSeconds,
    cpuSecPerKReq: result.requests > 0 ? (cpuSeconds / result.requests) * 1000 : Number.NaN,
    ...(rssBeforeBytes !== undefined ? { rssBeforeBytes } : {}),
    ...(peakRssBytes !== undefined ? { peakRssBytes } : {}),
    ...(alsoCpuSeconds !== undefined ? { alsoCpuSeconds } : {}),
  };
}

export function summarize(target: Target, runs: RunStats[]): Summary {
  const requests = runs.reduce((sum, r) => sum + r.requests, 0);
  const cpu = runs.reduce((sum, r) => sum + r.cpuSeconds, 0);
  const bytes = runs.reduce((sum, r) => sum + r.bytes, 0);
  const summary: Summary = {
    label: target.label,
    tool: runs[0]?.tool ?? 'wrk',
    rounds: runs.length,
    requests,
    errors: runs.reduce((sum, r) => sum + totalErrors(r.errors), 0),
    reqPerSec: median(runs.map((r) => r.reqPerSec)),
    mbPerSec: median(runs.map((r) => r.bytesPerSec / 1e6)),
    p50Ms: median(runs.map((r) => r.p50Ms)),
    p99Ms: median(runs.map((r) => r.p99Ms)),
    cpuSecPerKReq: requests > 0 ? (cpu / requests) * 1000 : Number.NaN,
    cpuSecPerGB: bytes > 0 ? cpu / (bytes / 1e9) : Number.NaN,
  };
  const peaks = runs.map((r) => r.peakRssBytes).filter((v): v is number => v !== undefined);
  if (peaks.length > 0) summary.peakRssMiB = Math.max(...peaks) / MiB;
  const growths = runs
    .filter((r) => r.peakRssBytes !== undefined && r.rssBeforeBytes !== undefined)
    .map((r) => ((r.peakRssBytes ?? 0) - (r.rssBeforeBytes ?? 0)) / MiB);
  if (growths.length > 0) summary.rssGrowthMiB = Math.max(...growths);
  if (target.alsoCpu) {
    const also = runs.reduce((sum, r) => sum + (r.alsoCpuSeconds ?? 0), 0);
    summary.alsoCpuLabel = target.alsoCpu.label;
    summary.alsoCpuSecPerKReq = requests > 0 ? (also / requests) * 1000 : Number.NaN;
  }
  return summary;
}

/** Probe both, warm both up, then alternate baseline/gateway for `rounds` rounds. */
export async function measurePair(baseline: Target, gateway: Target, settings: LoadSettings, log: (line: string) => void): Promise<PairResult> {
  await probe(baseline);
  await probe(gateway);
  if (settings.warmupS > 0) {
    for (const target of [baseline, gateway]) await runLoad(specOf(target, settings, settings.warmupS), settings.loadTool);
  }
  const runs = { baseline: [] as RunStats[], gateway: [] as RunStats[] };
  for (let round = 1; round <= settings.rounds; round++) {
    for (const [side, target] of [
      ['baseline', baseline],
      ['gateway', gateway],
    ] as const) {
      const stats = await measureOnce(target, settings);
      runs[side].push(stats);
      log(
        `    round ${round} ${target.label.padEnd(18)} ${fmt(stats.reqPerSec, 0).padStart(8)} req/s  ` +
          `${fmt(stats.bytesPerSec / 1e6, 1).padStart(8)} MB/s  p50 ${fmt(stats.p50Ms, 2)} ms  p99 ${fmt(stats.p99Ms, 2)} ms  ` +
          `cpu ${fmt(stats.cpuSecPerKReq, 3)} s/1k` +
          (totalErrors(stats.errors) > 0 ? `  ERRORS ${JSON.stringify(stats.errors)}` : ''),
      );
    }
  }
  return { baseline: summarize(baseline, runs.baseline), gateway: summarize(gateway, runs.gateway), runs };
}

export function fmt(value: number | undefined, digits: number): string {
  if (value === undefined || !Number.isFinite(value)) return '-';
  return value.toFixed(digits);
}
