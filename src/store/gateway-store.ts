/**
 * GatewayStore: every query the gateway makes, typed, over kysely (SQLite or PostgreSQL).
 * Each write is one transaction, so a failed or refused update leaves the data as it was.
 * Writes are batched in chunks that stay under both databases' bind-parameter limits, which is
 * what makes 100,000 repositories in one push take well under the 2 s budget.
 */
import type { Kysely, Transaction } from 'kysely';
import type { Database } from './schema.js';

const ROWS_PER_INSERT = 500;
const IDS_PER_STATEMENT = 1_000;

export interface RepositoryRow {
  readonly id: number;
  readonly name: string;
  readonly authRequired: boolean;
}

export interface TokenOwner {
  readonly username: string;
  readonly expiresAt: number;
}

export interface ReplaceCounts {
  readonly total: number;
  readonly added: number;
  readonly removed: number;
  readonly changed: number;
}

export interface MappingCounts {
  readonly subjects: number;
  readonly mappings: number;
  /** Repository names in the push that the gateway does not know (ignored, as Katello's plugin does). */
  readonly unknownRepositories: number;
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const result: T[][] = [];
  for (let start = 0; start < items.length; start += size) result.push(items.slice(start, start + size));
  return result;
}

type Db = Kysely<Database> | Transaction<Database>;

export class GatewayStore {
  constructor(private readonly db: Kysely<Database>) {}

  // ---- reads ----

  async loadRepositories(): Promise<RepositoryRow[]> {
    const rows = await this.db.selectFrom('repositories').select(['id', 'name', 'auth_required']).execute();
    return rows.map((row) => ({ id: Number(row.id), name: row.name, authRequired: Number(row.auth_required) === 1 }));
  }

  async findTokenOwner(checksum: string): Promise<TokenOwner | undefined> {
    const row = await this.db
      .selectFrom('tokens')
      .innerJoin('users', 'users.id', 'tokens.user_id')
      .select(['users.name as username', 'tokens.expires_at as expiresAt'])
      .where('tokens.token_checksum', '=', checksum)
      .executeTakeFirst();
    return row === undefined ? undefined : { username: row.username, expiresAt: Number(row.expiresAt) };
  }

  async repositoryIdsOfUser(username: string): Promise<number[]> {
    const rows = await this.db
      .selectFrom('user_repositories')
      .innerJoin('users', 'users.id', 'user_repositories.user_id')
      .select('user_repositories.repository_id as id')
      .where('users.name', '=', username)
      .execute();
    return rows.map((row) => Number(row.id));
  }

  async findHost(uuid: string): Promise<boolean> {
    const row = await this.db.selectFrom('hosts').select('id').where('uuid', '=', uuid).executeTakeFirst();
    return row !== undefined;
  }

  async repositoryIdsOfHost(uuid: string): Promise<number[]> {
    const rows = await this.db
      .selectFrom('host_repositories')
      .innerJoin('hosts', 'hosts.id', 'host_repositories.host_id')
      .select('host_repositories.repository_id as id')
      .where('hosts.uuid', '=', uuid)
      .execute();
    return rows.map((row) => Number(row.id));
  }

  async listUsers(): Promise<string[]> {
    const rows = await this.db.selectFrom('users').select('name').orderBy('name').execute();
    return rows.map((row) => row.name);
  }

  async readSecret(name: string): Promise<string | undefined> {
    const row = await this.db.selectFrom('secrets').select('value').where('name', '=', name).executeTakeFirst();
    return row?.value;
  }

  /** Stores `value` unless a secret of that name exists; returns the one that is stored. */
  async ensureSecret(name: string, value: string): Promise<string> {
    await this.db.insertInto('secrets').values({ name, value }).onConflict((oc) => oc.column('name').doNothing()).execute();
    return (await this.readSecret(name)) ?? value;
  }

  // ---- writes ----

