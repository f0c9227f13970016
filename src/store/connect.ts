/**
 * openDatabase: database.url → a kysely instance on the right dialect, with the schema migrated.
 * SQLite (the embedded default) is a file in WAL mode with a busy timeout, so readers never
 * block the writer and a briefly busy database waits instead of failing.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { runMigrations, type DialectName, type MigrationReport } from './migrations.js';
import type { Database } from './schema.js';

export interface OpenDatabase {
  readonly db: Kysely<Database>;
  readonly dialect: DialectName;
  /** Where the data lives, for logs and `check` (no credentials). */
  readonly location: string;
  readonly migrations: MigrationReport;
  close(): Promise<void>;
}

const SQLITE_BUSY_TIMEOUT_MS = 5_000;

export function sqliteFileOf(url: string): string | undefined {
  if (url === 'sqlite::memory:' || url === 'sqlite://:memory:') return ':memory:';
  const match = /^sqlite:(?:\/\/)?(.+)$/.exec(url);
  return match?.[1];
}

export async function openDatabase(url: string, options: { migrate?: boolean } = {}): Promise<OpenDatabase> {
  const file = sqliteFileOf(url);
  if (file === undefined) {
    throw new Error(`database.url: unsupported database URL scheme (expected sqlite://PATH or postgres://...)`);
  }
  if (file !== ':memory:') mkdirSync(dirname(resolve(file)), { recursive: true });
  const sqlite = new SqliteDatabase(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma(`busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  const migrations = options.migrate === false ? { applied: [], current: undefined } : await runMigrations(db as Kysely<unknown>, 'sqlite');
  return {
    db,
    dialect: 'sqlite',
    location: file === ':memory:' ? 'sqlite (in memory)' : `sqlite ${resolve(file)}`,
    migrations,
    close: () => db.destroy(),
  };
}
