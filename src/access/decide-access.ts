/**
 * decideAccess: the whole access policy, as one pure function (no I/O, no fastify, no database).
 *
 * Non-disclosure lives here and only here: whatever the reason a caller may not pull a
 * repository (it does not exist, it is private, it is mapped to someone else), the answer is
 * the same for that caller — a Bearer challenge for an anonymous caller, so clients know to log
 * in, and NAME_UNKNOWN for everyone else. The reason is kept for the log, never the wire.
 */
import { unreachable, type Identity } from './identity.js';
import type { RequiredAccess } from './required-access.js';

export interface AccessFacts {
  /** The repository as the gateway knows it (pushed by the management server); undefined when unknown. */
  readonly repository: { readonly authRequired: boolean } | undefined;
  /** The calling user or host is mapped to the repository. */
  readonly callerMapped: boolean;
}

export type DenyReason = 'credentials-required' | 'unknown-repository' | 'login-required' | 'not-mapped';

export type Decision =
  | { readonly outcome: 'grant'; readonly reason: 'public' | 'mapped' | 'authenticated' | 'listing' }
  | { readonly outcome: 'deny'; readonly reason: DenyReason; readonly answer: 'challenge' | 'name-unknown' };

const NO_FACTS: AccessFacts = { repository: undefined, callerMapped: false };

export function decideAccess(identity: Identity, required: RequiredAccess, facts: AccessFacts = NO_FACTS): Decision {
  switch (required.type) {
    case 'registry':
      if (required.name === 'catalog') return { outcome: 'grant', reason: 'listing' };
      // `GET /v2/` is how clients learn they must fetch a token; even the anonymous token counts.
      if (identity.kind === 'anonymous' && !identity.withToken) {
        return { outcome: 'deny', reason: 'credentials-required', answer: 'challenge' };
      }
      return { outcome: 'grant', reason: 'authenticated' };
    case 'repository':
      return decideRepositoryPull(identity, facts);
    default:
      return unreachable(required);
  }
}

function decideRepositoryPull(identity: Identity, facts: AccessFacts): Decision {
  const repository = facts.repository;
  if (repository !== undefined && !repository.authRequired) return { outcome: 'grant', reason: 'public' };
  switch (identity.kind) {
    case 'anonymous':
      return { outcome: 'deny', reason: repository === undefined ? 'unknown-repository' : 'login-required', answer: 'challenge' };
    case 'user':
    case 'host':
      if (repository !== undefined && facts.callerMapped) return { outcome: 'grant', reason: 'mapped' };
      return { outcome: 'deny', reason: repository === undefined ? 'unknown-repository' : 'not-mapped', answer: 'name-unknown' };
    default:
      return unreachable(identity);
  }
}
