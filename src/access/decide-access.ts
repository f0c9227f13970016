/**
 * decideAccess: the whole access policy, as one pure function (no I/O, no fastify, no database).
 *
 * Non-disclosure lives here and only here: whatever the reason a caller may not pull a
 * repository (it does not exist, it is private, it is mapped to someone else), the answer is
 * the same for that caller — a Bearer challenge for an anonymous caller, so clients know to log
 * in, and NAME_UNKNOWN for everyone else. The reason is kept for the log, never the wire.
 */
import { unreachable, type Identity } from './identity.js';
import type { RepositoryAction, RequiredAccess } from './required-access.js';

export interface AccessFacts {
  /** The repository as the gateway knows it (pushed by the management server); undefined when unknown. */
  readonly repository: { readonly authRequired: boolean } | undefined;
  /** The calling user or host is mapped to the repository. */
  readonly callerMapped: boolean;
  /** Actions the caller's identity provider grants on the repository (static rules, Kubernetes reviews). */
  readonly providerActions?: readonly RepositoryAction[];
}

export type DenyReason = 'credentials-required' | 'unknown-repository' | 'login-required' | 'not-mapped' | 'push-not-granted' | 'delete-not-granted';

export type Decision =
  | { readonly outcome: 'grant'; readonly reason: 'public' | 'mapped' | 'provider' | 'authenticated' | 'listing' }
  /** `denied`: the caller may see the repository but not do this to it (push, delete), so saying so discloses nothing. */
  | { readonly outcome: 'deny'; readonly reason: DenyReason; readonly answer: 'challenge' | 'name-unknown' | 'denied' };

const NO_FACTS: AccessFacts = { repository: undefined, callerMapped: false };
const NO_ACTIONS: readonly RepositoryAction[] = [];

/** Grants are answered on every request: one frozen object per reason instead of a new one each time. */
const GRANTS = {
  public: Object.freeze({ outcome: 'grant', reason: 'public' }),
  mapped: Object.freeze({ outcome: 'grant', reason: 'mapped' }),
  provider: Object.freeze({ outcome: 'grant', reason: 'provider' }),
  authenticated: Object.freeze({ outcome: 'grant', reason: 'authenticated' }),
  listing: Object.freeze({ outcome: 'grant', reason: 'listing' }),
} as const satisfies Record<Extract<Decision, { outcome: 'grant' }>['reason'], Decision>;

export function decideAccess(identity: Identity, required: RequiredAccess, facts: AccessFacts = NO_FACTS): Decision {
  switch (required.type) {
    case 'registry':
      if (required.name === 'catalog') return GRANTS.listing;
      // `GET /v2/` is how clients learn they must fetch a token; even the anonymous token counts.
      if (identity.kind === 'anonymous' && !identity.withToken) {
        return { outcome: 'deny', reason: 'credentials-required', answer: 'challenge' };
      }
      return GRANTS.authenticated;
    case 'repository':
      return decideRepository(identity, required.actions, facts);
    default:
      return unreachable(required);
  }
}

function decideRepository(identity: Identity, actions: readonly RepositoryAction[], facts: AccessFacts): Decision {
  const repository = facts.repository;
  const granted = facts.providerActions ?? NO_ACTIONS;
  // Pull comes from the repository list (public, or mapped to this caller) or from the provider.
  const pullBy =
    repository !== undefined && !repository.authRequired
      ? 'public'
      : repository !== undefined && identity.kind !== 'anonymous' && facts.callerMapped
        ? 'mapped'
        : granted.includes('pull')
          ? 'provider'
          : undefined;
  if (pullBy === undefined) return unseen(identity, repository !== undefined);
  const missing = actions.find((action) => action !== 'pull' && !granted.includes(action));
  if (missing === undefined) return GRANTS[actions.length > 1 ? 'provider' : pullBy];
  // Anonymous callers are asked to log in: a user may be granted what they are not.
  return { outcome: 'deny', reason: missing === 'delete' ? 'delete-not-granted' : 'push-not-granted', answer: identity.kind === 'anonymous' ? 'challenge' : 'denied' };
}

/** A repository the caller may not pull: missing and hidden are the same answer. */
function unseen(identity: Identity, known: boolean): Decision {
  switch (identity.kind) {
    case 'anonymous':
      return { outcome: 'deny', reason: known ? 'login-required' : 'unknown-repository', answer: 'challenge' };
    case 'user':
    case 'host':
      return { outcome: 'deny', reason: known ? 'not-mapped' : 'unknown-repository', answer: 'name-unknown' };
    default:
      return unreachable(identity);
  }
}
