/**
 * proc.ts — what the bench needs to know about processes: CPU time and memory from /proc, and a
 * registry of the child processes it started so that every one of them is stopped, also on error,
 * on SIGINT/SIGTERM and at exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { waitForExit } from '../../test/integration/harness/registry.js';

let clockTicks = 100;
try {
  clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
} catch {
  // keep the Linux default
}

/** utime + stime of a process, in seconds (whole process, all threads), from /proc/<pid>/stat. */
export function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may contain spaces and parentheses: fields restart after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After ')' the first field is the state (field 3); utime is field 14, stime field 15.
  const utime = Number(fields[14 - 3]);
  const stime = Number(fields[15 - 3]);
  return (utime + stime) / clockTicks;
}

/** This process's own CPU seconds (used for servers the bench runs in-process). */
export function ownCpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

function statusField(pid: number, name: 'VmRSS' | 'VmHWM'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
  return match?.[1] ? Number(match[1]) * 1024 : 0;
}

export function rssBytes(pid: number): number {
  return statusField(pid, 'VmRSS');
}

/**
 * Peak-RSS tracking for one measurement: resets the kernel's high-water mark (`clear_refs` 5, Linux ≥ 4.0,
 * needs to own the process) and also samples VmRSS, so the peak is right even where the reset is refused.
 */
export class PeakRss {
  private peak = 0;
  private readonly timer: NodeJS.Timeout;
  private hwmReset = false;

  constructor(private readonly pid: number, sampleMs = 50) {
    try {
      writeFileSync(`/proc/${pid}/clear_refs`, '5');
      this.hwmReset = true;
    } catch {
      this.hwmReset = false;
    }
    this.sample();
    this.timer = setInterval(() => this.sample(), sampleMs);
    this.timer.unref();
  }

  private sample(): void {
    try {
      this.peak = Math.max(this.peak, rssBytes(this.pid));
    } catch {
      // process gone
    }
  }

  /** Stops sampling; the peak in bytes. */
  stop(): number {
    clearInterval(this.timer);
    this.sample();
    if (this.hwmReset) {
      try {
        this.peak = Math.max(this.peak, statusField(this.pid, 'VmHWM'));
      } catch {
        // process gone
      }
    }
    return this.peak;
  }
}

// ---------------------------------------------------------------------------------------------
// children and cleanup
// ---------------------------------------------------------------------------------------------

const liveChildren = new Set<ChildProcess>();
const cleanups: Array<{ name: string; run: () => Promise<void> }> = [];
let hooksInstalled = false;
let cleaningUp: Promise<void> | undefined;

function killLiveChildrenSync(): void {
  for (const child of liveChildren) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  liveChildren.clear();
}

/** Installs exit and signal hooks once: children are SIGKILLed at exit; a signal runs the cleanups first. */
export function installCleanupHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', killLiveChildrenSync);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      process.stderr.write(`\nbench: ${signal} received, stopping everything it started...\n`);
      const hardStop = setTimeout(() => process.exit(130), 15_000);
      hardStop.unref();
      void runCleanups().finally(() => process.exit(130));
    });
  }
}

export function trackChild(child: ChildProcess): ChildProcess {
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  return child;
}

/** Registers a stop function; cleanups run in reverse order of registration. */
export function onCleanup(name: string, run: () => Promise<void>): void {
  cleanups.push({ name, run });
}

/** Runs every registered cleanup (last registered first), each at most once, reporting failures. */
export function runCleanups(): Promise<void> {
  cleaningUp ??= (async () => {
    while (cleanups.length > 0) {
      const cleanup = cleanups.pop();
      if (cleanup === undefined) break;
      try {
        await cleanup.run();
      } catch (err) {
        process.stderr.write(`bench: cleanup "${cleanup.name}" failed: ${(err as Error).message}\n`);
      }
    }
    killLiveChildrenSync();
  })();
  return cleaningUp;
}

export { waitForExit };

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopChild(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  if (await waitForExit(child, graceMs)) return;
  child.kill('SIGKILL');
  await waitForExit(child, 5_000);
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (tracked, so it is killed if the bench dies), collecting its output. */
export function run(command: string, args: readonly string[], opts: { timeoutMs: number; cwd?: string; env?: NodeJS.ProcessEnv }): Promise<RunResult> {
  return new Promise<RunResult>((resolve, reject) => {
    const child = trackChild(
      spawn(command, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] }),
    );
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
      if (stderr.length > 256 * 1024) stderr = stderr.slice(-128 * 1024);
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')}: timed out after ${opts.timeoutMs} ms\n${stderr}`));
    }, opts.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
