/**
 * load.ts — drive load at one URL for a fixed time and report requests/s, latency percentiles, bytes and
 * errors. Two generators with one result shape:
 *  - wrk (Debian `wrk`, C, ~13 µs of client CPU per request here): the default for GET.
 *  - a small in-process undici generator: for HEAD (wrk 4.1 waits for a HEAD response's Content-Length
 *    bytes and never completes one) and as a fallback when wrk is not installed (it costs ~10× the client
 *    CPU of wrk, so on 2 cores it under-reports fast targets; the report says which one ran).
 * Any status >= 400 counts as an error (wrk's definition); redirects are not followed by either.
 */
import { writeFileSync } from 'node:fs';
import { Pool } from 'undici';
import { run } from './proc.js';

export type LoadTool = 'wrk' | 'node';

export interface LoadSpec {
  url: string;
  method?: 'GET' | 'HEAD';
  headers?: Record<string, string>;
  connections: number;
  /** wrk threads (ignored by the node generator). */
  threads: number;
  durationS: number;
  /** Per-request timeout. */
  timeoutS: number;
  /**
   * Each request's path instead of the URL's: `template` with `%d` replaced by a random number
   * from 1 to `count` (so that requests are rarely alike: nothing for the gateway to share).
   */
  spread?: PathSpread;
}

export interface PathSpread {
  readonly template: string;
  readonly count: number;
}

export interface LoadErrors {
  connect: number;
  read: number;
  write: number;
  /** Responses with status >= 400. */
  status: number;
  timeout: number;
}

export interface LoadResult {
  tool: LoadTool;
  requests: number;
  durationS: number;
  bytes: number;
  reqPerSec: number;
  bytesPerSec: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
  errors: LoadErrors;
}

export function totalErrors(errors: LoadErrors): number {
  return errors.connect + errors.read + errors.write + errors.status + errors.timeout;
}

let wrkChecked: boolean | undefined;

export async function wrkAvailable(): Promise<boolean> {
  if (wrkChecked === undefined) {
    try {
      const result = await run('wrk', ['--version'], { timeoutMs: 5_000 });
      wrkChecked = /wrk/i.test(result.stdout + result.stderr);
    } catch {
      wrkChecked = false;
    }
  }
  return wrkChecked;
}

