/**
 * GatewayMetrics: what operators graph, in Prometheus form (prom-client), one registry per app
 * (so several apps in one test process do not collide). Names are `cg_*`; labels are bounded
 * sets (route families, outcomes, status codes), never repository or user names.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CacheView } from '../caches/bounded-cache.js';
import { counterCountedElsewhere } from './counted-elsewhere.js';
import { RequestTallies } from './request-tallies.js';

export class GatewayMetrics {
  readonly registry = new Registry();

  /** Requests answered and their answer times: updated by every request, so kept as plain tallies (request-tallies.ts). */
  readonly requests = new RequestTallies({
    registry: this.registry,
    requests: { name: 'cg_http_requests_total', help: 'Requests answered, by route family, method and status' },
    durations: {
      name: 'cg_http_request_duration_seconds',
      help: 'Time to answer a request, by route family',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    },
  });

  readonly backendRequests = new Counter({
    name: 'cg_backend_requests_total',
    help: 'Calls to the backend registry, by outcome (status class or error)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly backendSharedReads = new Counter({
    name: 'cg_backend_shared_reads_total',
    help: 'Client requests answered by an identical backend read already in flight for another client, without a backend call of their own',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  readonly backendDuration = new Histogram({
    name: 'cg_backend_request_duration_seconds',
    help: 'Time until the backend answered (headers)',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30],
    registers: [this.registry],
  });

  readonly upstreamCalls = new Counter({
    name: 'cg_upstream_calls_total',
    help: 'Calls to the management server, by call and outcome',
    labelNames: ['call', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly upstreamDuration = new Histogram({
    name: 'cg_upstream_call_duration_seconds',
    help: 'Time of calls to the management server',
    labelNames: ['call'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  /** User token lookups by result: counted on every request with a token, added to cg_token_cache_total when scraped. */
  private readonly tokenLookups = { hit: { labels: { result: 'hit' }, total: 0 }, miss: { labels: { result: 'miss' }, total: 0 } };

  /** A user token was looked up: answered from memory (hit) or not. */
  tokenLookedUp(hit: boolean): void {
    if (hit) this.tokenLookups.hit.total += 1;
    else this.tokenLookups.miss.total += 1;
  }

  readonly logins = new Counter({
    name: 'cg_logins_total',
    help: 'Logins at /v2/token, by outcome',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly managementUpdates = new Counter({
    name: 'cg_management_updates_total',
    help: 'Management API writes, by endpoint and status',
    labelNames: ['endpoint', 'status'] as const,
    registers: [this.registry],
  });

  readonly blobCacheFills = new Counter({
    name: 'cg_blob_cache_fills_total',
    help: 'Downloads into the blob cache, by how they ended: cached (verified and kept), failed (truncated, wrong digest, abandoned by every client, disk error) or declined (not a blob the cache could take)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly blobCacheHits = new Counter({
    name: 'cg_blob_cache_hits_total',
    help: 'Blob GETs answered from a cached file',
    registers: [this.registry],
  });

  readonly databasePoolWaiting: Gauge;

  /** The blob cache's disk use, read when scraped. */
  showBlobCache(usage: () => { bytes: number; blobs: number; maxBytes: number; fills: number }): void {
    this.gaugeOnScrape('cg_blob_cache_bytes', 'Bytes of blobs held in the blob cache on disk', (gauge) => gauge.set(usage().bytes));
    this.gaugeOnScrape('cg_blob_cache_max_bytes', 'The blob cache cap (backend.blobCache.maxBytes, per worker)', (gauge) => gauge.set(usage().maxBytes));
    this.gaugeOnScrape('cg_blob_cache_blobs', 'Blobs held in the blob cache on disk', (gauge) => gauge.set(usage().blobs));
    this.gaugeOnScrape('cg_blob_cache_fills_in_progress', 'Downloads into the blob cache under way', (gauge) => gauge.set(usage().fills));
  }

  /** Entries and estimated bytes of every bounded cache, read when scraped (label: the cache's name, a fixed set). */
  showCaches(caches: () => readonly CacheView[]): void {
    const perCache = (read: (cache: CacheView) => number) => (gauge: Gauge<string>) => {
      gauge.reset();
      for (const cache of caches()) gauge.set({ cache: cache.cacheName }, read(cache));
    };
    this.gaugeOnScrape('cg_cache_entries', 'Entries held by each bounded cache', perCache((cache) => cache.size), ['cache']);
    this.gaugeOnScrape('cg_cache_bytes', 'Estimated bytes held by each bounded cache', perCache((cache) => cache.calculatedSize), ['cache']);
  }

  /** A counter kept elsewhere (a running total), read when /metrics is scraped. */
  countOnScrape(name: string, help: string, read: () => number): void {
    const series = { labels: {} };
    counterCountedElsewhere(this.registry, name, help, [], () => [{ labels: series.labels, total: read() }]);
  }

  /** A gauge whose value is read when /metrics is scraped. */
  private gaugeOnScrape(name: string, help: string, read: (gauge: Gauge<string>) => void, labelNames: readonly string[] = []): void {
    new Gauge({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        read(this);
      },
    });
  }

  constructor(options: { poolWaiting?: () => number } = {}) {
    collectDefaultMetrics({ register: this.registry, prefix: 'cg_' });
    const lookups = this.tokenLookups;
    counterCountedElsewhere(this.registry, 'cg_token_cache_total', 'User token lookups answered from memory (hit) or the database (miss)', ['result'], () => [lookups.hit, lookups.miss]);
    const poolWaiting = options.poolWaiting ?? (() => 0);
    this.databasePoolWaiting = new Gauge({
      name: 'cg_database_pool_waiting',
      help: 'Queries waiting for a database connection (PostgreSQL pool; 0 for SQLite)',
      registers: [this.registry],
      collect() {
        this.set(poolWaiting());
      },
    });
  }
}
