/**
 * AccessFactsCache: the facts every access decision needs (repositories, and which ones each
 * user or host is mapped to), kept in process so the hot path does no database work once warm.
 * Management pushes invalidate everything; a login invalidates only that user. After a push the
 * old repository snapshot keeps answering while the new one loads (a 100,000-repository load
 * takes a moment), so pulls never wait for it; the push itself waits, so its caller sees its
 * effect as soon as it is answered. An invalidated caller's mappings are kept aside: if the
 * database cannot be asked (stopped, unreachable) they still answer, because the gateway serves
 * on from what it knew rather than failing pulls it decided a moment ago.
 */
import type { AccessFacts } from '../access/decide-access.js';
import { BoundedCache, stringBytes, type CacheView, type HasCaches } from '../caches/bounded-cache.js';
import { unreachable, type Identity } from '../access/identity.js';
import { visibleRepositories } from '../access/visible-repositories.js';
import { compareCodeUnits } from '../registry/pagination.js';
import type { GatewayStore, RepositoryRow } from './gateway-store.js';

/** Callers whose mappings are held at once; the least recently used are dropped first. */
const MAX_CACHED_CALLERS = 50_000;
/** A caller mapped to many repositories holds many ids: the bytes are bounded as well as the count. */
const MAX_CACHED_MAPPING_BYTES = 256 * 1024 * 1024;

const UNKNOWN_REPOSITORY: AccessFacts = Object.freeze({ repository: undefined, callerMapped: false });

function mappingsCache(name: string): BoundedCache<string, ReadonlySet<number>> {
  return new BoundedCache<string, ReadonlySet<number>>(name, {
    maxEntries: MAX_CACHED_CALLERS,
    maxBytes: MAX_CACHED_MAPPING_BYTES,
    // A Set of small integers costs about 16 bytes per member in V8.
    sizeOf: (ids, key) => ids.size * 16 + stringBytes(key) + 64,
  });
}

interface RepositorySnapshot {
  readonly byName: ReadonlyMap<string, RepositoryRow>;
  readonly nameById: ReadonlyMap<number, string>;
  readonly publicSorted: readonly string[];
}

export class AccessFactsCache implements HasCaches {
  private snapshot: RepositorySnapshot | undefined;
  private snapshotLoading: Promise<RepositorySnapshot> | undefined;
  /** The snapshot is out of date but its reload failed: keep serving it, and try again. */
  private snapshotStale = false;
  private readonly callerMappings = mappingsCache('caller-mappings');
  /** Mappings invalidated since they were loaded: the answer of last resort. */
  private readonly staleMappings = mappingsCache('stale-caller-mappings');
  /** Bumped on every invalidation, so a load that raced with a write is not kept. */
  private snapshotEpoch = 0;
  private mappingsEpoch = 0;

  constructor(private readonly store: GatewayStore) {}

  get caches(): readonly CacheView[] {
    return [this.callerMappings, this.staleMappings];
  }

  /** Synchronous whenever the snapshot and the caller's mappings are in memory: the hot path. */
  factsFor(identity: Identity, repository: string): AccessFacts | Promise<AccessFacts> {
    const snapshot = this.snapshotInHand();
    if (snapshot === undefined) return this.loadSnapshot().then(() => this.factsFor(identity, repository));
    const row = snapshot.byName.get(repository);
    if (row === undefined) return UNKNOWN_REPOSITORY;
    if (!row.authRequired || !hasMappings(identity)) return { repository: row, callerMapped: false };
    const cached = this.callerMappings.get(callerKey(identity));
    if (cached !== undefined) return { repository: row, callerMapped: cached.has(row.id) };
    return this.mappingsOf(identity).then((mapped) => ({ repository: row, callerMapped: mapped.has(row.id) }));
  }

  async visibleRepositories(identity: Identity): Promise<readonly string[]> {
    const snapshot = this.snapshotInHand() ?? (await this.loadSnapshot());
    if (!hasMappings(identity)) return snapshot.publicSorted;
    const mapped = await this.mappingsOf(identity);
    const names: string[] = [];
    for (const id of mapped) {
      const name = snapshot.nameById.get(id);
      if (name !== undefined) names.push(name);
    }
    return visibleRepositories(snapshot.publicSorted, names);
  }

