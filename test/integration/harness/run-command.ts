/**
 * run-command.ts — spawn a process, collect its output, enforce a timeout.
 *
 * Contract:
 *  - `runCommand(command, args, opts)` resolves with `{ stdout, stderr, exitCode, durationMs }` when the
 *    process exits with status 0.
 *  - It rejects with a `CommandError` (carrying the command line, exit code/signal, stdout and stderr in
 *    its message and fields) when the process exits non-zero, is killed by a signal, cannot be spawned,
 *    or runs longer than `timeoutMs` (then it is SIGKILLed first).
 *  - Output is collected in memory; it is meant for CLI tools with small output (skopeo), not for bulk data.
 */
import { spawn } from 'node:child_process';

export interface RunCommandOptions {
  /** Kill the process (SIGKILL) and reject after this many milliseconds. Default 60 000. */
  timeoutMs?: number;
  /** Environment for the child; default: the current process environment. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface CommandResult {
  stdout: Buffer;
  stderr: string;
  exitCode: number;
  durationMs: number;
}

export class CommandError extends Error {
  readonly commandLine: string;
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;

  constructor(fields: {
    commandLine: string;
    exitCode: number | null;
    signal: NodeJS.Signals | null;
    stdout: string;
    stderr: string;
    timedOut: boolean;
    cause?: unknown;
  }) {
    const what = fields.timedOut
      ? 'timed out'
      : fields.exitCode !== null
        ? `exited with status ${fields.exitCode}`
        : fields.signal !== null
          ? `was killed by ${fields.signal}`
          : 'failed to start';
    super(
      `command ${what}: ${fields.commandLine}\n--- stdout ---\n${fields.stdout.trimEnd()}\n--- stderr ---\n${fields.stderr.trimEnd()}`,
      fields.cause === undefined ? undefined : { cause: fields.cause },
    );
    this.name = 'CommandError';
    this.commandLine = fields.commandLine;
    this.exitCode = fields.exitCode;
    this.signal = fields.signal;
    this.stdout = fields.stdout;
    this.stderr = fields.stderr;
    this.timedOut = fields.timedOut;
  }
}

function quoteArg(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function formatCommandLine(command: string, args: readonly string[]): string {
  return [command, ...args].map(quoteArg).join(' ');
}

export function runCommand(
  command: string,
  args: readonly string[],
  opts: RunCommandOptions = {},
): Promise<CommandResult> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const commandLine = formatCommandLine(command, args);
  const started = Date.now();
  return new Promise<CommandResult>((resolve, reject) => {
    const child = spawn(command, args, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const stdoutChunks: Buffer[] = [];
    const stderrChunks: Buffer[] = [];
    let timedOut = false;
    let settled = false;
    child.stdout.on('data', (chunk: Buffer) => stdoutChunks.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderrChunks.push(chunk));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);

    const fail = (exitCode: number | null, signal: NodeJS.Signals | null, cause?: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(
        new CommandError({
          commandLine,
          exitCode,
          signal,
          stdout: Buffer.concat(stdoutChunks).toString('utf8'),
          stderr: Buffer.concat(stderrChunks).toString('utf8'),
          timedOut,
          cause,
        }),
      );
    };

    child.on('error', (err) => fail(null, null, err));
    // 'close' (not 'exit') so that all output has been read.
    child.on('close', (exitCode, signal) => {
      if (settled) return;
      if (exitCode === 0 && !timedOut) {
        settled = true;
        clearTimeout(timer);
        resolve({
          stdout: Buffer.concat(stdoutChunks),
          stderr: Buffer.concat(stderrChunks).toString('utf8'),
          exitCode,
          durationMs: Date.now() - started,
        });
      } else {
        fail(exitCode, signal);
      }
    });
  });
}