  /**
   * Replaces the repository list. Repositories that stay keep their user and host mappings
   * (Katello's own plugin drops them all here, locking logged-in users out until the next
   * mapping push); mappings of removed repositories go with them.
   */
  async replaceRepositoryList(entries: ReadonlyMap<string, boolean>): Promise<ReplaceCounts> {
    return this.db.transaction().execute(async (trx) => {
      const existing = await trx.selectFrom('repositories').select(['id', 'name', 'auth_required']).execute();
      const existingByName = new Map(existing.map((row) => [row.name, row]));
      const removedIds = existing.filter((row) => !entries.has(row.name)).map((row) => Number(row.id));
      const added: Array<{ name: string; auth_required: number }> = [];
      const nowPrivate: number[] = [];
      const nowPublic: number[] = [];
      for (const [name, authRequired] of entries) {
        const row = existingByName.get(name);
        if (row === undefined) added.push({ name, auth_required: authRequired ? 1 : 0 });
        else if ((Number(row.auth_required) === 1) !== authRequired) (authRequired ? nowPrivate : nowPublic).push(Number(row.id));
      }
      for (const ids of chunks(removedIds, IDS_PER_STATEMENT)) {
        await trx.deleteFrom('user_repositories').where('repository_id', 'in', ids).execute();
        await trx.deleteFrom('host_repositories').where('repository_id', 'in', ids).execute();
        await trx.deleteFrom('repositories').where('id', 'in', ids).execute();
      }
      for (const [ids, value] of [[nowPrivate, 1], [nowPublic, 0]] as const) {
        for (const chunk of chunks(ids, IDS_PER_STATEMENT)) {
          await trx.updateTable('repositories').set({ auth_required: value }).where('id', 'in', chunk).execute();
        }
      }
      for (const rows of chunks(added, ROWS_PER_INSERT)) await trx.insertInto('repositories').values(rows).execute();
      return { total: entries.size, added: added.length, removed: removedIds.length, changed: nowPrivate.length + nowPublic.length };
    });
  }

