/**
 * The SQLite database holds the JWT signing keys and token checksums: only the gateway's own
 * user may read it. Its directory is created 0700 and its files (database, -wal, -shm) 0600 —
 * SQLite gives -wal and -shm the database file's mode — whatever the umask; an existing install
 * with looser modes is tightened, and what changed is returned for the start-up log. A
 * directory that holds other files too (a database placed somewhere shared, /tmp) is not the
 * gateway's to change: only the files are.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname } from 'node:path';

const PRIVATE_DIRECTORY = 0o700;
const PRIVATE_FILE = 0o600;

/** Makes the data directory and the database files private; answers the paths whose modes it tightened. */
export function securePermissions(databaseFile: string): string[] {
  const directory = dirname(databaseFile);
  const name = basename(databaseFile);
  const tightened: string[] = [];
  if (!existsSync(directory)) mkdirSync(directory, { recursive: true, mode: PRIVATE_DIRECTORY });
  // Created before SQLite opens it, so it never exists with the umask's mode.
  if (!existsSync(databaseFile)) closeSync(openSync(databaseFile, 'a', PRIVATE_FILE));
  const dedicated = readdirSync(directory).every((entry) => entry.startsWith(name));
  if (dedicated) tighten(directory, PRIVATE_DIRECTORY, tightened);
  for (const file of [databaseFile, `${databaseFile}-wal`, `${databaseFile}-shm`, `${databaseFile}-journal`]) {
    if (existsSync(file)) tighten(file, PRIVATE_FILE, tightened);
  }
  return tightened;
}

function tighten(path: string, mode: number, tightened: string[]): void {
  const current = statSync(path).mode & 0o777;
  if ((current & ~mode) === 0) return;
  chmodSync(path, current & mode);
  tightened.push(`${path} ${current.toString(8)} -> ${(current & mode).toString(8)}`);
}