const WRK_REPORT_LUA = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('\\nWRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
`;

let luaPath: string | undefined;
let workDir: string | undefined;

export function setWorkDir(dir: string): void {
  workDir = dir;
  luaPath = `${dir}/wrk-report.lua`;
  writeFileSync(luaPath, WRK_REPORT_LUA);
}

/** A wrk script that also spreads the paths; written once per spread. */
function spreadScript(spread: PathSpread): string {
  if (workDir === undefined) throw new Error('load.setWorkDir() was not called');
  const path = `${workDir}/wrk-spread-${spread.count}-${Buffer.from(spread.template).toString('hex').slice(0, 40)}.lua`;
  const request = `request = function()\n  return wrk.format(nil, string.format(${JSON.stringify(spread.template)}, math.random(${spread.count})))\nend\n`;
  writeFileSync(path, `${WRK_REPORT_LUA}\n${request}`);
  return path;
}

interface WrkJson {
  requests: number;
  duration_us: number;
  bytes: number;
  errors: LoadErrors;
  latency_us: { p50: number; p90: number; p99: number; max: number; mean: number };
}

/** CPUs wrk is pinned to (taskset -c), when set: keeps the load generator off the server's core. */
let loadCpus: string | undefined;

export function pinLoadTo(cpus: string | undefined): void {
  loadCpus = cpus;
}

async function runWrk(spec: LoadSpec): Promise<LoadResult> {
  if (luaPath === undefined) throw new Error('load.setWorkDir() was not called');
  const threads = Math.max(1, Math.min(spec.threads, spec.connections));
  const args = [
    `-t${threads}`,
    `-c${spec.connections}`,
    // wrk takes whole seconds only.
    `-d${Math.max(1, Math.round(spec.durationS))}s`,
    '--timeout',
    `${Math.max(1, Math.round(spec.timeoutS))}s`,
    '-s',
    spec.spread === undefined ? luaPath : spreadScript(spec.spread),
  ];
  for (const [name, value] of Object.entries(spec.headers ?? {})) args.push('-H', `${name}: ${value}`);
  args.push(spec.url);
  const [command, commandArgs] = loadCpus === undefined ? ['wrk', args] : ['taskset', ['-c', loadCpus, 'wrk', ...args]];
  const result = await run(command, commandArgs, { timeoutMs: (spec.durationS + spec.timeoutS + 30) * 1000 });
  const line = result.stdout.split('\n').find((l) => l.startsWith('WRK_JSON '));
  if (result.code !== 0 || line === undefined) {
    throw new Error(`wrk failed (code ${String(result.code)}): ${result.stderr || result.stdout}`);
  }
  const parsed = JSON.parse(line.slice('WRK_JSON '.length)) as WrkJson;
  const durationS = parsed.duration_us / 1e6;
  return {
    tool: 'wrk',
    requests: parsed.requests,
    durationS,
    bytes: parsed.bytes,
    reqPerSec: parsed.requests / durationS,
    bytesPerSec: parsed.bytes / durationS,
    p50Ms: parsed.latency_us.p50 / 1000,
    p90Ms: parsed.latency_us.p90 / 1000,
    p99Ms: parsed.latency_us.p99 / 1000,
    maxMs: parsed.latency_us.max / 1000,
    meanMs: parsed.latency_us.mean / 1000,
    errors: parsed.errors,
  };
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? 0;
}

async function runNode(spec: LoadSpec): Promise<LoadResult> {
  const target = new URL(spec.url);
  const pool = new Pool(target.origin, { connections: spec.connections, pipelining: 1, keepAliveTimeout: 30_000 });
  const fixedPath = `${target.pathname}${target.search}`;
  const spread = spec.spread;
  const pathOf = (): string => (spread === undefined ? fixedPath : spread.template.replace('%d', String(1 + Math.floor(Math.random() * spread.count))));
  const method = spec.method ?? 'GET';
  const errors: LoadErrors = { connect: 0, read: 0, write: 0, status: 0, timeout: 0 };
  let latencies = new Float64Array(1 << 16);
  let count = 0;
  let bytes = 0;
  const started = performance.now();
  const deadline = started + spec.durationS * 1000;
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      try {
        const res = await pool.request({
          path: pathOf(),
          method,
          headers: spec.headers ?? {},
          headersTimeout: spec.timeoutS * 1000,
          bodyTimeout: spec.timeoutS * 1000,
        });
        for await (const chunk of res.body) bytes += (chunk as Buffer).length;
        if (res.statusCode >= 400) errors.status++;
      } catch (err) {
        const code = (err as { code?: string }).code ?? '';
        if (code.includes('TIMEOUT')) errors.timeout++;
        else if (code === 'ECONNREFUSED' || code === 'ECONNRESET') errors.connect++;
        else errors.read++;
        continue;
      }
      if (count === latencies.length) {
        const grown = new Float64Array(latencies.length * 2);
        grown.set(latencies);
        latencies = grown;
      }
      latencies[count++] = performance.now() - t0;
    }
  };
  try {
    await Promise.all(Array.from({ length: spec.connections }, () => worker()));
  } finally {
    await pool.close();
  }
  const durationS = (performance.now() - started) / 1000;
  const sorted = latencies.slice(0, count).sort();
  let sum = 0;
  for (const value of sorted) sum += value;
  return {
    tool: 'node',
    requests: count,
    durationS,
    bytes,
    reqPerSec: count / durationS,
    bytesPerSec: bytes / durationS,
    p50Ms: percentile(sorted, 50),
    p90Ms: percentile(sorted, 90),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted.length > 0 ? (sorted[sorted.length - 1] ?? 0) : 0,
    meanMs: count > 0 ? sum / count : 0,
    errors,
  };
}

/**
 * Picks wrk for GET when installed (unless `prefer` is 'node'), the node generator for HEAD (wrk cannot)
 * and when wrk is missing.
 */
export async function runLoad(spec: LoadSpec, prefer: LoadTool = 'wrk'): Promise<LoadResult> {
  const useWrk = prefer === 'wrk' && (spec.method ?? 'GET') === 'GET' && (await wrkAvailable());
  return useWrk ? runWrk(spec) : runNode(spec);
}
