/**
 * A site moving from the embedded SQLite to PostgreSQL: on an empty PostgreSQL database, with
 * database.migrateFrom naming the old SQLite file, every row is copied over in one transaction
 * (as Katello's plugin does when it moves databases), ids and sequences included; the SQLite
 * file is then renamed, never deleted, so nothing is lost if something is off.
 */
import { existsSync, renameSync } from 'node:fs';
import { sql, type Kysely } from 'kysely';
import { openDatabase } from './connect.js';
import type { Database } from './schema.js';

const TABLES = ['repositories', 'users', 'hosts', 'tokens', 'user_repositories', 'host_repositories', 'secrets', 'signing_keys'] as const;
const TABLES_WITH_SERIAL_ID = ['repositories', 'users', 'hosts', 'tokens'] as const;
const ROWS_PER_INSERT = 1_000;

export interface SqliteImport {
  readonly copied: Record<string, number>;
  readonly renamedTo: string;
}

export async function importSqliteIfEmpty(target: Kysely<Database>, sqliteFile: string, now: Date = new Date()): Promise<SqliteImport | undefined> {
  if (!existsSync(sqliteFile)) return undefined;
  if (!(await isEmpty(target))) return undefined;
  const source = await openDatabase({ url: `sqlite://${sqliteFile}` });
  const copied: Record<string, number> = {};
  try {
    await target.transaction().execute(async (trx) => {
      for (const table of TABLES) {
        const rows = (await sql<Record<string, unknown>>`SELECT * FROM ${sql.table(table)}`.execute(source.db)).rows;
        for (let start = 0; start < rows.length; start += ROWS_PER_INSERT) {
          // The rows come from the same schema, so their shape is the target table's.
          await trx.insertInto(table).values(rows.slice(start, start + ROWS_PER_INSERT) as never).execute();
        }
        copied[table] = rows.length;
      }
      for (const table of TABLES_WITH_SERIAL_ID) {
        await sql`SELECT setval(pg_get_serial_sequence(${table}, 'id'), COALESCE((SELECT MAX(id) FROM ${sql.table(table)}), 0) + 1, false)`.execute(trx);
      }
    });
  } finally {
    await source.close();
  }
  const renamedTo = `${sqliteFile}.migrated-${now.toISOString().replace(/[:.]/g, '-')}`;
  renameSync(sqliteFile, renamedTo);
  for (const suffix of ['-wal', '-shm']) if (existsSync(sqliteFile + suffix)) renameSync(sqliteFile + suffix, renamedTo + suffix);
  return { copied, renamedTo };
}

async function isEmpty(db: Kysely<Database>): Promise<boolean> {
  for (const table of ['repositories', 'users', 'hosts', 'tokens'] as const) {
    const row = await db.selectFrom(table).select(sql<number>`1`.as('one')).limit(1).executeTakeFirst();
    if (row !== undefined) return false;
  }
  return true;
}
