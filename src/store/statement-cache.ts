/**
 * SQLite prepared statements, kept: kysely's SQLite driver prepares every query it runs afresh,
 * and compiling the SQL was as costly as running it (a login's six statements: 9 % of the
 * gateway's CPU in `prepare`, 12 % executing). The same SQL text gets the same better-sqlite3
 * Statement back. Queries on one kysely SQLite connection run one at a time (its mutex), so a
 * statement is never used by two queries at once.
 *
 * Bounded by count (bulk statements differ in their number of rows, so the texts are not a
 * fixed set); the least recently used statement is dropped first.
 */
import type { SqliteDatabase, SqliteStatement } from 'kysely';
import { BoundedCache, stringBytes } from '../caches/bounded-cache.js';

const MAX_STATEMENTS = 256;
/** A compiled statement's native memory, roughly, on top of its text. */
const STATEMENT_BYTES = 2 * 1024;

export interface StatementCachingDatabase extends SqliteDatabase {
  readonly statements: BoundedCache<string, SqliteStatement>;
}

export function cachingStatements(database: SqliteDatabase, cacheName: string): StatementCachingDatabase {
  const statements = new BoundedCache<string, SqliteStatement>(cacheName, {
    maxEntries: MAX_STATEMENTS,
    maxBytes: MAX_STATEMENTS * (STATEMENT_BYTES + 4 * 1024),
    sizeOf: (_statement, sql) => stringBytes(sql) + STATEMENT_BYTES,
  });
  return {
    statements,
    prepare(sql) {
      const kept = statements.get(sql);
      if (kept !== undefined) return kept;
      const prepared = database.prepare(sql);
      statements.set(sql, prepared);
      return prepared;
    },
    close: () => database.close(),
  };
}
