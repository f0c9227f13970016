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
  if (!existsSync(directory)) mkdirSync(directory, { recursive: true, mode: PRIVATE_DIRECTORY });
  // Created before SQLite opens it, so it never exists with the umask's mode.
  if (!existsSync(databaseFile)) closeSync(openSync(databaseFile, 'a', PRIVATE_FILE));
  return looserThanPrivate(databaseFile).map(({ path, mode, wanted }) => {
    chmodSync(path, wanted);
    return `${path} ${mode.toString(8)} -> ${wanted.toString(8)}`;
  });
}

/** A path of the database that others may read and this process may not chmod. */
export interface NotPrivate {
  readonly path: string;
  readonly mode: number;
  /** The mode the gateway would give it. */
  readonly wanted: number;
  readonly owner: number;
}

/**
 * What securePermissions would change and could not: the first path others may read that this
 * process may not chmod (another user owns it); undefined when it could make everything private.
 * Looks only: `check` and serve's start-up checks ask it.
 */
export function privacyBlockedBy(databaseFile: string): NotPrivate | undefined {
  const uid = process.geteuid?.();
  // Root may chmod anything (a root-squashing NFS mount aside); on Windows there is nothing to change.
  if (uid === undefined || uid === 0) return undefined;
  return looserThanPrivate(databaseFile).find(({ owner }) => owner !== uid);
}

/** The data directory (when only the database's files are in it) and the database files that others may read or write. */
function looserThanPrivate(databaseFile: string): NotPrivate[] {
  const directory = dirname(databaseFile);
  const name = basename(databaseFile);
  const candidates: Array<[string, number]> = [];
  if (holdsOnlyDatabaseFiles(directory, name)) candidates.push([directory, PRIVATE_DIRECTORY]);
  for (const file of [databaseFile, `${databaseFile}-wal`, `${databaseFile}-shm`, `${databaseFile}-journal`]) candidates.push([file, PRIVATE_FILE]);
  const loose: NotPrivate[] = [];
  for (const [path, allowed] of candidates) {
    if (!existsSync(path)) continue;
    const stats = statSync(path);
    const mode = stats.mode & 0o777;
    if ((mode & ~allowed) !== 0) loose.push({ path, mode, wanted: mode & allowed, owner: stats.uid });
  }
  return loose;
}

/** The directory holds the database's files and nothing else; one it may not list (mode 0730) is not taken for the gateway's own. */
function holdsOnlyDatabaseFiles(directory: string, name: string): boolean {
  try {
    return readdirSync(directory).every((entry) => entry.startsWith(name));
  } catch {
    return false;
  }
}
