/** The static provider's rules as a pure function: subjects, repository globs, actions adding up. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ANONYMOUS, ANONYMOUS_WITH_TOKEN, type Identity } from '../../../src/access/identity.js';
import type { RepositoryAction } from '../../../src/access/required-access.js';
import { compileRules, type StaticRule } from '../../../src/access/static-rules.js';

const staticAlice: Identity = { kind: 'user', username: 'alice', provider: 'static' };
const staticBob: Identity = { kind: 'user', username: 'bob', provider: 'static' };
const staticRobot: Identity = { kind: 'user', username: 'ci-robot', provider: 'static' };
const katelloAlice: Identity = { kind: 'user', username: 'alice', provider: 'katello' };
const kubernetesAlice: Identity = { kind: 'user', username: 'alice', provider: 'kubernetes' };
const kubernetesDev: Identity = { kind: 'user', username: 'system:serviceaccount:ci:builder', provider: 'kubernetes', groups: ['devs', 'system:authenticated'] };
const kubernetesOther: Identity = { kind: 'user', username: 'carol', provider: 'kubernetes', groups: ['ops'] };
const host: Identity = { kind: 'host', uuid: '6f2b5d0a-1111-4c4c-9a9a-000000000001' };

const PULL: RepositoryAction[] = ['pull'];
const PUSH: RepositoryAction[] = ['push'];
const PULL_PUSH: RepositoryAction[] = ['pull', 'push'];

const sorted = (actions: readonly RepositoryAction[]) => [...actions].sort();

/** One rule, no groups unless given; [rule description, identity, repository, expected actions]. */
function check(rule: StaticRule, groups: Record<string, string[]>, cases: Array<[string, Identity, string, RepositoryAction[]]>) {
  const compiled = compileRules([rule], groups);
  for (const [description, identity, repository, expected] of cases) {
    it(description, () => assert.deepEqual(sorted(compiled.actionsFor(identity, repository)), sorted(expected)));
  }
}

describe('compileRules: name subjects', () => {
  check({ subjects: ['alice', 'ci-robot'], repositories: ['org/app'], actions: PULL_PUSH }, {}, [
    ['a static user named in the rule', staticAlice, 'org/app', PULL_PUSH],
    ['a static robot named in the rule', staticRobot, 'org/app', PULL_PUSH],
    ['a static user not named in the rule', staticBob, 'org/app', []],
    ['a Katello user with the same name is not that static user', katelloAlice, 'org/app', []],
    ['a Kubernetes user with the same name is not that static user', kubernetesAlice, 'org/app', []],
    ['an anonymous caller', ANONYMOUS, 'org/app', []],
    ['a host', host, 'org/app', []],
    ['the named user on another repository', staticAlice, 'org/other', []],
  ]);
});

describe('compileRules: group subjects', () => {
  check({ subjects: ['group:devs'], repositories: ['org/*'], actions: PUSH }, { devs: ['alice', 'ci-robot'], ops: ['bob'] }, [
    ['a static user listed in the config group', staticAlice, 'org/app', PUSH],
    ['a static robot listed in the config group', staticRobot, 'org/app', PUSH],
    ['a static user in another config group', staticBob, 'org/app', []],
    ['a Katello user whose name is listed in the config group', katelloAlice, 'org/app', []],
    ['a Kubernetes user whose name is listed in the config group (config groups are static users only)', kubernetesAlice, 'org/app', []],
    ['a Kubernetes user carrying the group', kubernetesDev, 'org/app', PUSH],
    ['a Kubernetes user carrying other groups', kubernetesOther, 'org/app', []],
    ['an anonymous caller', ANONYMOUS_WITH_TOKEN, 'org/app', []],
    ['a host', host, 'org/app', []],
  ]);
  it('a group subject does not match a user of that name, nor a name subject a group of that name', () => {
    const rules = compileRules(
      [
        { subjects: ['group:alice'], repositories: ['a'], actions: PULL },
        { subjects: ['devs'], repositories: ['b'], actions: PULL },
      ],
      { devs: ['bob'] },
    );
    assert.deepEqual(rules.actionsFor(staticAlice, 'a'), []);
    assert.deepEqual(rules.actionsFor(staticBob, 'b'), []);
    assert.deepEqual(rules.actionsFor({ kind: 'user', username: 'x', provider: 'kubernetes', groups: ['devs'] }, 'b'), []);
  });
});

describe('compileRules: authenticated', () => {
  check({ subjects: ['authenticated'], repositories: ['shared/**'], actions: PULL }, {}, [
    ['a static user', staticBob, 'shared/base', PULL],
    ['a Katello user', katelloAlice, 'shared/base', PULL],
    ['a Kubernetes user', kubernetesOther, 'shared/base', PULL],
    ['a host', host, 'shared/base', PULL],
    ['an anonymous caller without a token', ANONYMOUS, 'shared/base', []],
    ['an anonymous caller with the anonymous token', ANONYMOUS_WITH_TOKEN, 'shared/base', []],
  ]);
});

