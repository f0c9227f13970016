/**
 * Taking over from a running smart_proxy_container_gateway without logging anyone out: its
 * repositories, users, hosts, mappings and the checksums of its unexpired tokens become the
 * gateway's. What KCG stored that the gateway would refuse from Katello (a repository name outside
 * the OCI grammar, a host UUID that is not one) is skipped and counted, never stored.
 */
import { isValidRepositoryName } from '../registry/grammar.js';
import type { AccessSnapshot, GatewayStore, SnapshotCounts } from '../store/gateway-store.js';
import type { KcgSnapshot } from './kcg-database.js';

const HOST_UUID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export interface KcgImportPlan {
  readonly snapshot: AccessSnapshot;
  readonly skipped: { readonly repositories: number; readonly hosts: number; readonly expiredTokens: number };
}

/** Pure: KCG's rows → what the gateway will hold. */
export function planKcgImport(kcg: KcgSnapshot, now: number): KcgImportPlan {
  const repositories = new Map<string, boolean>();
  for (const repository of kcg.repositories) if (isValidRepositoryName(repository.name)) repositories.set(repository.name, repository.authRequired);
  const userMappings = new Map<string, string[]>(kcg.users.map((user) => [user, []]));
  for (const [user, repository] of kcg.userRepositories) if (repositories.has(repository)) userMappings.get(user)?.push(repository);
  const hosts = kcg.hosts.filter((uuid) => HOST_UUID.test(uuid));
  const hostMappings = new Map<string, string[]>(hosts.map((uuid) => [uuid, []]));
  for (const [uuid, repository] of kcg.hostRepositories) if (repositories.has(repository)) hostMappings.get(uuid)?.push(repository);
  const tokens = kcg.tokens.filter((token) => token.expiresAt > now);
  return {
    snapshot: { repositories, userMappings, hostMappings, tokens },
    skipped: { repositories: kcg.repositories.length - repositories.size, hosts: kcg.hosts.length - hosts.length, expiredTokens: kcg.tokens.length - tokens.length },
  };
}

export async function importKcg(store: GatewayStore, kcg: KcgSnapshot, now: number): Promise<{ counts: SnapshotCounts; plan: KcgImportPlan }> {
  const plan = planKcgImport(kcg, now);
  return { counts: await store.importSnapshot(plan.snapshot), plan };
}

/** What `import-kcg` prints: one line per kind of thing. */
export function describeImport(source: string, kcg: KcgSnapshot, { counts, plan }: { counts: SnapshotCounts; plan: KcgImportPlan }): string {
  const privateCount = [...plan.snapshot.repositories.values()].filter(Boolean).length;
  const lines = [
    `read ${source} (smart_proxy_container_gateway schema ${kcg.schemaVersion})`,
    `repositories: ${counts.repositories.total} (${privateCount} private; ${counts.repositories.added} new, ${counts.repositories.removed} removed, ${counts.repositories.changed} changed)`,
    `users: ${plan.snapshot.userMappings.size} with ${counts.users.mappings} repository mappings`,
    `hosts: ${counts.hosts.total} with ${counts.hostMappings.mappings} repository mappings`,
    `tokens: ${counts.tokens} unexpired tokens keep working`,
  ];
  const { repositories, hosts, expiredTokens } = plan.skipped;
  if (repositories + hosts + expiredTokens > 0) lines.push(`skipped: ${repositories} invalid repository names, ${hosts} invalid host UUIDs, ${expiredTokens} expired tokens`);
  return `${lines.join('\n')}\n`;
}
