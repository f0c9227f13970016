/**
 * compare-builds.ts — two builds of the gateway side by side in redirect mode, in alternating
 * rounds of one run, with the Pulp-like backend as the yardstick: the way to tell whether a change
 * to the per-request path moved its cost, when the machine's own speed drifts between runs by
 * more than the change (seen here: the same build at 17 and 21 µs a request an hour apart).
 *
 *   npm run build && cp -r dist package.json /tmp/before/ && ln -s "$PWD/node_modules" /tmp/before/
 *   ... change, npm run build ...
 *   node --import tsx bench/compare-builds.ts /tmp/before . [rounds]
 *
 * Each build is a directory holding `dist/` (and `node_modules`). Both gateways get the same
 * repository list and mappings and one user token, and answer the same private manifest GET with
 * a remembered redirect. On a 2-core machine the servers run on CPU 0 and wrk on CPU 1 (the script
 * restarts itself under taskset), so a server never shares its core with the load generator.
 * Reported per build: requests a second and gateway CPU µs per request, each round and the
 * median, and the gateway's peak RSS. Environment: CG_COMPARE_ENV_A / _B ("NAME=value ..." for that gateway, e.g.
 * CG_LOG_LEVEL=info), CG_COMPARE_NODE_ARGS_A / _B (node options, e.g. --cpu-prof).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startFakeKatello } from '../test/fake-katello/fake-katello.js';
import { startPulpLikeBackend } from '../test/integration/harness/pulp-like-backend.js';
import { BENCH_USER, REPOS, TAG, smallRepositoryList, smallUserMapping } from './lib/data.js';
import { login, managementPut, startGateway, type RunningGateway } from './lib/gateway.js';
import { pinLoadTo, setWorkDir } from './lib/load.js';
import { measureOnce, median, type LoadSettings, type Target } from './lib/measure.js';
import { cpuSecondsOf, installCleanupHooks, onCleanup, ownCpuSeconds, runCleanups } from './lib/proc.js';

const [buildA, buildB, roundsArgument] = process.argv.slice(2);
if (buildA === undefined || buildB === undefined) {
  process.stderr.write('usage: node --import tsx bench/compare-builds.ts <build A> <build B> [rounds]\n');
  process.exit(2);
}
for (const build of [buildA, buildB]) {
  if (!existsSync(path.join(build, 'dist', 'cli.js'))) {
    process.stderr.write(`${build}/dist/cli.js is missing: build it first\n`);
    process.exit(2);
  }
}

// Servers on CPU 0, wrk on CPU 1: restart under taskset once, where there are two CPUs to split.
const PINNED = 'CG_COMPARE_PINNED';
if (process.env[PINNED] === undefined && os.cpus().length >= 2 && spawnSync('taskset', ['--version']).status === 0) {
  const again = spawnSync('taskset', ['-c', '0', process.execPath, ...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env: { ...process.env, [PINNED]: '1' } });
  process.exit(again.status ?? 1);
}
if (process.env[PINNED] !== undefined) pinLoadTo('1');

installCleanupHooks();
const rounds = Number(roundsArgument ?? 5);
const workDir = await mkdtemp(path.join(os.tmpdir(), 'cg-compare-'));
onCleanup('work dir', () => rm(workDir, { recursive: true, force: true }));
setWorkDir(workDir);

const katello = await startFakeKatello({ expiresIn: 3600, users: { [BENCH_USER.name]: { password: BENCH_USER.password, repositories: [REPOS.private] } } });
onCleanup('fake Katello', () => katello.stop());
// Only its redirects are asked for: no registry behind it.
const pulp = await startPulpLikeBackend('http://127.0.0.1:9');
onCleanup('Pulp-like backend', () => pulp.stop());

const manifest = `/v2/${REPOS.private}/manifests/${TAG}`;
const accept = 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json';
const redirected = (answer: { status: number }) => (answer.status === 302 ? undefined : `expected 302, got ${answer.status}`);
// The backend's list of requests is emptied after each round: left to grow, it slows the yardstick.
const targets: Target[] = [{ label: 'Pulp-like', url: `${pulp.url}${manifest}`, cpu: ownCpuSeconds, expect: redirected, headers: { accept }, afterRun: () => pulp.resetCounts() }];

const settingsOf = (label: string): { env: Record<string, string>; nodeArgs: string[] } => ({
  env: Object.fromEntries((process.env[`CG_COMPARE_ENV_${label}`] ?? '').split(' ').filter(Boolean).map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)])),
  nodeArgs: (process.env[`CG_COMPARE_NODE_ARGS_${label}`] ?? '').split(' ').filter(Boolean),
});
const gateways: RunningGateway[] = [];
for (const [label, build] of [['A', buildA], ['B', buildB]] as const) {
  const { env, nodeArgs } = settingsOf(label);
  const gateway = await startGateway({ name: `compare-${label}`, repoRoot: path.resolve(build), nodeArgs, backendUrl: pulp.url, backendMode: 'redirect', upstreamUrl: katello.url, extraEnv: env });
  onCleanup(`gateway ${label}`, () => gateway.stop());
  gateways.push(gateway);
  for (const [pathName, body] of [['/repository_list', smallRepositoryList()], ['/user_repository_mapping', smallUserMapping()]] as const) {
    const answer = await managementPut(gateway, pathName, body);
    if (answer.status >= 300) throw new Error(`gateway ${label}: PUT ${pathName} answered ${answer.status}`);
  }
  const token = await login(gateway, BENCH_USER.name, BENCH_USER.password, REPOS.private);
  targets.push({ label, url: `${gateway.url}${manifest}`, cpu: () => cpuSecondsOf(gateway.pid), rssPid: gateway.pid, expect: redirected, headers: { accept, authorization: `Bearer ${token}` } });
}

const settings: LoadSettings = { durationS: 5, warmupS: 1, rounds: 1, connections: 64, threads: 1, timeoutS: 10, loadTool: 'wrk' };
// Warm-up: every target's code optimized before anything is counted.
for (const target of targets) await measureOnce(target, { ...settings, durationS: 2 });
const results = new Map<string, { perSecond: number[]; cpuMicros: number[]; peakRssMiB: number }>();
for (let round = 0; round < rounds; round += 1) {
  for (const target of round % 2 === 0 ? targets : [...targets].reverse()) {
    const run = await measureOnce(target, settings);
    const entry = results.get(target.label) ?? { perSecond: [], cpuMicros: [], peakRssMiB: 0 };
    entry.peakRssMiB = Math.max(entry.peakRssMiB, (run.peakRssBytes ?? 0) / (1024 * 1024));
    entry.perSecond.push(run.reqPerSec);
    entry.cpuMicros.push(run.cpuSecPerKReq * 1000);
    results.set(target.label, entry);
    console.log(`round ${round + 1}  ${target.label.padEnd(9)} ${run.reqPerSec.toFixed(0).padStart(6)} req/s  ${(run.cpuSecPerKReq * 1000).toFixed(2)} µs/request`);
  }
}
console.log('');
const yardstick = median(results.get('Pulp-like')?.perSecond ?? [Number.NaN]);
for (const [label, entry] of results) {
  const ratio = label === 'Pulp-like' ? '' : `  ${(median(entry.perSecond) / yardstick).toFixed(3)}× the Pulp-like backend, peak RSS ${entry.peakRssMiB.toFixed(0)} MiB`;
  console.log(`${label.padEnd(9)} median ${median(entry.perSecond).toFixed(0).padStart(6)} req/s, ${median(entry.cpuMicros).toFixed(2)} µs/request (${entry.cpuMicros.map((micros) => micros.toFixed(2)).join(' ')})${ratio}`);
}
await runCleanups();
process.exit(0);
