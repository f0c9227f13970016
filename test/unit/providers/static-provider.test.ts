/** The static provider: htpasswd users, robots (plain or bcrypt), and its rules filtered by what is wanted. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import bcrypt from 'bcryptjs';
import { ANONYMOUS, type Identity } from '../../../src/access/identity.js';
import type { RepositoryAction } from '../../../src/access/required-access.js';
import type { GatewayConfig } from '../../../src/config/compiled.js';
import type { IdentityProvider, LoginOutcome } from '../../../src/providers/provider.js';
import { PasswordChecks } from '../../../src/providers/password-checks.js';
import { createStaticProvider } from '../../../src/providers/static-provider.js';

/** The real worker pool, as the app uses it. */
const checks = new PasswordChecks({ workers: 1, queue: 100 });
after(() => checks.close());

type StaticConfig = GatewayConfig['identity']['static'];

const request = { scopes: [] };
const hashOf = (password: string, prefix = '$2b$') => prefix + bcrypt.hashSync(password, 4).slice(4);

function config(overrides: Partial<StaticConfig> = {}): StaticConfig {
  return {
    users: new Map([
      ['alice', hashOf('alice-password', '$2y$')],
      ['bob', hashOf('bob-password', '$2a$')],
      ['carol', hashOf('carol-password')],
    ]),
    robots: [
      { username: 'ci-plain', password: 'plain-robot-secret' },
      { username: 'ci-hashed', password: hashOf('hashed-robot-secret', '$2y$') },
    ],
    groups: { devs: ['alice', 'ci-plain'] },
    rules: [
      { subjects: ['anonymous'], repositories: ['public/**'], actions: ['pull'] },
      { subjects: ['group:devs'], repositories: ['team/*'], actions: ['pull', 'push'] },
      { subjects: ['bob'], repositories: ['team/*'], actions: ['pull'] },
      { subjects: ['ci-hashed'], repositories: ['ci/**'], actions: ['push'] },
    ],
    ...overrides,
  };
}

const accepted = (username: string): LoginOutcome => ({ kind: 'accepted', identity: { kind: 'user', username, provider: 'static' } });
const REJECTED: LoginOutcome = { kind: 'rejected' };