describe('compileRules: anonymous', () => {
  check({ subjects: ['anonymous'], repositories: ['public/*'], actions: PULL }, {}, [
    ['an anonymous caller without a token', ANONYMOUS, 'public/app', PULL],
    ['an anonymous caller with the anonymous token', ANONYMOUS_WITH_TOKEN, 'public/app', PULL],
    ['a static user', staticAlice, 'public/app', PULL],
    ['a Katello user', katelloAlice, 'public/app', PULL],
    ['a Kubernetes user', kubernetesDev, 'public/app', PULL],
    ['a host', host, 'public/app', PULL],
    ['anyone, but only where the globs say', ANONYMOUS, 'private/app', []],
  ]);
});

describe('compileRules: repository globs', () => {
  const cases: Array<[string, string, string, boolean]> = [
    ['team/*', 'team/app', 'one segment', true],
    ['team/*', 'team/a/b', 'not two segments', false],
    ['team/*', 'team', 'not the bare prefix', false],
    ['team/*', 'teams/app', 'not another prefix', false],
    ['team/**', 'team/app', 'one segment', true],
    ['team/**', 'team/a/b', 'two segments', true],
    ['team/**', 'team/a/b/c/d', 'many segments', true],
    ['team/**', 'other/team/app', 'not a nested match', false],
    ['{a,b}/x', 'a/x', 'the first alternative', true],
    ['{a,b}/x', 'b/x', 'the second alternative', true],
    ['{a,b}/x', 'c/x', 'not another name', false],
    ['{a,b}/x', 'a/x/y', 'not deeper', false],
    ['org/app', 'org/app', 'a literal name', true],
    ['org/app', 'org/app2', 'a literal name, not a prefix', false],
    ['org/app-?', 'org/app-1', '`?` is one character', true],
    ['org/app-?', 'org/app-12', '`?` is not two characters', false],
    ['**', 'any/thing/at/all', '`**` is everything', true],
    ['*', 'a/b', '`*` alone is one segment', false],
    ['team/.*', 'team/.hidden', 'dot names', true],
  ];
  for (const [glob, repository, what, matches] of cases) {
    it(`${glob} ${matches ? 'matches' : 'does not match'} ${repository} (${what})`, () => {
      const rules = compileRules([{ subjects: ['anonymous'], repositories: [glob], actions: PULL }], {});
      assert.deepEqual(rules.actionsFor(ANONYMOUS, repository), matches ? PULL : []);
    });
  }
  it('a rule with several globs matches any of them', () => {
    const rules = compileRules([{ subjects: ['anonymous'], repositories: ['a/*', 'b/**'], actions: PULL }], {});
    assert.deepEqual(rules.actionsFor(ANONYMOUS, 'a/1'), PULL);
    assert.deepEqual(rules.actionsFor(ANONYMOUS, 'b/1/2'), PULL);
    assert.deepEqual(rules.actionsFor(ANONYMOUS, 'a/1/2'), []);
    assert.deepEqual(rules.actionsFor(ANONYMOUS, 'c/1'), []);
  });
});

describe('compileRules: combining rules', () => {
  const rules = compileRules(
    [
      { subjects: ['anonymous'], repositories: ['team/**'], actions: PULL },
      { subjects: ['group:devs'], repositories: ['team/*'], actions: PUSH },
      { subjects: ['alice'], repositories: ['team/app'], actions: PULL_PUSH },
      { subjects: ['authenticated'], repositories: ['other/*'], actions: PULL },
    ],
    { devs: ['bob'] },
  );
  const cases: Array<[string, Identity, string, RepositoryAction[]]> = [
    ['pull from one rule and push from another add up', staticBob, 'team/app', PULL_PUSH],
    ['only the rules whose globs match count', staticBob, 'team/a/b', PULL],
    ['the same action from several rules is granted once', staticAlice, 'team/app', PULL_PUSH],
    ['an anonymous caller gets the anonymous rule only', ANONYMOUS, 'team/app', PULL],
    ['a Kubernetes member of devs gets both', kubernetesDev, 'team/app', PULL_PUSH],
    ['no rule matches the repository', staticBob, 'elsewhere/app', []],
    ['a host gets the authenticated rule', host, 'other/x', PULL],
  ];
  for (const [description, identity, repository, expected] of cases) {
    it(description, () => {
      const granted = rules.actionsFor(identity, repository);
      assert.deepEqual(sorted(granted), sorted(expected));
      assert.equal(new Set(granted).size, granted.length, 'no action is listed twice');
    });
  }
});

describe('compileRules: no rules', () => {
  const rules = compileRules([], { devs: ['alice'] });
  for (const identity of [ANONYMOUS, ANONYMOUS_WITH_TOKEN, staticAlice, katelloAlice, kubernetesDev, host]) {
    it(`grants nothing to ${identity.kind === 'user' ? `${identity.provider} user ${identity.username}` : identity.kind}`, () => {
      assert.deepEqual(rules.actionsFor(identity, 'org/app'), []);
    });
  }
  it('a rule whose subjects match nobody grants nothing', () => {
    const nobody = compileRules([{ subjects: ['group:empty'], repositories: ['**'], actions: PULL_PUSH }], { empty: [] });
    assert.deepEqual(nobody.actionsFor(staticAlice, 'org/app'), []);
  });
});
