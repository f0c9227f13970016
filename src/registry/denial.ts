/**
 * denialError: a denial as it goes on the wire — the same answer for "missing" and "hidden" by
 * construction (decideAccess chose it): NAME_UNKNOWN, DENIED for an action the caller may not take
 * on a repository it may see, or the Bearer challenge for an anonymous caller.
 */
import type { Decision } from '../access/decide-access.js';
import type { Identity } from '../access/identity.js';
import type { RequiredAccess } from '../access/required-access.js';
import { Challenge, RegistryError } from '../errors/registry-error.js';

/** Where clients fetch tokens: realm and service of every Bearer challenge. */
export interface ChallengeSettings {
  readonly realm: string;
  readonly service: string;
}

export function denialError(decision: Extract<Decision, { outcome: 'deny' }>, required: RequiredAccess, challenge: ChallengeSettings, identity: Identity): RegistryError {
  if (decision.answer === 'name-unknown') return new RegistryError('NAME_UNKNOWN');
  if (decision.answer === 'denied') {
    return new RegistryError('DENIED', { message: decision.reason === 'delete-not-granted' ? 'deleting from this repository is not granted' : 'push to this repository is not granted' });
  }
  const presentedToken = identity.kind !== 'anonymous' || identity.withToken;
  return new Challenge({
    ...challenge,
    ...(required.type === 'repository' ? { scope: `repository:${required.name}:${required.actions.join(',')}` } : {}),
    ...(required.type === 'repository' && presentedToken ? { error: 'insufficient_scope' as const } : {}),
  });
}
