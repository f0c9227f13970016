/**
 * Schema migrations, in order. They run at every start (and with `migrate`); kysely's Migrator
 * records what ran and takes a lock, so several processes starting at once are safe.
 * Append new migrations; never edit one that has shipped.
 */
import { Migrator, type ColumnDefinitionBuilder, type CreateTableBuilder, type Kysely, type Migration, type MigrationProvider } from 'kysely';

export type DialectName = 'sqlite' | 'postgres';

function migrationsFor(dialect: DialectName): Record<string, Migration> {
  // A surrogate key: SQLite's rowid alias, PostgreSQL's serial. Everything else is portable.
  const withId = <T extends string>(table: CreateTableBuilder<T, never>) =>
    dialect === 'sqlite'
      ? table.addColumn('id', 'integer', (c: ColumnDefinitionBuilder) => c.primaryKey())
      : table.addColumn('id', 'serial', (c: ColumnDefinitionBuilder) => c.primaryKey());
  return {
  '2026-11-23-001-initial': {
    async up(db: Kysely<unknown>) {
      await withId(db.schema.createTable('repositories'))
        .addColumn('name', 'varchar(255)', (c) => c.notNull().unique())
        .addColumn('auth_required', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await withId(db.schema.createTable('users'))
        .addColumn('name', 'varchar(255)', (c) => c.notNull().unique())
        .execute();
      await withId(db.schema.createTable('tokens'))
        .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('token_checksum', 'varchar(64)', (c) => c.notNull().unique())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('tokens_expires_at').on('tokens').column('expires_at').execute();
      await db.schema
        .createTable('user_repositories')
        .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('repository_id', 'integer', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
        .addPrimaryKeyConstraint('user_repositories_pk', ['user_id', 'repository_id'])
        .execute();
      await db.schema.createIndex('user_repositories_repository').on('user_repositories').column('repository_id').execute();
      await withId(db.schema.createTable('hosts'))
        .addColumn('uuid', 'varchar(255)', (c) => c.notNull().unique())
        .execute();
      await db.schema
        .createTable('host_repositories')
        .addColumn('host_id', 'integer', (c) => c.notNull().references('hosts.id').onDelete('cascade'))
        .addColumn('repository_id', 'integer', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
        .addPrimaryKeyConstraint('host_repositories_pk', ['host_id', 'repository_id'])
        .execute();
      await db.schema.createIndex('host_repositories_repository').on('host_repositories').column('repository_id').execute();
      await db.schema
        .createTable('secrets')
        .addColumn('name', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .execute();
    },
  },
  '2026-11-23-002-signing-keys': {
    async up(db: Kysely<unknown>) {
      // Keys that sign the gateway's JWTs: the newest active one signs, all of them verify.
      await db.schema
        .createTable('signing_keys')
        .addColumn('kid', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('private_key', 'text', (c) => c.notNull())
        .addColumn('certificate', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('activates_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
  };
}

function providerFor(dialect: DialectName): MigrationProvider {
  return { getMigrations: async () => migrationsFor(dialect) };
}

export interface MigrationReport {
  readonly applied: string[];
  readonly current: string | undefined;
}

export async function runMigrations(db: Kysely<unknown>, dialect: DialectName): Promise<MigrationReport> {
  const migrator = new Migrator({ db, provider: providerFor(dialect) });
  const { error, results } = await migrator.migrateToLatest();
  if (error !== undefined) throw new Error(`database migration failed: ${(error as Error).message ?? String(error)}`);
  const names = Object.keys(migrationsFor(dialect));
  return { applied: (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName), current: names[names.length - 1] };
}

/** Names of migrations not yet applied (for `check` and /readyz). */
export async function pendingMigrations(db: Kysely<unknown>, dialect: DialectName): Promise<string[]> {
  return (await migrationState(db, dialect)).pending;
}

/**
 * Migrations not yet applied, and migrations the database has that this version does not know
 * (a newer version migrated it: this one refuses to start on it, kysely's Migrator calls it
 * corrupted).
 */
export async function migrationState(db: Kysely<unknown>, dialect: DialectName): Promise<{ pending: string[]; unknown: string[] }> {
  const migrator = new Migrator({ db, provider: providerFor(dialect) });
  const all = await migrator.getMigrations();
  const known = new Set(all.map((m) => m.name));
  let executed: string[] = [];
  if (all.some((m) => m.executedAt !== undefined)) {
    const rows = await (db as Kysely<{ kysely_migration: { name: string } }>).selectFrom('kysely_migration').select('name').execute();
    executed = rows.map((row) => row.name);
  }
  return { pending: all.filter((m) => m.executedAt === undefined).map((m) => m.name), unknown: executed.filter((name) => !known.has(name)) };
}

