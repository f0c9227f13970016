/**
 * readKcgDatabase: everything smart_proxy_container_gateway keeps, read (never written) from its
 * SQLite file or PostgreSQL database. The schema is the one its Sequel migrations build
 * (lib/smart_proxy_container_gateway/sequel_migrations/001..005): `repositories(id, name,
 * auth_required)`, `users(id, name)`, `authentication_tokens(id, token_checksum, expire_at,
 * user_id)`, `repositories_users(repository_id, user_id)`, and from 005 `hosts(id, uuid)` and
 * `hosts_repositories(host_id, repository_id)`; Sequel's migrator records the version in
 * `schema_info`. Anything else is refused: this is not a database the gateway understands.
 *
 * Token checksums are SHA-256 hex of the token, as the gateway's own, so tokens KCG issued keep
 * working. `expire_at` is a timestamp without a zone written in the proxy's local time
 * (database.rb: `Sequel.default_timezone = :local`); it is read the same way.
 */
import { existsSync } from 'node:fs';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import { isPostgresUrl, sqliteFileOf } from '../store/connect.js';

interface KcgTables {
  schema_info: { version: number };
  repositories: { id: number; name: string; auth_required: unknown };
  users: { id: number; name: string };
  authentication_tokens: { id: number; token_checksum: string; expire_at: unknown; user_id: number | null };
  repositories_users: { repository_id: number; user_id: number };
  hosts: { id: number; uuid: string };
  hosts_repositories: { host_id: number; repository_id: number };
}

export interface KcgSnapshot {
  readonly schemaVersion: number;
  readonly repositories: ReadonlyArray<{ readonly name: string; readonly authRequired: boolean }>;
  readonly users: readonly string[];
  readonly userRepositories: ReadonlyArray<readonly [user: string, repository: string]>;
  readonly hosts: readonly string[];
  readonly hostRepositories: ReadonlyArray<readonly [uuid: string, repository: string]>;
  readonly tokens: ReadonlyArray<{ readonly username: string; readonly checksum: string; readonly expiresAt: number }>;
}

export class KcgDatabaseUnrecognised extends Error {}

/** 003_authorization_reorg made the schema read here; 005 added hosts. */
const OLDEST_SCHEMA = 3;
const HOSTS_SCHEMA = 5;
const REQUIRED_TABLES = ['schema_info', 'repositories', 'users', 'authentication_tokens', 'repositories_users'] as const;

export async function readKcgDatabase(url: string): Promise<KcgSnapshot> {
  const { db, tables } = await openReadOnly(url);
  try {
    const missing = REQUIRED_TABLES.filter((table) => !tables.has(table));
    if (missing.length > 0) {
      throw new KcgDatabaseUnrecognised(`not a smart_proxy_container_gateway database: no ${missing.join(', ')} table${missing.length > 1 ? 's' : ''}`);
    }
    const version = Number((await db.selectFrom('schema_info').select('version').executeTakeFirst())?.version ?? 0);
    if (version < OLDEST_SCHEMA) {
      throw new KcgDatabaseUnrecognised(`smart_proxy_container_gateway schema version ${version} is older than ${OLDEST_SCHEMA}: start that smart_proxy_container_gateway once to migrate it, then import`);
    }
    const withHosts = version >= HOSTS_SCHEMA && tables.has('hosts') && tables.has('hosts_repositories');
    const repositories = await db.selectFrom('repositories').select(['name', 'auth_required']).orderBy('name').execute();
    const users = await db.selectFrom('users').select('name').orderBy('name').execute();
    const userRepositories = await db
      .selectFrom('repositories_users')
      .innerJoin('users', 'users.id', 'repositories_users.user_id')
      .innerJoin('repositories', 'repositories.id', 'repositories_users.repository_id')
      .select(['users.name as user', 'repositories.name as repository'])
      .execute();
    const tokens = await db
      .selectFrom('authentication_tokens')
      .innerJoin('users', 'users.id', 'authentication_tokens.user_id')
      .select(['users.name as username', 'authentication_tokens.token_checksum as checksum', 'authentication_tokens.expire_at as expireAt'])
      .execute();
    const hosts = withHosts ? await db.selectFrom('hosts').select('uuid').orderBy('uuid').execute() : [];
    const hostRepositories = withHosts
      ? await db
          .selectFrom('hosts_repositories')
          .innerJoin('hosts', 'hosts.id', 'hosts_repositories.host_id')
          .innerJoin('repositories', 'repositories.id', 'hosts_repositories.repository_id')
          .select(['hosts.uuid as uuid', 'repositories.name as repository'])
          .execute()
      : [];
    return {
      schemaVersion: version,
      repositories: repositories.map((row) => ({ name: row.name, authRequired: sequelBoolean(row.auth_required) })),
      users: users.map((row) => row.name),
      userRepositories: userRepositories.map((row) => [row.user, row.repository] as const),
      hosts: hosts.map((row) => row.uuid),
      hostRepositories: hostRepositories.map((row) => [row.uuid, row.repository] as const),
      tokens: tokens.flatMap((row) => {
        const expiresAt = sequelLocalTime(row.expireAt);
        return expiresAt === undefined || !/^[0-9a-f]{64}$/.test(row.checksum) ? [] : [{ username: row.username, checksum: row.checksum, expiresAt }];
      }),
    };
  } finally {
    await db.destroy();
  }
}

