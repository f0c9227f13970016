/**
 * inspectFilePlace: can the gateway keep a file at this path (the SQLite database, the audit
 * log)? Answered by looking only — nothing is created — so `check` can ask it, and `serve` can
 * ask it before it starts and refuse with the path and the fix instead of a bare EACCES.
 *
 * The file system is reached through `FileProbe`, so the decision is tested without changing
 * users; the default probe is the real file system as the current process sees it (root passes
 * permission checks, but not a read-only mount).
 */
import { accessSync, constants, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname, resolve } from 'node:path';
import { privacyBlockedBy, type NotPrivate } from '../store/file-permissions.js';

/** What the SQLite database holds that other local users must not read. */
export const DATABASE_SECRETS = "the gateway's token signing keys and token checksums";

export interface FileProbe {
  /** 'file', 'directory', 'other', or undefined when nothing is there. */
  kindOf(path: string): 'file' | 'directory' | 'other' | undefined;
  /** The error code (EACCES, EROFS...) when the process may not read and write `path`, else undefined. */
  denied(path: string, need: 'write' | 'read-write'): string | undefined;
  /**
   * What of a database file (its directory, when the database's alone, and its -wal, -shm and
   * -journal files included) others may read and the process may not chmod; undefined when the
   * process can make it all private.
   */
  cannotMakePrivate(path: string): NotPrivate | undefined;
  /** "uid 998 (container-gateway)": who the process runs as, for messages. */
  readonly runningAs: string;
}

export type FilePlace =
  | { readonly kind: 'exists'; readonly file: string }
  | { readonly kind: 'missing'; readonly file: string; readonly createdUnder: string }
  | { readonly kind: 'blocked'; readonly file: string; readonly problem: string; readonly fix: string };

/**
 * `extraFilesBeside`: the file needs its directory writable too (SQLite writes its -wal and
 * -shm files beside the database). `secret`: what the file holds (the database: the token
 * signing keys); the gateway makes such a file 0600 at start, so one it cannot chmod and others
 * may read is blocked.
 */
export function inspectFilePlace(path: string, options: { extraFilesBeside: boolean; setting: string; secret?: string }, probe: FileProbe = realFileProbe()): FilePlace {
  const file = resolve(path);
  const directory = dirname(file);
  const uid = /^uid (\d+)/.exec(probe.runningAs)?.[1] ?? '$(id -u)';
  const elsewhere = `or set ${options.setting} to a writable place`;
  const kind = probe.kindOf(file);
  if (kind === 'directory' || kind === 'other') {
    return { kind: 'blocked', file, problem: `${file} is a ${kind === 'directory' ? 'directory' : 'special file'}, not a file`, fix: `name a file in ${options.setting}` };
  }
  if (kind === 'file') {
    const fileDenied = probe.denied(file, 'read-write');
    if (fileDenied !== undefined) {
      return { kind: 'blocked', file, problem: `${file} is not writable by ${probe.runningAs} (${fileDenied})`, fix: `give it to the gateway's user (chown ${uid} ${file}), ${elsewhere}` };
    }
    const directoryDenied = options.extraFilesBeside ? probe.denied(directory, 'write') : undefined;
    if (directoryDenied !== undefined) {
      return {
        kind: 'blocked',
        file,
        problem: `its directory ${directory} is not writable by ${probe.runningAs} (${directoryDenied}); SQLite keeps its -wal and -shm files there`,
        fix: `give the directory to the gateway's user (chown ${uid} ${directory}), ${elsewhere}`,
      };
    }
    const notPrivate = options.secret === undefined ? undefined : probe.cannotMakePrivate(file);
    if (notPrivate !== undefined) {
      return {
        kind: 'blocked',
        file,
        problem: `${notPrivate.path} may be read by other local users (mode ${notPrivate.mode.toString(8)}, owned by uid ${notPrivate.owner}) and only its owner may change that; ${file} holds ${options.secret}`,
        fix: `give it to the gateway's user (chown ${uid} ${notPrivate.path}) or make it private (chmod ${notPrivate.wanted.toString(8)} ${notPrivate.path})`,
      };
    }
    return { kind: 'exists', file };
  }
  // Missing: it (and any missing directories) will be created under the nearest directory that exists.
  let ancestor = directory;
  while (probe.kindOf(ancestor) === undefined && dirname(ancestor) !== ancestor) ancestor = dirname(ancestor);
  if (probe.kindOf(ancestor) !== 'directory') {
    return { kind: 'blocked', file, problem: `${file} cannot be created: ${ancestor} is not a directory`, fix: `fix the path in ${options.setting}` };
  }
  const denied = probe.denied(ancestor, 'write');
  if (denied !== undefined) {
    const fix =
      ancestor === directory
        ? `give ${directory} to the gateway's user (chown ${uid} ${directory}), ${elsewhere}`
        : `create ${directory} for the gateway's user (mkdir -p ${directory} && chown ${uid} ${directory}), ${elsewhere}`;
    return { kind: 'blocked', file, problem: `${file} does not exist and cannot be created: ${ancestor} is not writable by ${probe.runningAs} (${denied})`, fix };
  }
  return { kind: 'missing', file, createdUnder: ancestor };
}

export function realFileProbe(): FileProbe {
  return {
    kindOf(path) {
      try {
        const stats = statSync(path);
        return stats.isFile() ? 'file' : stats.isDirectory() ? 'directory' : 'other';
      } catch {
        return undefined;
      }
    },
    denied(path, need) {
      try {
        accessSync(path, need === 'write' ? constants.W_OK | constants.X_OK : constants.R_OK | constants.W_OK);
        return undefined;
      } catch (error) {
        return (error as NodeJS.ErrnoException).code ?? 'denied';
      }
    },
    cannotMakePrivate: privacyBlockedBy,
    runningAs: describeCurrentUser(),
  };
}

function describeCurrentUser(): string {
  const uid = process.getuid?.();
  if (uid === undefined) return 'this user';
  try {
    return `uid ${uid} (${userInfo().username})`;
  } catch {
    // A container started with an arbitrary uid has no passwd entry for it.
    return `uid ${uid}`;
  }
}
