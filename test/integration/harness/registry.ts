/**
 * registry.ts — run a real CNCF Distribution registry (Debian's `docker-registry`, 2.8.2) for a test.
 *
 * Contract:
 *  - `startRegistry()` creates a fresh temp dir (`dataDir`), writes `dataDir/config.yml` (the project's
 *    registry configuration, src/demo/registry-config.ts: filesystem storage rooted at `dataDir`,
 *    `http.addr: 127.0.0.1:<free port>`, no auth unless `opts.auth`, deletes enabled), spawns
 *    `docker-registry serve dataDir/config.yml` and resolves once `GET /v2/` answers 200 (polled, at most
 *    ~10 s). It rejects with the registry's stderr if the process dies or never becomes ready (and then
 *    cleans up after itself). If the chosen port was taken in the meantime it retries with a new one.
 *  - `url` is `http://127.0.0.1:<port>` (no trailing slash).
 *  - `stop()` sends SIGTERM, then SIGKILL after 2 s, waits for the process to exit and removes `dataDir`.
 *    It is idempotent.
 *  - Registries still running when the Node process exits (crashed test, forgotten stop(), SIGINT/SIGTERM)
 *    are SIGKILLed and their temp dirs removed by a process 'exit' hook. The child and its pipes are
 *    unref'd, so a forgotten registry never keeps the test process alive.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { httpRequest } from './http-client.js';
import { findFreePort } from '../../../src/demo/free-port.js';
import { registryConfigYaml } from '../../../src/demo/registry-config.js';

export interface StartRegistryOptions {
  /** Reserved: the registry never redirects blob downloads (storage.redirect.disable is always true). */
  redirectTo?: never;
  /** Distribution's `auth` section: token auth (realm elsewhere, trusting certificates in a bundle) or htpasswd. */
  auth?:
    | { token: { realm: string; service: string; issuer: string; rootcertbundle: string } }
    | { htpasswd: { realm: string; path: string } };
  /**
   * Distribution's `http.prefix`: the API answers at `<url><prefix>v2/...` instead of the root, as
   * Pulp does behind a capsule's Apache at `/pulpcore_registry/`. Starts and ends with `/`.
   */
  prefix?: string;
  /** Distribution's `storage.delete.enabled`; default true. */
  deleteEnabled?: boolean;
}

export interface RunningRegistry {
  /** http://127.0.0.1:PORT (the API is under `prefix`, when one was given) */
  url: string;
  port: number;
  /** PID of the docker-registry process. */
  pid: number;
  /** Temp dir holding config.yml and the filesystem storage (`docker/registry/v2/...`). Removed by stop(). */
  dataDir: string;
  stop(): Promise<void>;
}

export const REGISTRY_BINARY = '/usr/bin/docker-registry';
const READY_TIMEOUT_MS = 10_000;
const POLL_INTERVAL_MS = 50;
const STOP_GRACE_MS = 2_000;
const MAX_STDERR_CHARS = 64 * 1024;

interface LiveRegistry {
  child: ChildProcess;
  dataDir: string;
}

const liveRegistries = new Set<LiveRegistry>();
let exitHookInstalled = false;

function killAllSync(): void {
  for (const live of liveRegistries) {
    try {
      live.child.kill('SIGKILL');
    } catch {
      // already gone
    }
    try {
      rmSync(live.dataDir, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }
  liveRegistries.clear();
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', killAllSync);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      killAllSync();
      // If nobody else handles this signal, restore the default behaviour (die by the signal).
      if (process.listenerCount(signal) === 1) {
        process.removeListener(signal, onSignal);
        process.kill(process.pid, signal);
      }
    };
    process.on(signal, onSignal);
  }
}

export { findFreePort } from '../../../src/demo/free-port.js';