async function openReadOnly(url: string): Promise<{ db: Kysely<KcgTables>; tables: Set<string> }> {
  if (isPostgresUrl(url)) {
    const pool = new pg.Pool({ connectionString: withDefaultSocket(url), max: 1, connectionTimeoutMillis: 10_000 });
    pool.on('error', () => undefined);
    const db = new Kysely<KcgTables>({ dialect: new PostgresDialect({ pool }) });
    try {
      await sql`SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY`.execute(db);
      const rows = await sql<{ name: string }>`SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()`.execute(db);
      return { db, tables: new Set(rows.rows.map((row) => row.name)) };
    } catch (error) {
      await db.destroy();
      throw error;
    }
  }
  const file = sqliteFileOf(url.replace(/\?.*$/, ''));
  if (file === undefined || file === ':memory:') throw new KcgDatabaseUnrecognised(`not a database location: ${url} (expected sqlite://PATH or postgres://...)`);
  if (!existsSync(file)) throw new KcgDatabaseUnrecognised(`no such file: ${file}`);
  let sqlite: SqliteDatabase.Database;
  try {
    sqlite = new SqliteDatabase(file, { readonly: true, fileMustExist: true });
    sqlite.pragma('busy_timeout = 30000');
    const names = sqlite.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>;
    return { db: new Kysely<KcgTables>({ dialect: new SqliteDialect({ database: sqlite }) }), tables: new Set(names.map((row) => row.name)) };
  } catch (error) {
    if (error instanceof KcgDatabaseUnrecognised) throw error;
    throw new KcgDatabaseUnrecognised(`${file} is not an SQLite database: ${(error as Error).message}`);
  }
}

/**
 * KCG's default is `postgresql:///container_gateway`: the local server over its Unix socket, which
 * libpq finds by itself but node-postgres does not.
 */
function withDefaultSocket(url: string): string {
  const parsed = new URL(url);
  if (parsed.hostname !== '' || parsed.searchParams.has('host')) return url;
  parsed.searchParams.set('host', '/var/run/postgresql');
  return parsed.href;
}

/** Sequel writes booleans as 1/0 (SQLite), 't'/'f' (old SQLite) or true/false (PostgreSQL). */
function sequelBoolean(value: unknown): boolean {
  return value === true || value === 1 || value === '1' || value === 't' || value === 'true';
}

/** A Sequel timestamp without zone, meaning local time; a Date from node-postgres already is one. */
export function sequelLocalTime(value: unknown): number | undefined {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value.getTime();
  if (typeof value !== 'string') return undefined;
  const match = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?\s*(Z|[+-]\d{2}:?\d{2})?$/.exec(value.trim());
  if (match === null) return undefined;
  const [, year, month, day, hour, minute, second, fraction = '0', zone] = match;
  const millis = Math.round(Number(`0.${fraction}`) * 1000);
  if (zone === undefined) return new Date(Number(year), Number(month) - 1, Number(day), Number(hour), Number(minute), Number(second), millis).getTime();
  const offset = zone === 'Z' ? 0 : (zone.startsWith('-') ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(-2)));
  return Date.UTC(Number(year), Number(month) - 1, Number(day), Number(hour), Number(minute), Number(second), millis) - offset * 60_000;
}
