/**
 * AccessPolicy: the one door between identity and backend. It loads what a decision needs —
 * the repository list and mappings (Katello's pushes, from the facts cache) and, where those do
 * not grant it, what the identity providers grant (static rules, Kubernetes reviews) — and
 * leaves the deciding to the pure decideAccess. The catalog and the `access` claim of the
 * gateway's tokens are answered through the same door, so they can never disagree with a pull.
 */
import { decideAccess, type AccessFacts, type Decision } from '../access/decide-access.js';
import type { Identity, UserIdentity } from '../access/identity.js';
import { repositoryDelete, repositoryPull, repositoryPush, type RepositoryAccess, type RepositoryAction, type RequiredAccess } from '../access/required-access.js';
import { visibleRepositories } from '../access/visible-repositories.js';
import type { BackendCatalog } from '../registry/backend-catalog.js';
import type { AccessFactsCache } from '../store/access-facts-cache.js';
import type { IdentityProvider } from './provider.js';

/** Catalog filtering asks providers (perhaps a Kubernetes API server) this many decisions at a time. */
const CATALOG_DECISIONS_AT_ONCE = 16;

export interface AccessPolicy {
  /** Synchronous when the facts are in memory and no provider must be asked (the hot path). */
  authorize(identity: Identity, required: RequiredAccess): Decision | Promise<Decision>;
  /** What `identity` may list: the repository list's answer plus, with rule-based providers, the backend's own catalog filtered. */
  catalogOf(identity: Identity): Promise<readonly string[]>;
  /** Of `wanted`, what `identity` may do to `repository` (the `access` claim of a gateway token). */
  grantedActions(identity: UserIdentity, repository: string, wanted: readonly RepositoryAction[]): Promise<readonly RepositoryAction[]>;
  /** Whether a gateway token may carry `registry:catalog:*`. */
  listsWholeCatalog(identity: UserIdentity): boolean;
  /** A provider that can grant push and delete is configured (Katello's grants pulls only). */
  readonly grantsWrites: boolean;
}

export function createAccessPolicy(deps: { facts: AccessFactsCache; providers: readonly IdentityProvider[]; backendCatalog?: BackendCatalog }): AccessPolicy {
  const { facts, providers, backendCatalog } = deps;
  // Katello grants through the repository list; the others through their own policy.
  const policyProviders = providers.filter((provider) => provider.name !== 'katello');

  async function providerActions(identity: Identity, repository: string, wanted: readonly RepositoryAction[]): Promise<readonly RepositoryAction[]> {
    if (policyProviders.length === 1) return (policyProviders[0] as IdentityProvider).actionsFor(identity, repository, wanted);
    const granted = new Set<RepositoryAction>();
    for (const provider of policyProviders) for (const action of await provider.actionsFor(identity, repository, wanted)) granted.add(action);
    return [...granted];
  }

  function authorize(identity: Identity, required: RequiredAccess): Decision | Promise<Decision> {
    if (required.type !== 'repository') return decideAccess(identity, required);
    const known = facts.factsFor(identity, required.name);
    return known instanceof Promise ? known.then((loaded) => decideWith(identity, required, loaded)) : decideWith(identity, required, known);
  }

  /** Providers are asked only when the repository list does not already grant it (a Kubernetes review costs a call). */
  function decideWith(identity: Identity, required: RepositoryAccess, known: AccessFacts): Decision | Promise<Decision> {
    const fromList = policyProviders.length > 0 && required.actions.length > 1 ? undefined : decideAccess(identity, required, known);
    if (fromList !== undefined && (fromList.outcome === 'grant' || policyProviders.length === 0)) return fromList;
    return providerActions(identity, required.name, required.actions).then((providerGranted) => decideAccess(identity, required, { ...known, providerActions: providerGranted }));
  }

  return {
    authorize,
    grantsWrites: policyProviders.length > 0,
    async catalogOf(identity) {
      const listed = await facts.visibleRepositories(identity);
      if (backendCatalog === undefined || policyProviders.length === 0) return listed;
      const seen = new Set(listed);
      const candidates = (await backendCatalog.list()).filter((name) => !seen.has(name));
      const pullable: string[] = [];
      for (let start = 0; start < candidates.length; start += CATALOG_DECISIONS_AT_ONCE) {
        const batch = candidates.slice(start, start + CATALOG_DECISIONS_AT_ONCE);
        const decisions = await Promise.all(batch.map((name) => authorize(identity, repositoryPull(name))));
        batch.forEach((name, index) => decisions[index]?.outcome === 'grant' && pullable.push(name));
      }
      return pullable.length === 0 ? listed : visibleRepositories(listed, pullable);
    },
    async grantedActions(identity, repository, wanted) {
      const granted: RepositoryAction[] = [];
      if ((await authorize(identity, repositoryPull(repository))).outcome === 'grant') granted.push('pull');
      if (wanted.includes('push') && (await authorize(identity, repositoryPush(repository))).outcome === 'grant') granted.push('push');
      if (wanted.includes('delete') && (await authorize(identity, repositoryDelete(repository))).outcome === 'grant') granted.push('delete');
      return granted.filter((action) => wanted.includes(action));
    },
    listsWholeCatalog: (identity) => providers.some((provider) => provider.listsWholeCatalog?.(identity) === true),
  };
}
