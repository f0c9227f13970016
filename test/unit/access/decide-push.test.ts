/** decideAccess for pushes: push only ever comes from the provider; a push refused discloses nothing. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decideAccess, type AccessFacts, type Decision } from '../../../src/access/decide-access.js';
import { ANONYMOUS, ANONYMOUS_WITH_TOKEN, type Identity } from '../../../src/access/identity.js';
import { repositoryPull, repositoryPush, type RepositoryAction } from '../../../src/access/required-access.js';

const user: Identity = { kind: 'user', username: 'alice', provider: 'static' };
const kubeUser: Identity = { kind: 'user', username: 'bob', provider: 'kubernetes', groups: ['devs'] };
const host: Identity = { kind: 'host', uuid: '6f2b5d0a-1111-4c4c-9a9a-000000000001' };
const push = repositoryPush('org/app');
const pull = repositoryPull('org/app');

const known = { authRequired: true } as const;
const publicRepository = { authRequired: false } as const;
function facts(repository: AccessFacts['repository'], providerActions?: RepositoryAction[], callerMapped = false): AccessFacts {
  return providerActions === undefined ? { repository, callerMapped } : { repository, callerMapped, providerActions };
}

type Expected = { outcome: 'grant' } | { outcome: 'deny'; answer: 'challenge' | 'name-unknown' | 'denied' };
const GRANT: Expected = { outcome: 'grant' };
const DENIED: Expected = { outcome: 'deny', answer: 'denied' };
const CHALLENGE: Expected = { outcome: 'deny', answer: 'challenge' };
const NAME_UNKNOWN: Expected = { outcome: 'deny', answer: 'name-unknown' };

function assertDecision(decision: Decision, expected: Expected): void {
  assert.equal(decision.outcome, expected.outcome, JSON.stringify(decision));
  if (expected.outcome === 'deny' && decision.outcome === 'deny') assert.equal(decision.answer, expected.answer, JSON.stringify(decision));
}

describe('decideAccess: repository push', () => {
  const table: Array<[string, Identity, AccessFacts, Expected]> = [
    // granted by the provider
    ['a user the provider grants pull and push may push to a known repository', user, facts(known, ['pull', 'push']), GRANT],
    ['a user the provider grants pull and push may push a new repository', user, facts(undefined, ['pull', 'push']), GRANT],
    ['a Kubernetes user granted pull and push may push', kubeUser, facts(known, ['pull', 'push']), GRANT],
    ['a host granted pull and push may push', host, facts(known, ['pull', 'push']), GRANT],
    ['a mapped user granted push by the provider may push', user, facts(known, ['push'], true), GRANT],
    // pull but not push
    ['a user granted only pull is denied, and told so', user, facts(known, ['pull']), DENIED],
    ['a user granted only pull on an unknown repository is denied, and told so', user, facts(undefined, ['pull']), DENIED],
    ['a host granted only pull is denied, and told so', host, facts(known, ['pull']), DENIED],
    ['an anonymous caller granted only pull is asked to log in', ANONYMOUS, facts(known, ['pull']), CHALLENGE],
    ['an anonymous caller with the token granted only pull is asked to log in', ANONYMOUS_WITH_TOKEN, facts(known, ['pull']), CHALLENGE],
    ['a mapped user without provider push is denied, and told so', user, facts(known, [], true), DENIED],
    ['a mapped host without provider push is denied, and told so', host, facts(known, undefined, true), DENIED],
    // nothing granted: the push is answered as the pull would be (non-disclosure)
    ['a user granted nothing on an unknown repository sees it as unknown', user, facts(undefined), NAME_UNKNOWN],
    ['a user granted nothing (empty list) on an unknown repository sees it as unknown', user, facts(undefined, []), NAME_UNKNOWN],
    ['a user granted nothing on a private repository sees it as unknown', user, facts(known), NAME_UNKNOWN],
    ['a host granted nothing on an unknown repository sees it as unknown', host, facts(undefined), NAME_UNKNOWN],
    ['a user granted push but not pull on an unknown repository sees it as unknown', user, facts(undefined, ['push']), NAME_UNKNOWN],
    ['an anonymous caller granted nothing on an unknown repository is challenged', ANONYMOUS, facts(undefined), CHALLENGE],
    ['an anonymous caller granted nothing on a private repository is challenged', ANONYMOUS_WITH_TOKEN, facts(known), CHALLENGE],
    ['a mapping to an unknown repository grants no push', user, facts(undefined, undefined, true), NAME_UNKNOWN],
    // public repositories are public for pull only
    ['a user may not push to a public repository without provider push', user, facts(publicRepository), DENIED],
    ['a user granted only pull may not push to a public repository', user, facts(publicRepository, ['pull']), DENIED],
    ['an anonymous caller may not push to a public repository', ANONYMOUS, facts(publicRepository), CHALLENGE],
    ['a host may not push to a public repository without provider push', host, facts(publicRepository), DENIED],
    ['a user granted push may push to a public repository', user, facts(publicRepository, ['pull', 'push']), GRANT],
  ];
  for (const [rule, identity, repositoryFacts, expected] of table) {
    it(rule, () => assertDecision(decideAccess(identity, push, repositoryFacts), expected));
  }

  it('a push granted by the provider says so (reason provider)', () => {
    assert.deepEqual(decideAccess(user, push, facts(publicRepository, ['pull', 'push'])), { outcome: 'grant', reason: 'provider' });
  });
  it('a push refused to a user who may pull is logged as push-not-granted', () => {
    assert.deepEqual(decideAccess(user, push, facts(known, ['pull'])), { outcome: 'deny', reason: 'push-not-granted', answer: 'denied' });
  });
});

describe('decideAccess: push and pull answer alike when nothing is granted', () => {
  const identities: Array<[string, Identity]> = [
    ['a user', user],
    ['a Kubernetes user', kubeUser],
    ['a host', host],
    ['an anonymous caller', ANONYMOUS],
    ['an anonymous caller with the token', ANONYMOUS_WITH_TOKEN],
  ];
  const situations: Array<[string, AccessFacts]> = [
    ['an unknown repository', facts(undefined)],
    ['an unknown repository, provider granted nothing', facts(undefined, [])],
    ['a private repository', facts(known)],
  ];
  for (const [who, identity] of identities) {
    for (const [what, repositoryFacts] of situations) {
      it(`${who}, ${what}`, () => {
        const pushDecision = decideAccess(identity, push, repositoryFacts);
        assert.equal(pushDecision.outcome, 'deny');
        assert.deepEqual(pushDecision, decideAccess(identity, pull, repositoryFacts));
      });
    }
  }
});

describe('decideAccess: a public repository', () => {
  const publicFacts = facts(publicRepository);
  for (const [who, identity] of [['a user', user], ['a host', host], ['an anonymous caller', ANONYMOUS]] as Array<[string, Identity]>) {
    it(`grants ${who} pull`, () => assert.deepEqual(decideAccess(identity, pull, publicFacts), { outcome: 'grant', reason: 'public' }));
    it(`does not grant ${who} push`, () => assert.equal(decideAccess(identity, push, publicFacts).outcome, 'deny'));
  }
});
