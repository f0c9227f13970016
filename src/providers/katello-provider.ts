/**
 * The `katello` provider: the management server checks the password and answers its own token,
 * which the client gets unchanged (login.ts records its checksum and the user's repositories).
 * What a Katello user may pull comes from the repository list and mappings, not from here.
 */
import type { RepositoryAction } from '../access/required-access.js';
import { loginUser, type LoginDependencies } from '../token/login.js';
import { UpstreamRejected } from '../upstream/errors.js';
import type { IdentityProvider, LoginOutcome } from './provider.js';

const NOTHING: readonly RepositoryAction[] = Object.freeze([]);

export function createKatelloProvider(deps: LoginDependencies): IdentityProvider {
  return {
    name: 'katello',
    async login(credentials): Promise<LoginOutcome> {
      try {
        const login = await loginUser(deps, credentials);
        switch (login.kind) {
          case 'user':
            return { kind: 'answered', identity: { kind: 'user', username: credentials.username, provider: 'katello' }, answer: login.answer };
          case 'unauthenticated':
            return { kind: 'anonymous', answer: login.answer };
          case 'unauthorized':
            // As smart_proxy_container_gateway: a 401, but Katello's word, not a failed password we saw.
            return { kind: 'rejected', counted: false };
        }
      } catch (error) {
        if (error instanceof UpstreamRejected) return { kind: 'rejected' };
        throw error;
      }
    },
    actionsFor: () => NOTHING,
  };
}
