/**
 * GatewayStore: every query the gateway makes, typed, over kysely (SQLite or PostgreSQL).
 * Each write is one transaction, so a failed or refused update leaves the data as it was, and
 * holds the cross-instance write lock, so concurrent writers never half-apply each other.
 * Bulk statements (bulk-writes.ts) keep 100,000 repositories in one push well under 2 s.
 */
import type { Kysely, Transaction } from 'kysely';
import { bulkWritesFor, type BulkWrites, type MappingTable } from './bulk-writes.js';
import type { DialectName } from './migrations.js';
import type { Database } from './schema.js';

/** The change notice for "anything may have changed" (management pushes). */
export const ALL_CHANGED = 'all';
/** Announced when a signing key is added or removed; caches of access facts are unaffected. */
export const SIGNING_KEYS_CHANGED = 'signing-keys';

export interface SigningKeyRow {
  readonly kid: string;
  /** PKCS#8 PEM. */
  readonly privateKey: string;
  /** Self-signed X.509 PEM of the public key. */
  readonly certificate: string;
  readonly createdAt: number;
  /** Epoch ms from which the key signs (until a newer key activates); it verifies from creation. */
  readonly activatesAt: number;
}

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

/** What another gateway (smart_proxy_container_gateway) knew: see importSnapshot. */
export interface AccessSnapshot {
  readonly repositories: ReadonlyMap<string, boolean>;
  /** Every user, with the repositories mapped to them (possibly none). */
  readonly userMappings: ReadonlyMap<string, readonly string[]>;
  /** Every host, with the repositories mapped to it (possibly none). */
  readonly hostMappings: ReadonlyMap<string, readonly string[]>;
  readonly tokens: ReadonlyArray<{ readonly username: string; readonly checksum: string; readonly expiresAt: number }>;
}

export interface SnapshotCounts {
  readonly repositories: ReplaceCounts;
  readonly users: MappingCounts;
  readonly hosts: ReplaceCounts;
  readonly hostMappings: MappingCounts;
  readonly tokens: number;
}

export class GatewayStore {
  private readonly bulk: BulkWrites;

  /**
   * @param reads a second connection for reads where the dialect allows one (SQLite in WAL mode):
   *   pulls that need the database never queue behind a long management transaction.
   */
  constructor(
    private readonly db: Kysely<Database>,
    dialect: DialectName,
    private readonly reads: Kysely<Database> = db,
  ) {
    this.bulk = bulkWritesFor(dialect);
  }

  // ---- reads ----

  async loadRepositories(): Promise<RepositoryRow[]> {
    const rows = await this.reads.selectFrom('repositories').select(['id', 'name', 'auth_required']).execute();
    return rows.map((row) => ({ id: Number(row.id), name: row.name, authRequired: Number(row.auth_required) === 1 }));
  }

  async findTokenOwner(checksum: string): Promise<TokenOwner | undefined> {
    const row = await this.reads
      .selectFrom('tokens')
      .innerJoin('users', 'users.id', 'tokens.user_id')
      .select(['users.name as username', 'tokens.expires_at as expiresAt'])
      .where('tokens.token_checksum', '=', checksum)
      .executeTakeFirst();
    return row === undefined ? undefined : { username: row.username, expiresAt: Number(row.expiresAt) };
  }

  async repositoryIdsOfUser(username: string): Promise<number[]> {
    const rows = await this.reads
      .selectFrom('user_repositories')
      .innerJoin('users', 'users.id', 'user_repositories.user_id')
      .select('user_repositories.repository_id as id')
      .where('users.name', '=', username)
      .execute();
    return rows.map((row) => Number(row.id));
  }

  async findHost(uuid: string): Promise<boolean> {
    const row = await this.reads.selectFrom('hosts').select('id').where('uuid', '=', uuid).executeTakeFirst();
    return row !== undefined;
  }

  async repositoryIdsOfHost(uuid: string): Promise<number[]> {
    const rows = await this.reads
      .selectFrom('host_repositories')
      .innerJoin('hosts', 'hosts.id', 'host_repositories.host_id')
      .select('host_repositories.repository_id as id')
      .where('hosts.uuid', '=', uuid)
      .execute();
    return rows.map((row) => Number(row.id));
  }

  async listUsers(): Promise<string[]> {
    const rows = await this.reads.selectFrom('users').select('name').orderBy('name').execute();
    return rows.map((row) => row.name);
  }

  async readSecret(name: string): Promise<string | undefined> {
    const row = await this.reads.selectFrom('secrets').select('value').where('name', '=', name).executeTakeFirst();
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
    return this.write(ALL_CHANGED, (trx) => this.replaceRepositoryListIn(trx, entries));
  }