function authYaml(auth: StartRegistryOptions['auth']): string {
  if (auth === undefined) return '';
  const q = (s: string): string => JSON.stringify(s);
  if ('token' in auth) {
    const { realm, service, issuer, rootcertbundle } = auth.token;
    return ['auth:', '  token:', `    realm: ${q(realm)}`, `    service: ${q(service)}`, `    issuer: ${q(issuer)}`, `    rootcertbundle: ${q(rootcertbundle)}`, ''].join('\n');
  }
  return ['auth:', '  htpasswd:', `    realm: ${q(auth.htpasswd.realm)}`, `    path: ${q(auth.htpasswd.path)}`, ''].join('\n');
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves true once the child has exited, false if it has not within timeoutMs. */
export function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => {
      child.removeListener('exit', onExit);
      resolve(false);
    }, timeoutMs);
    const onExit = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

async function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  if (await waitForExit(child, STOP_GRACE_MS)) return;
  child.kill('SIGKILL');
  await waitForExit(child, STOP_GRACE_MS);
}

class RegistryStartError extends Error {
  constructor(
    message: string,
    readonly portInUse: boolean,
  ) {
    super(message);
    this.name = 'RegistryStartError';
  }
}

async function startOnce(dataDir: string, opts: StartRegistryOptions): Promise<RunningRegistry> {
  const port = await findFreePort();
  const configPath = path.join(dataDir, 'config.yml');
  await writeFile(configPath, registryConfigYaml(dataDir, port, { ...(opts.prefix === undefined ? {} : { prefix: opts.prefix }), deleteEnabled: opts.deleteEnabled ?? true }) + authYaml(opts.auth));

  const child = spawn(REGISTRY_BINARY, ['serve', configPath], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dataDir },
  });
  const live: LiveRegistry = { child, dataDir };
  liveRegistries.add(live);
  child.unref();
  for (const stream of [child.stdout, child.stderr]) {
    if (stream instanceof net.Socket) stream.unref();
  }

  let output = '';
  const collect = (chunk: Buffer): void => {
    output += chunk.toString('utf8');
    if (output.length > MAX_STDERR_CHARS) output = output.slice(-MAX_STDERR_CHARS);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  let spawnError: Error | undefined;
  child.on('error', (err) => {
    spawnError = err;
  });

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  const exited = (): boolean => child.exitCode !== null || child.signalCode !== null || spawnError !== undefined;
  let lastProblem = 'no answer yet';
  for (;;) {
    if (exited()) {
      liveRegistries.delete(live);
      const how = spawnError
        ? `could not be started (${spawnError.message})`
        : `exited early (code ${String(child.exitCode)}, signal ${String(child.signalCode)})`;
      throw new RegistryStartError(
        `docker-registry ${how} on ${url}\n--- registry output ---\n${output.trimEnd()}`,
        /address already in use/i.test(output),
      );
    }
    try {
      const res = await httpRequest(`${url}${opts.prefix ?? '/'}v2/`, { timeoutMs: 1_000 });
      if (res.status === 200 || (opts.auth !== undefined && res.status === 401)) break;
      lastProblem = `GET /v2/ answered ${res.status}`;
    } catch (err) {
      lastProblem = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() > deadline) {
      await killChild(child);
      liveRegistries.delete(live);
      throw new RegistryStartError(
        `docker-registry on ${url} not ready after ${READY_TIMEOUT_MS} ms (${lastProblem})\n--- registry output ---\n${output.trimEnd()}`,
        false,
      );
    }
    await delay(POLL_INTERVAL_MS);
  }

  let stopping: Promise<void> | undefined;
  return {
    url,
    port,
    pid: child.pid ?? -1,
    dataDir,
    stop(): Promise<void> {
      stopping ??= (async () => {
        await killChild(child);
        liveRegistries.delete(live);
        await rm(dataDir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}

export async function startRegistry(opts: StartRegistryOptions = {}): Promise<RunningRegistry> {
  installExitHook();
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'cg-registry-'));
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        return await startOnce(dataDir, opts);
      } catch (err) {
        if (err instanceof RegistryStartError && err.portInUse && attempt < 3) continue;
        throw err;
      }
    }
  } catch (err) {
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
}
