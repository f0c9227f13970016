/**
 * The few statements whose best form differs between SQLite and PostgreSQL: bulk inserts,
 * deletes by id list, name → id resolution, the cross-process write lock and change notices.
 * PostgreSQL takes whole arrays in one statement (unnest / ANY), which keeps a 200,000-row
 * mapping push to a handful of round trips; SQLite, in process, is fastest with chunked
 * multi-row statements. Everything else in the store is plain portable kysely.
 */
import { sql, type Transaction } from 'kysely';
import type { DialectName } from './migrations.js';
import type { Database } from './schema.js';

type Trx = Transaction<Database>;
export type NamedTable = 'users' | 'hosts';
export type MappingTable = 'user_repositories' | 'host_repositories';

const ROWS_PER_INSERT = 500;
const IDS_PER_STATEMENT = 1_000;

/** The channel on which one gateway instance tells the others that data changed. */
export const CHANGE_CHANNEL = 'container_gateway_changes';

export interface BulkWrites {
  /** Serializes writers across processes and instances for the rest of the transaction. */
  lockWrites(trx: Trx): Promise<void>;
  deleteWhereIn(trx: Trx, table: 'repositories' | 'hosts' | MappingTable, column: string, ids: readonly number[]): Promise<void>;
  setAuthRequired(trx: Trx, ids: readonly number[], value: 0 | 1): Promise<void>;
  insertRepositories(trx: Trx, rows: ReadonlyArray<{ name: string; auth_required: number }>): Promise<void>;
  idsByName(trx: Trx, table: NamedTable | 'repositories', names: readonly string[]): Promise<Map<string, number>>;
  /** Ids of the named users or hosts, creating the missing ones. */
  ensureNamed(trx: Trx, table: NamedTable, names: readonly string[]): Promise<Map<string, number>>;
  insertMappings(trx: Trx, table: MappingTable, pairs: ReadonlyArray<readonly [subject: number, repository: number]>): Promise<void>;
  /** Delivered to other instances when the transaction commits (PostgreSQL NOTIFY). */
  announce(trx: Trx, change: string): Promise<void>;
}

/**
 * better-sqlite3 is synchronous, so a transaction of hundreds of statements would otherwise run
 * without ever letting the event loop serve a pull; yielding between chunks lets it. Only
 * between them: a write of one chunk (a login) finishes in the turn it started, instead of
 * holding the connection, and every other write, across turns of the event loop.
 */
const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function inChunks<T>(items: readonly T[], size: number, work: (chunk: T[]) => Promise<void>): Promise<void> {
  for (let start = 0; start < items.length; start += size) {
    if (start > 0) await yieldToEventLoop();
    await work(items.slice(start, start + size));
  }
}

const nameColumn = (table: NamedTable | 'repositories') => (table === 'hosts' ? 'uuid' : 'name');
const subjectColumn = (table: MappingTable) => (table === 'user_repositories' ? 'user_id' : 'host_id');