describe('createStaticProvider: login', () => {
  let provider: IdentityProvider;
  before(() => {
    provider = createStaticProvider(config(), checks);
  });

  it('is the static provider', () => assert.equal(provider.name, 'static'));

  const table: Array<[string, string, string, LoginOutcome]> = [
    ['an htpasswd user ($2y$) with the right password', 'alice', 'alice-password', accepted('alice')],
    ['an htpasswd user ($2a$) with the right password', 'bob', 'bob-password', accepted('bob')],
    ['an htpasswd user ($2b$) with the right password', 'carol', 'carol-password', accepted('carol')],
    ['an htpasswd user with a wrong password', 'alice', 'bob-password', REJECTED],
    ['an htpasswd user with an empty password', 'alice', '', REJECTED],
    ['an htpasswd user with the password in another case', 'alice', 'ALICE-PASSWORD', REJECTED],
    ['an htpasswd user with their own hash as the password', 'alice', config().users.get('alice') ?? '', REJECTED],
    ['an htpasswd user name in another case', 'Alice', 'alice-password', REJECTED],
    ['an unknown user', 'mallory', 'alice-password', REJECTED],
    ['an unknown user with an empty password', 'mallory', '', REJECTED],
    ['a robot with a plain password, right password', 'ci-plain', 'plain-robot-secret', accepted('ci-plain')],
    ['a robot with a plain password, wrong password', 'ci-plain', 'plain-robot-secreT', REJECTED],
    ['a robot with a plain password, a prefix of it', 'ci-plain', 'plain-robot', REJECTED],
    ['a robot with a plain password, an empty password', 'ci-plain', '', REJECTED],
    ['a robot with a bcrypt hash, right password', 'ci-hashed', 'hashed-robot-secret', accepted('ci-hashed')],
    ['a robot with a bcrypt hash, wrong password', 'ci-hashed', 'wrong', REJECTED],
    ['a robot with a bcrypt hash, the hash itself as the password', 'ci-hashed', config().robots[1]?.password ?? '', REJECTED],
    ['a robot name with another robot\'s password', 'ci-hashed', 'plain-robot-secret', REJECTED],
    ['a user with a robot\'s password', 'alice', 'plain-robot-secret', REJECTED],
  ];
  for (const [rule, username, password, expected] of table) {
    it(rule, async () => assert.deepEqual(await provider.login({ username, password }, request), expected));
  }

  it('a robot and an htpasswd user of the same name: the robot\'s secret counts', async () => {
    const shadowing = createStaticProvider(config({ robots: [{ username: 'alice', password: 'robot-alice' }] }), checks);
    assert.deepEqual(await shadowing.login({ username: 'alice', password: 'robot-alice' }, request), accepted('alice'));
    assert.deepEqual(await shadowing.login({ username: 'alice', password: 'alice-password' }, request), REJECTED);
  });

  it('with no users and no robots, everyone is rejected', async () => {
    const empty = createStaticProvider(config({ users: new Map(), robots: [] }), checks);
    assert.deepEqual(await empty.login({ username: 'alice', password: 'alice-password' }, request), REJECTED);
  });

  it('a robot secret that only looks like a bcrypt hash is rejected, not an exception', async () => {
    const odd = createStaticProvider(config({ robots: [{ username: 'odd', password: `$2x$${hashOf('x').slice(4)}` }] }), checks);
    assert.deepEqual(await odd.login({ username: 'odd', password: 'wrong' }, request), REJECTED);
  });
});

describe('createStaticProvider: actionsFor', () => {
  let provider: IdentityProvider;
  before(() => {
    provider = createStaticProvider(config(), checks);
  });
  const alice: Identity = { kind: 'user', username: 'alice', provider: 'static' };
  const bob: Identity = { kind: 'user', username: 'bob', provider: 'static' };
  const robot: Identity = { kind: 'user', username: 'ci-hashed', provider: 'static' };
  const katelloAlice: Identity = { kind: 'user', username: 'alice', provider: 'katello' };
  const PULL: RepositoryAction[] = ['pull'];
  const PUSH: RepositoryAction[] = ['push'];
  const BOTH: RepositoryAction[] = ['pull', 'push'];

  const table: Array<[string, Identity, string, RepositoryAction[], RepositoryAction[]]> = [
    ['a group member wanting pull and push gets both', alice, 'team/app', BOTH, BOTH],
    ['a group member wanting pull gets pull only', alice, 'team/app', PULL, PULL],
    ['a group member wanting push gets push only', alice, 'team/app', PUSH, PUSH],
    ['a user granted pull wanting pull and push gets pull', bob, 'team/app', BOTH, PULL],
    ['a user granted pull wanting push gets nothing', bob, 'team/app', PUSH, []],
    ['a robot granted push wanting pull gets nothing', robot, 'ci/a/b', PULL, []],
    ['a robot granted push wanting both gets push', robot, 'ci/a/b', BOTH, PUSH],
    ['wanting nothing gets nothing', alice, 'team/app', [], []],
    ['no rule matches the repository', alice, 'elsewhere/app', BOTH, []],
    ['anonymous rules apply to everyone', ANONYMOUS, 'public/x/y', BOTH, PULL],
    ['a user of another provider is not the static user of that name', katelloAlice, 'team/app', BOTH, []],
  ];
  for (const [rule, identity, repository, wanted, expected] of table) {
    it(rule, async () => {
      const granted = await provider.actionsFor(identity, repository, wanted);
      assert.deepEqual([...granted].sort(), [...expected].sort());
    });
  }
});
