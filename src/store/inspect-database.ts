/**
 * migrationStateReadOnly: which migrations an existing database still lacks (or has from a newer
 * version), found without
 * writing anything (for `check`). openDatabase cannot do that for SQLite: even a read-only
 * connection to a WAL database creates its -wal and -shm files. So, when no -wal file exists
 * (no gateway has it open, and the last one closed it cleanly), the file is read into memory and
 * queried there; when one exists the database is in use, its files are there already, and a
 * read-only connection adds nothing.
 */
import { existsSync, readFileSync } from 'node:fs';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { openDatabase, sqliteFileOf, type DatabaseSettings } from './connect.js';
import { migrationState } from './migrations.js';

/** Bytes 18 and 19 of the SQLite header: file format versions, 2 for WAL, 1 for a rollback journal. */
const WRITE_VERSION_OFFSET = 18;
const READ_VERSION_OFFSET = 19;

export async function migrationStateReadOnly(settings: DatabaseSettings): Promise<{ pending: string[]; unknown: string[] }> {
  const file = sqliteFileOf(settings.url);
  if (file === undefined) {
    // PostgreSQL: connecting and reading the migration table writes nothing.
    const database = await openDatabase(settings, { migrate: false });
    try {
      return await migrationState(database.db as Kysely<unknown>, database.dialect);
    } finally {
      await database.close();
    }
  }
  if (file === ':memory:') return { pending: [], unknown: [] };
  const sqlite = existsSync(`${file}-wal`) ? new SqliteDatabase(file, { readonly: true, fileMustExist: true }) : inMemoryCopy(file);
  const db = new Kysely<unknown>({ dialect: new SqliteDialect({ database: sqlite }) });
  try {
    return await migrationState(db, 'sqlite');
  } finally {
    await db.destroy();
  }
}

function inMemoryCopy(file: string): SqliteDatabase.Database {
  const image = readFileSync(file);
  // An in-memory database cannot be in WAL mode; the copy is read as a rollback-journal one.
  if (image.length > READ_VERSION_OFFSET) {
    image[WRITE_VERSION_OFFSET] = 1;
    image[READ_VERSION_OFFSET] = 1;
  }
  return new SqliteDatabase(image, { readonly: true });
}