  private async replaceRepositoryListIn(trx: Transaction<Database>, entries: ReadonlyMap<string, boolean>): Promise<ReplaceCounts> {
    const existing = await trx.selectFrom('repositories').select(['id', 'name', 'auth_required']).execute();
    const removedIds = existing.filter((row) => !entries.has(row.name)).map((row) => Number(row.id));
    const existingByName = new Map(existing.map((row) => [row.name, row]));
    const added: Array<{ name: string; auth_required: number }> = [];
    const nowPrivate: number[] = [];
    const nowPublic: number[] = [];
    for (const [name, authRequired] of entries) {
      const row = existingByName.get(name);
      if (row === undefined) added.push({ name, auth_required: authRequired ? 1 : 0 });
      else if ((Number(row.auth_required) === 1) !== authRequired) (authRequired ? nowPrivate : nowPublic).push(Number(row.id));
    }
    await this.bulk.deleteWhereIn(trx, 'user_repositories', 'repository_id', removedIds);
    await this.bulk.deleteWhereIn(trx, 'host_repositories', 'repository_id', removedIds);
    await this.bulk.deleteWhereIn(trx, 'repositories', 'id', removedIds);
    await this.bulk.setAuthRequired(trx, nowPrivate, 1);
    await this.bulk.setAuthRequired(trx, nowPublic, 0);
    await this.bulk.insertRepositories(trx, added);
    return { total: entries.size, added: added.length, removed: removedIds.length, changed: nowPrivate.length + nowPublic.length };
  }

  /** Replaces every user's mappings with the pushed ones; users are created as needed. */
  async replaceUserMappings(mappings: ReadonlyMap<string, readonly string[]>): Promise<MappingCounts> {
    return this.write(ALL_CHANGED, (trx) => this.replaceUserMappingsIn(trx, mappings));
  }

  private async replaceUserMappingsIn(trx: Transaction<Database>, mappings: ReadonlyMap<string, readonly string[]>): Promise<MappingCounts> {
    await trx.deleteFrom('user_repositories').execute();
    const userIds = await this.bulk.ensureNamed(trx, 'users', [...mappings.keys()]);
    return this.insertMappings(trx, 'user_repositories', userIds, mappings);
  }

  /** Replaces the list of known hosts; hosts that go lose their mappings. */
  async replaceHosts(uuids: ReadonlySet<string>): Promise<ReplaceCounts> {
    return this.write(ALL_CHANGED, (trx) => this.replaceHostsIn(trx, uuids));
  }

  private async replaceHostsIn(trx: Transaction<Database>, uuids: ReadonlySet<string>): Promise<ReplaceCounts> {
    const existing = await trx.selectFrom('hosts').select(['id', 'uuid']).execute();
    const removedIds = existing.filter((row) => !uuids.has(row.uuid)).map((row) => Number(row.id));
    await this.bulk.deleteWhereIn(trx, 'host_repositories', 'host_id', removedIds);
    await this.bulk.deleteWhereIn(trx, 'hosts', 'id', removedIds);
    const known = new Set(existing.map((row) => row.uuid));
    const added = [...uuids].filter((uuid) => !known.has(uuid));
    await this.bulk.ensureNamed(trx, 'hosts', added);
    return { total: uuids.size, added: added.length, removed: removedIds.length, changed: 0 };
  }

  /**
   * Host mappings: `replace` drops every host's mappings first and maps only hosts the last
   * update_hosts named (PUT /host_repository_mapping, as KCG's build_host_entries); `merge`
   * replaces only the hosts named in the push, adding hosts it does not know yet
   * (PUT /update_host_repositories, KCG's find_or_create_host).
   */
  async writeHostMappings(mappings: ReadonlyMap<string, readonly string[]>, mode: 'replace' | 'merge'): Promise<MappingCounts> {
    const change = mode === 'replace' || mappings.size !== 1 ? ALL_CHANGED : `host:${[...mappings.keys()][0] ?? ''}`;
    return this.write(change, (trx) => this.writeHostMappingsIn(trx, mappings, mode));
  }

  private async writeHostMappingsIn(trx: Transaction<Database>, mappings: ReadonlyMap<string, readonly string[]>, mode: 'replace' | 'merge'): Promise<MappingCounts> {
    const hostIds = mode === 'replace' ? await this.bulk.idsByName(trx, 'hosts', [...mappings.keys()]) : await this.bulk.ensureNamed(trx, 'hosts', [...mappings.keys()]);
    if (mode === 'replace') await trx.deleteFrom('host_repositories').execute();
    else await this.bulk.deleteWhereIn(trx, 'host_repositories', 'host_id', [...hostIds.values()]);
    return this.insertMappings(trx, 'host_repositories', hostIds, mappings);
  }

  /**
   * Everything a running smart_proxy_container_gateway knew, in one transaction: its repository
   * list, users with their mappings, hosts with theirs, and the checksums of tokens it issued (so
   * they keep working). Replaces what the gateway had, so running it twice changes nothing more.
   */
  async importSnapshot(snapshot: AccessSnapshot): Promise<SnapshotCounts> {
    return this.write(ALL_CHANGED, async (trx) => {
      const repositories = await this.replaceRepositoryListIn(trx, snapshot.repositories);
      const users = await this.replaceUserMappingsIn(trx, snapshot.userMappings);
      const hosts = await this.replaceHostsIn(trx, new Set(snapshot.hostMappings.keys()));
      const hostMappings = await this.writeHostMappingsIn(trx, snapshot.hostMappings, 'replace');
      const userIds = await this.bulk.ensureNamed(trx, 'users', [...new Set(snapshot.tokens.map((token) => token.username))]);
      let tokens = 0;
      for (const token of snapshot.tokens) {
        const userId = userIds.get(token.username);
        if (userId === undefined) continue;
        await trx
          .insertInto('tokens')
          .values({ user_id: userId, token_checksum: token.checksum, expires_at: token.expiresAt })
          .onConflict((oc) => oc.column('token_checksum').doUpdateSet({ user_id: userId, expires_at: token.expiresAt }))
          .execute();
        tokens += 1;
      }
      return { repositories, users, hosts, hostMappings, tokens };
    });
  }