  /** Everything may have changed: reload in the background, serving the old snapshot meanwhile. */
  invalidateAll(): void {
    this.snapshotEpoch += 1;
    this.mappingsEpoch += 1;
    this.snapshotLoading = undefined;
    for (const [key, ids] of this.callerMappings.entries()) this.keepStale(key, ids);
    this.callerMappings.clear();
    this.reloadInBackground();
  }

  private reloadInBackground(): void {
    this.loadSnapshot().catch(() => {
      // The next request that needs the snapshot tries again, served the old one meanwhile.
      this.snapshotStale = true;
    });
  }

  /** The snapshot in hand, if any; a stale one is served while a reload is tried again. */
  private snapshotInHand(): RepositorySnapshot | undefined {
    if (this.snapshotStale && this.snapshotLoading === undefined) this.reloadInBackground();
    return this.snapshot;
  }

  /** Invalidates everything and resolves once the new snapshot is in place. */
  async refresh(): Promise<void> {
    this.invalidateAll();
    for (;;) {
      const epoch = this.snapshotEpoch;
      await this.loadSnapshot();
      if (epoch === this.snapshotEpoch && this.snapshot !== undefined) return;
    }
  }

  invalidateCaller(identity: Identity): void {
    this.mappingsEpoch += 1;
    const key = callerKey(identity);
    const ids = this.callerMappings.get(key);
    if (ids !== undefined) this.keepStale(key, ids);
    this.callerMappings.delete(key);
  }

  private keepStale(key: string, ids: ReadonlySet<number>): void {
    this.staleMappings.set(key, ids);
  }

  private async loadSnapshot(): Promise<RepositorySnapshot> {
    if (this.snapshotLoading !== undefined) return this.snapshotLoading;
    const epoch = this.snapshotEpoch;
    const loading = this.store.loadRepositories().then((rows) => {
      const snapshot: RepositorySnapshot = {
        byName: new Map(rows.map((row) => [row.name, row])),
        nameById: new Map(rows.map((row) => [row.id, row.name])),
        publicSorted: rows.filter((row) => !row.authRequired).map((row) => row.name).sort(compareCodeUnits),
      };
      if (epoch === this.snapshotEpoch) {
        this.snapshot = snapshot;
        this.snapshotStale = false;
      } else if (this.snapshot === undefined) {
        // Overtaken by a change while loading: serve it rather than nothing, and load again.
        this.snapshot = snapshot;
        this.snapshotStale = true;
      }
      return snapshot;
    });
    this.snapshotLoading = loading;
    try {
      return await loading;
    } finally {
      if (this.snapshotLoading === loading) this.snapshotLoading = undefined;
    }
  }

  private async mappingsOf(identity: Exclude<Identity, { kind: 'anonymous' }>): Promise<ReadonlySet<number>> {
    const key = callerKey(identity);
    const cached = this.callerMappings.get(key);
    if (cached !== undefined) return cached;
    const epoch = this.mappingsEpoch;
    let ids: ReadonlySet<number>;
    try {
      ids = new Set(await this.loadMappings(identity));
    } catch (error) {
      const stale = this.staleMappings.get(key);
      if (stale === undefined) throw error;
      return stale;
    }
    if (epoch !== this.mappingsEpoch) {
      // Something changed while this loaded: not fresh enough to cache, but the best fallback there is.
      this.keepStale(key, ids);
      return ids;
    }
    this.staleMappings.delete(key);
    this.callerMappings.set(key, ids);
    return ids;
  }

  private loadMappings(identity: Exclude<Identity, { kind: 'anonymous' }>): Promise<number[]> {
    switch (identity.kind) {
      case 'user':
        return this.store.repositoryIdsOfUser(identity.username);
      case 'host':
        return this.store.repositoryIdsOfHost(identity.uuid);
      default:
        return unreachable(identity);
    }
  }
}

/**
 * Mappings (Katello's pushes and logins) name Katello users and hosts. A user of another provider
 * with the same name is someone else: it never inherits them.
 */
function hasMappings(identity: Identity): identity is Exclude<Identity, { kind: 'anonymous' }> {
  return identity.kind === 'host' || (identity.kind === 'user' && identity.provider === 'katello');
}

function callerKey(identity: Identity): string {
  switch (identity.kind) {
    case 'user':
      return `u:${identity.username}`;
    case 'host':
      return `h:${identity.uuid}`;
    case 'anonymous':
      return 'a';
    default:
      return unreachable(identity);
  }
}
