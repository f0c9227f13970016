/**
 * The `kubernetes` provider (as OpenShift CI registries do): the password at login is a
 * cluster bearer token, validated by a TokenReview; each repository is authorized by a
 * SubjectAccessReview (by default: may the user `get` `imagestreams/layers` in the namespace —
 * `update` for push). Answers are reused for `cacheSeconds`; failures are never remembered,
 * and while the API server is down nothing new is granted (503, not a guess).
 */
import type { Identity } from '../access/identity.js';
import { BoundedCache, stringBytes } from '../caches/bounded-cache.js';
import type { RepositoryAction } from '../access/required-access.js';
import type { GatewayConfig } from '../config/compiled.js';
import { RegistryError } from '../errors/registry-error.js';
import { tokenChecksum } from '../token/checksum.js';
import { UpstreamFailed, UpstreamUnavailable } from '../upstream/errors.js';
import type { KubernetesClient, ResourceAttributes, ReviewedUser } from './kubernetes-client.js';
import type { IdentityProvider, LoginOutcome } from './provider.js';

const MAX_REMEMBERED = 50_000;
/** Keys hold a user's groups and extra: the bytes are bounded as well as the count. */
const MAX_REMEMBERED_BYTES = 64 * 1024 * 1024;
const NOTHING: readonly RepositoryAction[] = Object.freeze([]);

export function createKubernetesProvider(config: GatewayConfig['identity']['kubernetes'], client: KubernetesClient, now: () => number = Date.now): IdentityProvider {
  const ttlMs = config.cacheSeconds * 1000;
  const reviews = new Expiring<ReviewedUser | null>('kubernetes-token-reviews');
  const decisions = new Expiring<boolean>('kubernetes-access-reviews');
  const authorization = config.authorization;

  function attributesFor(repository: string, action: RepositoryAction): ResourceAttributes {
    const verb = action === 'push' ? authorization.pushVerb : action === 'delete' ? authorization.deleteVerb : authorization.pullVerb;
    const common = { verb, group: authorization.group, resource: authorization.resource, ...(authorization.subresource === '' ? {} : { subresource: authorization.subresource }) };
    if (authorization.namespace !== null) return { ...common, namespace: authorization.namespace };
    const slash = repository.indexOf('/');
    return slash === -1 ? { ...common, namespace: repository } : { ...common, namespace: repository.slice(0, slash), name: repository.slice(slash + 1) };
  }

  async function allowed(user: ReviewedUser, repository: string, action: RepositoryAction): Promise<boolean> {
    // Keyed by what is asked, not by repository: with a fixed namespace one review answers for all.
    const attributes = attributesFor(repository, action);
    const key = JSON.stringify([user.username, user.groups, user.extra ?? null, attributes]);
    const at = now();
    const cached = decisions.get(key, at);
    if (cached !== undefined) return cached;
    const answer = await client.mayAccess(user, attributes);
    if (ttlMs > 0) decisions.set(key, answer, at, ttlMs);
    return answer;
  }

  return {
    name: 'kubernetes',
    caches: [reviews.cache, decisions.cache],
    async login(credentials): Promise<LoginOutcome> {
      // The API server answers a TokenReview of an empty token with 400, not "unauthenticated".
      if (credentials.password === '') return { kind: 'rejected' };
      const key = tokenChecksum(credentials.password);
      const at = now();
      let user = reviews.get(key, at);
      if (user === undefined) {
        user = (await client.reviewToken(credentials.password)) ?? null;
        if (ttlMs > 0) reviews.set(key, user, at, ttlMs);
      }
      if (user === null) return { kind: 'rejected' };
      return {
        kind: 'accepted',
        identity: { kind: 'user', username: user.username, provider: 'kubernetes', groups: user.groups, ...(user.extra === undefined ? {} : { extra: user.extra }) },
      };
    },
    async actionsFor(identity: Identity, repository: string, wanted: readonly RepositoryAction[]) {
      if (identity.kind !== 'user' || identity.provider !== 'kubernetes') return NOTHING;
      const user: ReviewedUser = { username: identity.username, groups: identity.groups ?? [], ...(identity.extra === undefined ? {} : { extra: identity.extra }) };
      try {
        const answers = await Promise.all(wanted.map(async (action) => ((await allowed(user, repository, action)) ? action : undefined)));
        return answers.filter((action): action is RepositoryAction => action !== undefined);
      } catch (error) {
        if (error instanceof UpstreamUnavailable) throw new RegistryError('UPSTREAM_UNAVAILABLE', { message: 'cannot check access: the Kubernetes API server is unreachable' });
        if (error instanceof UpstreamFailed) throw new RegistryError('UPSTREAM_ERROR', { message: 'cannot check access: the Kubernetes API server answered with an error' });
        throw error;
      }
    },
  };
}

/** Answers kept until their expiry (by the provider's clock); bounded by count and bytes, least recently used dropped first. */
class Expiring<V> {
  readonly cache: BoundedCache<string, { value: V; until: number }>;

  constructor(name: string) {
    this.cache = new BoundedCache(name, { maxEntries: MAX_REMEMBERED, maxBytes: MAX_REMEMBERED_BYTES, sizeOf: (entry, key) => stringBytes(key) + stringBytes(JSON.stringify(entry.value) ?? '') + 64 });
  }

  get(key: string, at: number): V | undefined {
    const entry = this.cache.get(key);
    if (entry === undefined) return undefined;
    if (entry.until > at) return entry.value;
    this.cache.delete(key);
    return undefined;
  }

  set(key: string, value: V, at: number, ttlMs: number): void {
    this.cache.set(key, { value, until: at + ttlMs }, { ttl: ttlMs });
  }
}