  /** A successful login: the token's checksum and expiry, and the user's repositories from upstream. */
  async recordLogin(login: { username: string; tokenChecksum: string; expiresAt: number; repositories: readonly string[] }): Promise<MappingCounts> {
    return this.write(`user:${login.username}`, async (trx) => {
      const userIds = await this.bulk.ensureNamed(trx, 'users', [login.username]);
      const userId = userIds.get(login.username);
      if (userId === undefined) throw new Error('user row missing after insert');
      await trx
        .insertInto('tokens')
        .values({ user_id: userId, token_checksum: login.tokenChecksum, expires_at: login.expiresAt })
        .onConflict((oc) => oc.column('token_checksum').doUpdateSet({ user_id: userId, expires_at: login.expiresAt }))
        .execute();
      const wanted = await this.bulk.idsByName(trx, 'repositories', [...new Set(login.repositories)]);
      const mapped = await trx.selectFrom('user_repositories').select('repository_id').where('user_id', '=', userId).execute();
      const unknownRepositories = new Set(login.repositories).size - wanted.size;
      // A user logging in again usually has the same repositories: then nothing is rewritten.
      if (sameIds(mapped.map((row) => Number(row.repository_id)), wanted.values())) return { subjects: 1, mappings: wanted.size, unknownRepositories };
      await trx.deleteFrom('user_repositories').where('user_id', '=', userId).execute();
      return this.insertMappings(trx, 'user_repositories', userIds, new Map([[login.username, login.repositories]]));
    });
  }

  async signingKeys(): Promise<SigningKeyRow[]> {
    const rows = await this.reads.selectFrom('signing_keys').selectAll().orderBy('activates_at').orderBy('kid').execute();
    return rows.map((row) => ({
      kid: row.kid,
      privateKey: row.private_key,
      certificate: row.certificate,
      createdAt: Number(row.created_at),
      activatesAt: Number(row.activates_at),
    }));
  }

  /** Adds a key; announced, so the other instances load it before it signs anything. */
  async addSigningKey(key: SigningKeyRow): Promise<void> {
    await this.write(SIGNING_KEYS_CHANGED, async (trx) => {
      await trx
        .insertInto('signing_keys')
        .values({ kid: key.kid, private_key: key.privateKey, certificate: key.certificate, created_at: key.createdAt, activates_at: key.activatesAt })
        .execute();
    });
  }

  async removeSigningKeys(kids: readonly string[]): Promise<void> {
    if (kids.length === 0) return;
    await this.write(SIGNING_KEYS_CHANGED, async (trx) => {
      await trx.deleteFrom('signing_keys').where('kid', 'in', [...kids]).execute();
    });
  }

  async pruneExpiredTokens(now: number): Promise<number> {
    const result = await this.db.deleteFrom('tokens').where('expires_at', '<', now).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /**
   * One write: a transaction that holds the cross-instance write lock and, on commit, tells
   * the other instances what changed (so their caches drop it within the second).
   */
  private write<T>(change: string, work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(async (trx) => {
      await this.bulk.lockWrites(trx);
      const result = await work(trx);
      await this.bulk.announce(trx, change);
      return result;
    });
  }

  private async insertMappings(
    trx: Transaction<Database>,
    table: MappingTable,
    subjectIds: ReadonlyMap<string, number>,
    mappings: ReadonlyMap<string, readonly string[]>,
  ): Promise<MappingCounts> {
    const wanted = new Set<string>();
    for (const names of mappings.values()) for (const name of names) wanted.add(name);
    const repositoryIds = await this.bulk.idsByName(trx, 'repositories', [...wanted]);
    const pairs: Array<readonly [number, number]> = [];
    for (const [subject, names] of mappings) {
      const subjectId = subjectIds.get(subject);
      if (subjectId === undefined) continue;
      const ids = new Set(names.map((name) => repositoryIds.get(name)).filter((id): id is number => id !== undefined));
      for (const repositoryId of ids) pairs.push([subjectId, repositoryId]);
    }
    await this.bulk.insertMappings(trx, table, pairs);
    const subjects = [...mappings.keys()].filter((subject) => subjectIds.has(subject)).length;
    return { subjects, mappings: pairs.length, unknownRepositories: wanted.size - repositoryIds.size };
  }
}

function sameIds(current: readonly number[], wanted: Iterable<number>): boolean {
  const have = new Set(current);
  let count = 0;
  for (const id of wanted) {
    if (!have.has(id)) return false;
    count += 1;
  }
  return count === have.size;
}
