/**
 * buildKcgDatabase: a smart_proxy_container_gateway database as KCG 3.5 leaves it, for import
 * tests. The schema comes from running its Sequel migrations in order
 * (lib/smart_proxy_container_gateway/sequel_migrations/001_initial.rb .. 005_host_repositories.rb),
 * each written out as the SQL Sequel generates for it on SQLite and on PostgreSQL, with the
 * migrator's `schema_info` table; the rows are written as container_gateway_main.rb writes them
 * (`update_repository_list`, `insert_token`, `update_user_repositories`, `update_host_repositories`):
 * booleans as Sequel stores them (1/0 in SQLite, booleans in PostgreSQL), `expire_at` as a
 * timestamp without zone in local time (database.rb sets `Sequel.default_timezone = :local`), and
 * only the SHA-256 checksum of each token.
 */
import { createHash } from 'node:crypto';
import SqliteDatabase from 'better-sqlite3';
import pg from 'pg';

export interface KcgContent {
  readonly repositories: ReadonlyArray<{ readonly name: string; readonly authRequired: boolean }>;
  readonly users: Readonly<Record<string, readonly string[]>>;
  readonly hosts: Readonly<Record<string, readonly string[]>>;
  readonly tokens: ReadonlyArray<{ readonly user: string; readonly token: string; readonly expiresAt: Date }>;
}

type Dialect = 'sqlite' | 'postgres';

function migrations(dialect: Dialect): string[] {
  const id = dialect === 'sqlite' ? 'integer NOT NULL PRIMARY KEY AUTOINCREMENT' : 'serial PRIMARY KEY';
  const timestamp = dialect === 'sqlite' ? 'timestamp' : 'timestamp without time zone';
  const falseValue = dialect === 'sqlite' ? '0' : 'false';
  return [
    'CREATE TABLE schema_info (version integer DEFAULT 0 NOT NULL)',
    'INSERT INTO schema_info (version) VALUES (0)',
    // 001_initial.rb
    `CREATE TABLE unauthenticated_repositories (id ${id}, name varchar(255) NOT NULL)`,
    // 002_auth_tokens.rb
    `CREATE TABLE authentication_tokens (id ${id}, username varchar(255) NOT NULL, token_checksum varchar(255) NOT NULL, expire_at ${timestamp} NOT NULL)`,
    // 003_authorization_reorg.rb
    `CREATE TABLE repositories (id ${id}, name varchar(255) NOT NULL, auth_required boolean NOT NULL)`,
    `CREATE TABLE users (id ${id}, name varchar(255) NOT NULL)`,
    `INSERT INTO repositories (name, auth_required) SELECT name, ${falseValue} FROM unauthenticated_repositories`,
    'INSERT INTO users (name) SELECT username FROM authentication_tokens',
    'ALTER TABLE authentication_tokens ADD COLUMN user_id integer REFERENCES users',
    'UPDATE authentication_tokens SET user_id = (SELECT id FROM users WHERE name = authentication_tokens.username)',
    'ALTER TABLE authentication_tokens DROP COLUMN username',
    'CREATE TABLE repositories_users (repository_id integer NOT NULL REFERENCES repositories, user_id integer NOT NULL REFERENCES users, PRIMARY KEY (repository_id, user_id))',
    'DROP TABLE unauthenticated_repositories',
    // 004_users_repositories_cascade_delete.rb
    'CREATE TABLE repositories_users2 (repository_id integer REFERENCES repositories ON DELETE CASCADE, user_id integer REFERENCES users ON DELETE CASCADE, PRIMARY KEY (repository_id, user_id))',
    'CREATE INDEX repositories_users2_repository_id_user_id_index ON repositories_users2 (repository_id, user_id)',
    'INSERT INTO repositories_users2(repository_id, user_id) SELECT repository_id, user_id from repositories_users',
    'DROP TABLE repositories_users',
    'ALTER TABLE repositories_users2 RENAME TO repositories_users',
    // 005_host_repositories.rb
    `CREATE TABLE hosts (id ${id}, uuid varchar(255) NOT NULL UNIQUE)`,
    'CREATE TABLE hosts_repositories (host_id integer REFERENCES hosts ON DELETE CASCADE, repository_id integer REFERENCES repositories ON DELETE CASCADE, PRIMARY KEY (host_id, repository_id))',
    'UPDATE schema_info SET version = 5',
  ];
}

/** Sequel's literal for a Time in the local zone on SQLite: `YYYY-MM-DD HH:MM:SS.uuuuuu`. */
function sequelLocalTimestamp(date: Date): string {
  const pad = (value: number, width = 2) => String(value).padStart(width, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds() * 1000, 6)}`;
}

/** The rows, in the order and shape KCG writes them; `run` executes one statement with `?` placeholders. */
async function writeContent(content: KcgContent, run: (statement: string, values: unknown[]) => Promise<void>, dialect: Dialect): Promise<void> {
  const bool = (value: boolean) => (dialect === 'sqlite' ? (value ? 1 : 0) : value);
  for (const repository of content.repositories) await run('INSERT INTO repositories (name, auth_required) VALUES (?, ?)', [repository.name, bool(repository.authRequired)]);
  for (const user of new Set([...Object.keys(content.users), ...content.tokens.map((token) => token.user)])) await run('INSERT INTO users (name) VALUES (?)', [user]);
  for (const token of content.tokens) {
    const checksum = createHash('sha256').update(token.token).digest('hex');
    await run('INSERT INTO authentication_tokens (token_checksum, expire_at, user_id) VALUES (?, ?, (SELECT id FROM users WHERE name = ?))', [checksum, sequelLocalTimestamp(token.expiresAt), token.user]);
  }
  for (const [user, repositories] of Object.entries(content.users)) {
    for (const repository of repositories) {
      await run('INSERT INTO repositories_users (repository_id, user_id) SELECT r.id, u.id FROM repositories r, users u WHERE r.name = ? AND r.auth_required = ? AND u.name = ?', [repository, bool(true), user]);
    }
  }
  for (const [uuid, repositories] of Object.entries(content.hosts)) {
    await run('INSERT INTO hosts (uuid) VALUES (?)', [uuid]);
    for (const repository of repositories) {
      await run('INSERT INTO hosts_repositories (repository_id, host_id) SELECT r.id, h.id FROM repositories r, hosts h WHERE r.name = ? AND r.auth_required = ? AND h.uuid = ?', [repository, bool(true), uuid]);
    }
  }
}

export async function buildKcgSqlite(file: string, content: KcgContent): Promise<void> {
  const db = new SqliteDatabase(file);
  try {
    // database.rb: foreign keys on, WAL.
    db.pragma('foreign_keys = ON');
    db.pragma('journal_mode = wal');
    for (const statement of migrations('sqlite')) db.exec(statement);
    await writeContent(content, async (statement, values) => void db.prepare(statement).run(...values), 'sqlite');
  } finally {
    db.close();
  }
}

export async function buildKcgPostgres(url: string, content: KcgContent): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (const statement of migrations('postgres')) await client.query(statement);
    await writeContent(
      content,
      async (statement, values) => {
        let index = 0;
        await client.query(statement.replace(/\?/g, () => `$${(index += 1)}`), values);
      },
      'postgres',
    );
  } finally {
    await client.end();
  }
}
