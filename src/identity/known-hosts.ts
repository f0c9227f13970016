/**
 * KnownHosts: a host that presents a valid certificate but that Katello has not pushed yet is
 * looked up once at upstream (`_catalog` with `HostUUID`) and stored with its repositories.
 * While upstream is down the host sees public repositories only; the failure is remembered for
 * a short while only, so the host is looked up again soon. Concurrent first requests share one
 * lookup.
 */
import type { FastifyBaseLogger } from 'fastify';
import { BoundedCache, stringBytes, type CacheView, type HasCaches } from '../caches/bounded-cache.js';
import type { AccessFactsCache } from '../store/access-facts-cache.js';
import type { GatewayStore } from '../store/gateway-store.js';
import type { UpstreamClient } from '../upstream/katello-client.js';

const RETRY_AFTER_FAILURE_MS = 30_000;
const MAX_REMEMBERED = 100_000;

export class KnownHosts implements HasCaches {
  private readonly known = new BoundedCache<string, true>('known-hosts', { maxEntries: MAX_REMEMBERED, maxBytes: MAX_REMEMBERED * 320, sizeOf: (_true, uuid) => stringBytes(uuid) + 32 });
  private readonly failedUntil = new BoundedCache<string, number>('failed-host-lookups', {
    maxEntries: MAX_REMEMBERED,
    maxBytes: MAX_REMEMBERED * 320,
    sizeOf: (_until, uuid) => stringBytes(uuid) + 32,
    ttlMs: RETRY_AFTER_FAILURE_MS,
  });
  /** Bounded by the requests in flight: one lookup per host at a time. */
  private readonly inFlight = new Map<string, Promise<void>>();

  get caches(): readonly CacheView[] {
    return [this.known, this.failedUntil];
  }

  constructor(
    private readonly deps: { store: GatewayStore; upstream: UpstreamClient; facts: AccessFactsCache; log: FastifyBaseLogger; now: () => number },
  ) {}

  async ensureKnown(uuid: string): Promise<void> {
    if (this.known.has(uuid)) return;
    const retryAt = this.failedUntil.get(uuid);
    if (retryAt !== undefined && retryAt > this.deps.now()) return;
    const running = this.inFlight.get(uuid);
    if (running !== undefined) return running;
    const lookup = this.lookUp(uuid).finally(() => this.inFlight.delete(uuid));
    this.inFlight.set(uuid, lookup);
    return lookup;
  }

  /** After a management push the stored hosts may have changed; check them again. */
  forgetAll(): void {
    this.known.clear();
    this.failedUntil.clear();
  }

  private async lookUp(uuid: string): Promise<void> {
    if (await this.deps.store.findHost(uuid)) {
      this.remember(uuid);
      return;
    }
    try {
      const repositories = await this.deps.upstream.catalogForHost(uuid);
      await this.deps.store.writeHostMappings(new Map([[uuid, repositories]]), 'merge');
      this.deps.facts.invalidateCaller({ kind: 'host', uuid });
      this.remember(uuid);
      this.deps.log.info({ host: uuid, repositories: repositories.length }, 'new host registered from upstream');
    } catch (error) {
      this.failedUntil.set(uuid, this.deps.now() + RETRY_AFTER_FAILURE_MS);
      this.deps.log.warn({ host: uuid, reason: (error as Error).message }, 'host lookup at upstream failed; public repositories only for now');
    }
  }

  private remember(uuid: string): void {
    this.known.set(uuid, true);
    this.failedUntil.delete(uuid);
  }
}
