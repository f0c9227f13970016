/**
 * BackendCatalog: the backend's own `_catalog`, for providers whose rules decide visibility
 * (static, kubernetes) — the repository list Katello pushes is not the whole story there. It is
 * fetched with the robot credential, kept for a while and refreshed in the background, so a
 * catalog request waits for the backend only the first time. A backend that refuses to list
 * (quay restricts `_catalog`) lists nothing, and is asked again after the same while.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { BackendClient } from '../backend/client.js';
import { isValidRepositoryName } from './grammar.js';
import { fetchWholeList } from './listing-handlers.js';

export class BackendCatalog {
  private names: readonly string[] | undefined;
  private fetchedAt = 0;
  private loading: Promise<readonly string[]> | undefined;

  constructor(
    private readonly backend: BackendClient,
    private readonly maxAgeMs: number,
    private readonly log: FastifyBaseLogger,
    private readonly now: () => number = Date.now,
  ) {}

  /** The names the backend lists; a stale list is answered while a fresh one loads. */
  list(): Promise<readonly string[]> | readonly string[] {
    const stale = this.names === undefined || this.now() - this.fetchedAt >= this.maxAgeMs;
    if (stale && this.loading === undefined) this.loading = this.load().finally(() => (this.loading = undefined));
    return this.names ?? (this.loading as Promise<readonly string[]>);
  }

  private async load(): Promise<readonly string[]> {
    let names: readonly string[];
    try {
      names = (await fetchWholeList(this.backend, '/v2/_catalog?n=1000', 'repositories')).filter(isValidRepositoryName);
    } catch (error) {
      this.log.warn({ err: error }, 'the backend would not list its repositories; catalogs show the repository list only');
      names = this.names ?? [];
    }
    this.names = names;
    this.fetchedAt = this.now();
    return names;
  }
}
