/**
 * gateway.ts — start the gateway as a real process from the working tree's build (`node dist/cli.js serve`),
 * configured only through CG_* environment variables (the contract), and talk to its management API.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Pool } from 'undici';
import { findFreePort } from '../../test/integration/harness/registry.js';
import { onCleanup, stopChild, trackChild } from './proc.js';

export interface GatewayOptions {
  /** Label used in logs and temp dir names. */
  name: string;
  repoRoot: string;
  backendUrl: string;
  backendMode: 'redirect' | 'proxy';
  upstreamUrl: string;
  /** Extra CG_* variables (e.g. CG_LOG_LEVEL). */
  extraEnv?: Record<string, string>;
  /** Extra node options, e.g. ['--cpu-prof', '--cpu-prof-dir=DIR']. */
  nodeArgs?: string[];
}

export interface RunningGateway {
  name: string;
  url: string;
  pid: number;
  managementToken: string;
  dataDir: string;
  logFile: string;
  /** Last lines of the gateway's output (for error messages). */
  logTail(lines?: number): Promise<string>;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 20_000;

export async function startGateway(opts: GatewayOptions): Promise<RunningGateway> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), `cg-bench-${opts.name}-`));
  const logFile = path.join(dataDir, 'gateway.log');
  const managementToken = randomBytes(24).toString('hex');
  const port = await findFreePort();
  const url = `http://127.0.0.1:${port}`;
  // Only CG_* settings and what node needs to run: nothing from the caller's CG_* environment leaks in.
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: dataDir,
    NODE_ENV: 'production',
    CG_SERVER_LISTEN: `127.0.0.1:${port}`,
    CG_SERVER_PUBLIC_URL: url,
    CG_DATABASE_URL: `sqlite://${path.join(dataDir, 'gw.db')}`,
    CG_BACKEND_URL: opts.backendUrl,
    CG_BACKEND_MODE: opts.backendMode,
    CG_UPSTREAM_URL: opts.upstreamUrl,
    CG_MANAGEMENT_TOKENS: managementToken,
    CG_LOG_LEVEL: 'warn',
    ...opts.extraEnv,
  };
  const log = createWriteStream(logFile);
  const child = trackChild(
    spawn(process.execPath, [...(opts.nodeArgs ?? []), path.join(opts.repoRoot, 'dist', 'cli.js'), 'serve'], {
      cwd: dataDir,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });

  const logTail = async (lines = 30): Promise<string> => {
    try {
      const text = await readFile(logFile, 'utf8');
      return text.trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  };
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await stopChild(child, 10_000);
      log.end();
      await rm(dataDir, { recursive: true, force: true });
    })();
    return stopping;
  };
  onCleanup(`gateway ${opts.name}`, stop);

  // Ready when anything answers on /v2/ (401 or 200: migrations done, listening).
  const deadline = Date.now() + READY_TIMEOUT_MS;
  const probe = new Pool(url, { connections: 1 });
  try {
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`gateway ${opts.name} exited early (code ${String(child.exitCode)}):\n${await logTail()}`);
      }
      try {
        const res = await probe.request({ path: '/v2/', method: 'GET', headersTimeout: 1_000, bodyTimeout: 1_000 });
        await res.body.dump();
        if (res.statusCode < 500) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        throw new Error(`gateway ${opts.name} not ready after ${READY_TIMEOUT_MS} ms:\n${await logTail()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } catch (err) {
    await stop();
    throw err;
  } finally {
    await probe.close();
  }
  return { name: opts.name, url, pid: child.pid ?? -1, managementToken, dataDir, logFile, logTail, stop };
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  ms: number;
}

/** One request on a fresh connection, whole body read; never throws on an HTTP status. */
export async function send(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer; timeoutMs?: number } = {},
): Promise<HttpAnswer> {
  const target = new URL(url);
  const pool = new Pool(target.origin, { connections: 1 });
  const started = performance.now();
  try {
    const res = await pool.request({
      path: `${target.pathname}${target.search}`,
      method: (opts.method ?? 'GET') as 'GET',
      headers: opts.headers ?? {},
      ...(opts.body !== undefined ? { body: opts.body } : {}),
      headersTimeout: opts.timeoutMs ?? 60_000,
      bodyTimeout: opts.timeoutMs ?? 60_000,
    });
    const body = Buffer.from(await res.body.arrayBuffer());
    return { status: res.statusCode, headers: res.headers, body, ms: performance.now() - started };
  } finally {
    await pool.close();
  }
}

export function header(answer: HttpAnswer, name: string): string | undefined {
  const value = answer.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

export function describeAnswer(answer: HttpAnswer): string {
  const text = answer.body.subarray(0, 300).toString('utf8').replace(/\s+/g, ' ');
  return `${answer.status}${text ? ` ${text}` : ''}`;
}

/** PUT a JSON body to the management API; resolves with the answer and how long it took. */
export function managementPut(gateway: RunningGateway, pathName: string, body: string | Buffer, timeoutMs = 120_000): Promise<HttpAnswer> {
  return send(`${gateway.url}${pathName}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${gateway.managementToken}`, 'content-type': 'application/json' },
    body,
    timeoutMs,
  });
}

export function basicAuth(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/** Docker token login at the gateway; resolves with the token or throws with the gateway's answer. */
export async function login(gateway: RunningGateway, user: string, password: string, scopeRepository: string): Promise<string> {
  const service = new URL(gateway.url).host;
  const answer = await send(
    `${gateway.url}/v2/token?service=${encodeURIComponent(service)}&scope=${encodeURIComponent(`repository:${scopeRepository}:pull`)}`,
    { headers: { authorization: basicAuth(user, password) } },
  );
  if (answer.status !== 200) throw new Error(`login of ${user} at ${gateway.name}: ${describeAnswer(answer)}`);
  let parsed: { token?: unknown; access_token?: unknown };
  try {
    parsed = JSON.parse(answer.body.toString('utf8')) as typeof parsed;
  } catch {
    throw new Error(`login of ${user} at ${gateway.name}: not JSON: ${describeAnswer(answer)}`);
  }
  const token = typeof parsed.token === 'string' ? parsed.token : typeof parsed.access_token === 'string' ? parsed.access_token : undefined;
  if (token === undefined || token === '') throw new Error(`login of ${user} at ${gateway.name}: no token in ${describeAnswer(answer)}`);
  return token;
}
