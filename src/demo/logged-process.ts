/**
 * A process the demo starts and owns: its output goes to a log file, it can be waited for until
 * it answers over HTTP, and stopped (SIGTERM, then SIGKILL) — also when the demo itself ends.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { request } from 'undici';

export interface LoggedProcess {
  readonly name: string;
  readonly logFile: string;
  readonly child: ChildProcess;
  /** Resolves with the exit code (or the signal's name) when the process ends, for whatever reason. */
  readonly exited: Promise<string>;
  stop(): Promise<void>;
  /** The end of its log, for a message when it failed. */
  logTail(lines?: number): string;
}

const STOP_GRACE_MS = 5_000;

export function startLoggedProcess(name: string, command: string, args: readonly string[], logFile: string, env: NodeJS.ProcessEnv): LoggedProcess {
  const log = openSync(logFile, 'a', 0o600);
  // Its own process group: a Ctrl-C in the terminal reaches the demo, which stops it in order.
  const child = spawn(command, args, { stdio: ['ignore', log, log], env, detached: true });
  closeSync(log);
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code === null ? String(signal) : String(code)));
    child.once('error', (error) => resolve(error.message));
  });
  const running = () => child.exitCode === null && child.signalCode === null;
  return {
    name,
    logFile,
    child,
    exited,
    async stop() {
      if (!running()) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    },
    logTail(lines = 15) {
      try {
        return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
      } catch {
        return '(no log)';
      }
    },
  };
}

/** Polls `url` until it answers `status` (true), the process ends or `timeoutMs` passes (false). */
export async function waitUntilAnswering(process: LoggedProcess, url: URL, status: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let ended = false;
  void process.exited.then(() => (ended = true));
  while (!ended && Date.now() < deadline) {
    try {
      const response = await request(url, { headersTimeout: 1_000, bodyTimeout: 1_000 });
      await response.body.dump();
      if (response.statusCode === status) return true;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}