const sqliteWrites: BulkWrites = {
  // SQLite has one writer at a time already (busy_timeout makes the others wait).
  lockWrites: async () => undefined,
  async deleteWhereIn(trx, table, column, ids) {
    await inChunks(ids, IDS_PER_STATEMENT, async (chunk) => {
      await sql`DELETE FROM ${sql.table(table)} WHERE ${sql.ref(column)} IN (${sql.join(chunk)})`.execute(trx);
    });
  },
  async setAuthRequired(trx, ids, value) {
    await inChunks(ids, IDS_PER_STATEMENT, async (chunk) => {
      await trx.updateTable('repositories').set({ auth_required: value }).where('id', 'in', chunk).execute();
    });
  },
  async insertRepositories(trx, rows) {
    await inChunks(rows, ROWS_PER_INSERT, async (chunk) => {
      await trx.insertInto('repositories').values(chunk).execute();
    });
  },
  async idsByName(trx, table, names) {
    const ids = new Map<string, number>();
    await inChunks(names, IDS_PER_STATEMENT, async (chunk) => {
      const result = await sql<{ id: number; key: string }>`SELECT id, ${sql.ref(nameColumn(table))} AS key FROM ${sql.table(table)} WHERE ${sql.ref(nameColumn(table))} IN (${sql.join(chunk)})`.execute(trx);
      for (const row of result.rows) ids.set(row.key, Number(row.id));
    });
    return ids;
  },
  async ensureNamed(trx, table, names) {
    const ids = await this.idsByName(trx, table, names);
    const missing = [...new Set(names.filter((name) => !ids.has(name)))];
    await inChunks(missing, ROWS_PER_INSERT, async (chunk) => {
      const values = sql.join(chunk.map((name) => sql`(${name})`));
      await sql`INSERT INTO ${sql.table(table)} (${sql.ref(nameColumn(table))}) VALUES ${values}`.execute(trx);
    });
    if (missing.length > 0) for (const [name, id] of await this.idsByName(trx, table, missing)) ids.set(name, id);
    return ids;
  },
  async insertMappings(trx, table, pairs) {
    await inChunks(pairs, ROWS_PER_INSERT, async (chunk) => {
      const values = sql.join(chunk.map(([subject, repository]) => sql`(${subject}, ${repository})`));
      await sql`INSERT INTO ${sql.table(table)} (${sql.ref(subjectColumn(table))}, repository_id) VALUES ${values}`.execute(trx);
    });
  },
  // Other processes on the same file notice commits through PRAGMA data_version.
  announce: async () => undefined,
};

const postgresWrites: BulkWrites = {
  async lockWrites(trx) {
    await sql`SELECT pg_advisory_xact_lock(hashtext(${CHANGE_CHANNEL}))`.execute(trx);
  },
  async deleteWhereIn(trx, table, column, ids) {
    if (ids.length > 0) await sql`DELETE FROM ${sql.table(table)} WHERE ${sql.ref(column)} = ANY(${[...ids]}::int[])`.execute(trx);
  },
  async setAuthRequired(trx, ids, value) {
    if (ids.length > 0) await sql`UPDATE repositories SET auth_required = ${value} WHERE id = ANY(${[...ids]}::int[])`.execute(trx);
  },
  async insertRepositories(trx, rows) {
    if (rows.length === 0) return;
    await sql`INSERT INTO repositories (name, auth_required) SELECT * FROM unnest(${rows.map((r) => r.name)}::text[], ${rows.map((r) => r.auth_required)}::int[])`.execute(trx);
  },
  async idsByName(trx, table, names) {
    const ids = new Map<string, number>();
    if (names.length === 0) return ids;
    const result = await sql<{ id: number; key: string }>`SELECT id, ${sql.ref(nameColumn(table))} AS key FROM ${sql.table(table)} WHERE ${sql.ref(nameColumn(table))} = ANY(${[...names]}::text[])`.execute(trx);
    for (const row of result.rows) ids.set(row.key, Number(row.id));
    return ids;
  },
  async ensureNamed(trx, table, names) {
    if (names.length > 0) {
      await sql`INSERT INTO ${sql.table(table)} (${sql.ref(nameColumn(table))}) SELECT unnest(${[...names]}::text[]) ON CONFLICT DO NOTHING`.execute(trx);
    }
    return this.idsByName(trx, table, names);
  },
  async insertMappings(trx, table, pairs) {
    if (pairs.length === 0) return;
    await sql`INSERT INTO ${sql.table(table)} (${sql.ref(subjectColumn(table))}, repository_id) SELECT * FROM unnest(${pairs.map((p) => p[0])}::int[], ${pairs.map((p) => p[1])}::int[])`.execute(trx);
  },
  async announce(trx, change) {
    await sql`SELECT pg_notify(${CHANGE_CHANNEL}, ${change})`.execute(trx);
  },
};

export function bulkWritesFor(dialect: DialectName): BulkWrites {
  return dialect === 'postgres' ? postgresWrites : sqliteWrites;
}
