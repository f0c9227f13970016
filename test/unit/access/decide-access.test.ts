import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decideAccess, type AccessFacts } from '../../../src/access/decide-access.js';
import { ANONYMOUS, ANONYMOUS_WITH_TOKEN, type Identity } from '../../../src/access/identity.js';
import { repositoryPull } from '../../../src/access/required-access.js';

const user: Identity = { kind: 'user', username: 'alice', provider: 'katello' };
const host: Identity = { kind: 'host', uuid: '6f2b5d0a-1111-4c4c-9a9a-000000000001' };
const pull = repositoryPull('org/app');
const unknown: AccessFacts = { repository: undefined, callerMapped: false };
const publicRepo: AccessFacts = { repository: { authRequired: false }, callerMapped: false };
const privateRepo: AccessFacts = { repository: { authRequired: true }, callerMapped: false };
const privateMapped: AccessFacts = { repository: { authRequired: true }, callerMapped: true };

const table: Array<[string, Identity, AccessFacts, string, string?]> = [
  ['anyone may pull a public repository (anonymous)', ANONYMOUS, publicRepo, 'grant'],
  ['anyone may pull a public repository (user)', user, publicRepo, 'grant'],
  ['anyone may pull a public repository (host)', host, publicRepo, 'grant'],
  ['an anonymous caller is challenged for a private repository', ANONYMOUS, privateRepo, 'deny', 'challenge'],
  ['an anonymous caller is challenged for an unknown repository, the same as a private one', ANONYMOUS_WITH_TOKEN, unknown, 'deny', 'challenge'],
  ['a mapped user may pull a private repository', user, privateMapped, 'grant'],
  ['a mapped host may pull a private repository', host, privateMapped, 'grant'],
  ['an unmapped user sees a private repository as unknown', user, privateRepo, 'deny', 'name-unknown'],
  ['an unmapped host sees a private repository as unknown', host, privateRepo, 'deny', 'name-unknown'],
  ['a user sees an unknown repository as unknown', user, unknown, 'deny', 'name-unknown'],
  ['a mapping to a repository the gateway does not know grants nothing', user, { repository: undefined, callerMapped: true }, 'deny', 'name-unknown'],
];

describe('decideAccess: repository pull', () => {
  for (const [rule, identity, facts, outcome, answer] of table) {
    it(rule, () => {
      const decision = decideAccess(identity, pull, facts);
      assert.equal(decision.outcome, outcome);
      if (decision.outcome === 'deny') assert.equal(decision.answer, answer);
    });
  }
});

describe('decideAccess: registry endpoints', () => {
  it('GET /v2/ without any token is challenged', () => assert.equal(decideAccess(ANONYMOUS, { type: 'registry', name: 'base' }).outcome, 'deny'));
  it('GET /v2/ with the anonymous token is granted', () => assert.equal(decideAccess(ANONYMOUS_WITH_TOKEN, { type: 'registry', name: 'base' }).outcome, 'grant'));
  it('GET /v2/ as a user is granted', () => assert.equal(decideAccess(user, { type: 'registry', name: 'base' }).outcome, 'grant'));
  it('the catalog is granted to everyone (it is filtered instead)', () => assert.equal(decideAccess(ANONYMOUS, { type: 'registry', name: 'catalog' }).outcome, 'grant'));
  it('a repository access without a name is a programming error, never a grant', () => assert.throws(() => repositoryPull('')));
});
