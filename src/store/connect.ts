/**
 * openDatabase: database settings → a kysely instance on the right dialect, with the schema
 * migrated. SQLite (the embedded default) is a file in WAL mode with a busy timeout, so readers
 * never block the writer and a briefly busy database waits instead of failing. PostgreSQL gets a
 * bounded pool per process with connection and statement timeouts.
 */
import { resolve } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { CompiledQuery, Kysely, PostgresDialect, SqliteDialect, type Driver } from 'kysely';
import pg from 'pg';
import type { CacheView } from '../caches/bounded-cache.js';
import type { RawConfig } from '../config/schema.js';
import { securePermissions } from './file-permissions.js';
import { importSqliteIfEmpty, type SqliteImport } from './migrate-from-sqlite.js';
import { runMigrations, type DialectName, type MigrationReport } from './migrations.js';
import type { Database } from './schema.js';
import { cachingStatements } from './statement-cache.js';

export type DatabaseSettings = Pick<RawConfig['database'], 'url'> & Partial<RawConfig['database']>;

export interface OpenDatabase {
  readonly db: Kysely<Database>;
  /** Where reads go: a second SQLite connection (WAL lets it read while `db` writes), or `db`. */
  readonly reads: Kysely<Database>;
  readonly dialect: DialectName;
  /** Where the data lives, for logs and `check` (never the password). */
  readonly location: string;
  readonly migrations: MigrationReport;
  /** SQLite: files and directories whose modes were too open and were tightened (for the start-up log). */
  readonly tightened?: readonly string[];
  /** Set when this open copied an old SQLite database over (database.migrateFrom). */
  readonly imported?: SqliteImport;
  /** The raw SQLite handle (for data_version) or PostgreSQL pool (for LISTEN); I/O adapters only. */
  readonly sqlite?: SqliteDatabase.Database;
  readonly pgPool?: pg.Pool;
  /** SQLite: the prepared statements each connection keeps, for the metrics and the sweep. */
  readonly caches: readonly CacheView[];
  close(): Promise<void>;
}

/**
 * Write transactions take SQLite's write lock when they begin (BEGIN IMMEDIATE). A deferred
 * transaction that reads first and writes later fails at once with SQLITE_BUSY_SNAPSHOT when
 * another process committed in between; an immediate one waits its turn (busy_timeout).
 */
class ImmediateTransactionSqliteDialect extends SqliteDialect {
  override createDriver(): Driver {
    const driver = super.createDriver();
    driver.beginTransaction = async (connection) => {
      await connection.executeQuery(CompiledQuery.raw('begin immediate'));
    };
    return driver;
  }
}

export function sqliteFileOf(url: string): string | undefined {
  if (url === 'sqlite::memory:' || url === 'sqlite://:memory:') return ':memory:';
  const match = /^sqlite:(?:\/\/)?(.+)$/.exec(url);
  return match?.[1];
}

export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//.test(url);
}

/** The URL without its password, for logs and reports. */
export function describeDatabaseUrl(url: string): string {
  if (!isPostgresUrl(url)) return url;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // Not a URL after all (a malformed port): opening it fails with its own message; no password is shown here.
    return 'postgres://(a malformed URL)';
  }
  if (parsed.password !== '') parsed.password = '***';
  // node-postgres also takes secrets from the query (pg-connection-string: password, sslpassword, sslkey).
  for (const name of [...parsed.searchParams.keys()]) {
    if (SECRET_QUERY_PARAMETERS.has(name.toLowerCase())) parsed.searchParams.set(name, '***');
  }
  return parsed.href;
}

const SECRET_QUERY_PARAMETERS: ReadonlySet<string> = new Set(['password', 'sslpassword', 'sslkey']);

export async function openDatabase(settings: DatabaseSettings, options: { migrate?: boolean } = {}): Promise<OpenDatabase> {
  const opened = isPostgresUrl(settings.url) ? openPostgres(settings) : openSqlite(settings);
  try {
    if (options.migrate === false) return { ...opened, migrations: { applied: [], current: undefined } };
    const migrations = await runMigrations(opened.db as Kysely<unknown>, opened.dialect);
    const imported =
      opened.dialect === 'postgres' && settings.migrateFrom != null ? await importSqliteIfEmpty(opened.db, sqliteFileOf(settings.migrateFrom) ?? settings.migrateFrom) : undefined;
    return { ...opened, migrations, ...(imported === undefined ? {} : { imported }) };
  } catch (error) {
    await opened.close();
    throw error;
  }
}

function openSqlite(settings: DatabaseSettings): Omit<OpenDatabase, 'migrations'> {
  const file = sqliteFileOf(settings.url);
  if (file === undefined) throw new Error('database.url: expected sqlite://PATH or postgres://...');
  const tightened = file === ':memory:' ? [] : securePermissions(resolve(file));
  const sqlite = new SqliteDatabase(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma(`busy_timeout = ${settings.busyTimeoutMs ?? 5_000}`);
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  const writes = cachingStatements(sqlite, 'sqlite-statements');
  const db = new Kysely<Database>({ dialect: new ImmediateTransactionSqliteDialect({ database: writes }) });
  // An in-memory database exists once per connection, so it cannot have a second one.
  const reader = file === ':memory:' ? undefined : new SqliteDatabase(file, { readonly: true });
  reader?.pragma(`busy_timeout = ${settings.busyTimeoutMs ?? 5_000}`);
  const readerStatements = reader === undefined ? undefined : cachingStatements(reader, 'sqlite-read-statements');
  const reads = readerStatements === undefined ? db : new Kysely<Database>({ dialect: new SqliteDialect({ database: readerStatements }) });
  return {
    db,
    reads,
    caches: readerStatements === undefined ? [writes.statements] : [writes.statements, readerStatements.statements],
    dialect: 'sqlite',
    location: file === ':memory:' ? 'sqlite (in memory)' : `sqlite ${resolve(file)}`,
    ...(tightened.length === 0 ? {} : { tightened }),
    sqlite,
    close: async () => {
      if (reads !== db) await reads.destroy();
      await db.destroy();
    },
  };
}

function openPostgres(settings: DatabaseSettings): Omit<OpenDatabase, 'migrations'> {
  const pool = new pg.Pool({
    connectionString: settings.url,
    max: settings.poolSize ?? 10,
    connectionTimeoutMillis: settings.connectionTimeoutMs ?? 5_000,
    statement_timeout: settings.statementTimeoutMs ?? 30_000,
    idleTimeoutMillis: 30_000,
  });
  // An idle client losing its server must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return {
    db,
    reads: db,
    dialect: 'postgres',
    location: `postgres ${describeDatabaseUrl(settings.url)}`,
    pgPool: pool,
    caches: [],
    close: () => db.destroy(),
  };
}