  /** Replaces every user's mappings with the pushed ones; users are created as needed. */
  async replaceUserMappings(mappings: ReadonlyMap<string, readonly string[]>): Promise<MappingCounts> {
    return this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('user_repositories').execute();
      const userIds = await ensureNamed(trx, 'users', [...mappings.keys()]);
      return insertMappings(trx, 'user_repositories', 'user_id', userIds, mappings);
    });
  }

  /** Replaces the list of known hosts; hosts that go lose their mappings. */
  async replaceHosts(uuids: ReadonlySet<string>): Promise<ReplaceCounts> {
    return this.db.transaction().execute(async (trx) => {
      const existing = await trx.selectFrom('hosts').select(['id', 'uuid']).execute();
      const removedIds = existing.filter((row) => !uuids.has(row.uuid)).map((row) => Number(row.id));
      for (const ids of chunks(removedIds, IDS_PER_STATEMENT)) {
        await trx.deleteFrom('host_repositories').where('host_id', 'in', ids).execute();
        await trx.deleteFrom('hosts').where('id', 'in', ids).execute();
      }
      const known = new Set(existing.map((row) => row.uuid));
      const added = [...uuids].filter((uuid) => !known.has(uuid));
      for (const rows of chunks(added, ROWS_PER_INSERT)) await trx.insertInto('hosts').values(rows.map((uuid) => ({ uuid }))).execute();
      return { total: uuids.size, added: added.length, removed: removedIds.length, changed: 0 };
    });
  }

  /**
   * Host mappings: `replace` drops every host's mappings first (PUT /host_repository_mapping);
   * `merge` replaces only the hosts named in the push (PUT /update_host_repositories).
   */
  async writeHostMappings(mappings: ReadonlyMap<string, readonly string[]>, mode: 'replace' | 'merge'): Promise<MappingCounts> {
    return this.db.transaction().execute(async (trx) => {
      const hostIds = await ensureNamed(trx, 'hosts', [...mappings.keys()]);
      if (mode === 'replace') await trx.deleteFrom('host_repositories').execute();
      else {
        for (const ids of chunks([...hostIds.values()], IDS_PER_STATEMENT)) await trx.deleteFrom('host_repositories').where('host_id', 'in', ids).execute();
      }
      return insertMappings(trx, 'host_repositories', 'host_id', hostIds, mappings);
    });
  }

  /** A successful login: the token's checksum and expiry, and the user's repositories from upstream. */
  async recordLogin(login: { username: string; tokenChecksum: string; expiresAt: number; repositories: readonly string[] }): Promise<MappingCounts> {
    return this.db.transaction().execute(async (trx) => {
      const userIds = await ensureNamed(trx, 'users', [login.username]);
      const userId = userIds.get(login.username) as number;
      await trx
        .insertInto('tokens')
        .values({ user_id: userId, token_checksum: login.tokenChecksum, expires_at: login.expiresAt })
        .onConflict((oc) => oc.column('token_checksum').doUpdateSet({ user_id: userId, expires_at: login.expiresAt }))
        .execute();
      await trx.deleteFrom('user_repositories').where('user_id', '=', userId).execute();
      return insertMappings(trx, 'user_repositories', 'user_id', userIds, new Map([[login.username, login.repositories]]));
    });
  }

  async pruneExpiredTokens(now: number): Promise<number> {
    const result = await this.db.deleteFrom('tokens').where('expires_at', '<', now).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

/** Ids of the named users or hosts, inserting the ones that do not exist yet. */
async function ensureNamed(trx: Db, table: 'users' | 'hosts', names: readonly string[]): Promise<Map<string, number>> {
  const column = table === 'users' ? 'name' : 'uuid';
  const ids = new Map<string, number>();
  for (const chunk of chunks(names, IDS_PER_STATEMENT)) {
    const rows =
      table === 'users'
        ? await trx.selectFrom('users').select(['id', 'name as key']).where('name', 'in', chunk).execute()
        : await trx.selectFrom('hosts').select(['id', 'uuid as key']).where('uuid', 'in', chunk).execute();
    for (const row of rows) ids.set(row.key, Number(row.id));
  }
  const missing = names.filter((name) => !ids.has(name));
  for (const chunk of chunks(missing, ROWS_PER_INSERT)) {
    const inserted =
      table === 'users'
        ? await trx.insertInto('users').values(chunk.map((name) => ({ name }))).returning(['id', 'name as key']).execute()
        : await trx.insertInto('hosts').values(chunk.map((uuid) => ({ uuid }))).returning(['id', 'uuid as key']).execute();
    for (const row of inserted) ids.set(row.key, Number(row.id));
  }
  void column;
  return ids;
}

async function insertMappings(
  trx: Db,
  table: 'user_repositories' | 'host_repositories',
  subjectColumn: 'user_id' | 'host_id',
  subjectIds: ReadonlyMap<string, number>,
  mappings: ReadonlyMap<string, readonly string[]>,
): Promise<MappingCounts> {
  const wanted = new Set<string>();
  for (const names of mappings.values()) for (const name of names) wanted.add(name);
  const repositoryIds = new Map<string, number>();
  for (const chunk of chunks([...wanted], IDS_PER_STATEMENT)) {
    const rows = await trx.selectFrom('repositories').select(['id', 'name']).where('name', 'in', chunk).execute();
    for (const row of rows) repositoryIds.set(row.name, Number(row.id));
  }
  const rows: Array<{ subject: number; repository: number }> = [];
  for (const [subject, names] of mappings) {
    const subjectId = subjectIds.get(subject);
    if (subjectId === undefined) continue;
    for (const repositoryId of new Set(names.map((name) => repositoryIds.get(name)).filter((id): id is number => id !== undefined))) {
      rows.push({ subject: subjectId, repository: repositoryId });
    }
  }
  for (const chunk of chunks(rows, ROWS_PER_INSERT)) {
    const values = chunk.map((row) => ({ [subjectColumn]: row.subject, repository_id: row.repository }));
    if (table === 'user_repositories') await trx.insertInto('user_repositories').values(values as Array<{ user_id: number; repository_id: number }>).execute();
    else await trx.insertInto('host_repositories').values(values as Array<{ host_id: number; repository_id: number }>).execute();
  }
  return { subjects: mappings.size, mappings: rows.length, unknownRepositories: wanted.size - repositoryIds.size };
}
