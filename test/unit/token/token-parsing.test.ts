import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AnonymousTokens } from '../../../src/token/anonymous-token.js';
import { parseBasicAuthorization } from '../../../src/token/basic-credentials.js';
import { MAX_SCOPE_LENGTH, MAX_SCOPES, parseScope, parseScopes } from '../../../src/token/scope.js';

describe('parseScope', () => {
  const accepted: Array<[string, string, unknown]> = [
    ['a plain repository', 'repository:library/alpine:pull', { type: 'repository', name: 'library/alpine', actions: ['pull'] }],
    ['a name with host:port', 'repository:registry.example.com:5000/org/app:pull', { type: 'repository', name: 'registry.example.com:5000/org/app', actions: ['pull'] }],
    ['several actions', 'repository:a/b:pull,push', { type: 'repository', name: 'a/b', actions: ['pull', 'push'] }],
    ['the wildcard action', 'repository:a:*', { type: 'repository', name: 'a', actions: ['*'] }],
    ['the catalog', 'registry:catalog:*', { type: 'registry', name: 'catalog', actions: ['*'] }],
    ['a resource class', 'repository(plugin):a:pull', { type: 'repository(plugin)', name: 'a', actions: ['pull'] }],
  ];
  for (const [rule, scope, expected] of accepted) it(`accepts ${rule}`, () => assert.deepEqual(parseScope(scope), expected));
  for (const bad of ['', 'repository', 'repository:a', 'repository::pull', 'repository:A/B:pull', 'repository:a/../b:pull', 'repository:a:PULL', ':a:pull']) {
    it(`refuses "${bad}"`, () => assert.equal(parseScope(bad), undefined));
  }
  it('takes repeated and space-separated scopes', () => {
    const { scopes, invalid } = parseScopes(['repository:a:pull repository:b:pull', 'repository:c:pull']);
    assert.deepEqual(scopes.map((s) => s.name), ['a', 'b', 'c']);
    assert.deepEqual(invalid, []);
  });
  it('at most MAX_SCOPES scopes, each at most MAX_SCOPE_LENGTH characters', () => {
    assert.equal(parseScopes(Array.from({ length: MAX_SCOPES }, (_unused, index) => `repository:a${index}:pull`)).tooMany, false);
    assert.equal(parseScopes(Array.from({ length: MAX_SCOPES + 1 }, (_unused, index) => `repository:a${index}:pull`)).tooMany, true);
    assert.equal(parseScopes([Array.from({ length: MAX_SCOPES + 1 }, () => 'repository:a:pull').join(' ')]).tooMany, true);
    const longest = `repository:${'a'.repeat(MAX_SCOPE_LENGTH - 16)}:pull`;
    assert.deepEqual(parseScopes([longest]).invalid, []);
    assert.deepEqual(parseScopes([`${longest}xx`.replace(':pull', 'aa:pull')]).invalid.length, 1);
  });
});

describe('parseBasicAuthorization', () => {
  const encode = (text: string) => Buffer.from(text).toString('base64');
  it('reads user and password; the password may contain colons', () => {
    assert.deepEqual(parseBasicAuthorization(`Basic ${encode('alice:pa:ss')}`), { kind: 'valid', credentials: { username: 'alice', password: 'pa:ss' } });
  });
  it('no header, or another scheme, is absent', () => {
    assert.equal(parseBasicAuthorization(undefined).kind, 'absent');
    assert.equal(parseBasicAuthorization('Bearer x').kind, 'absent');
  });
  for (const [rule, header] of [
    ['bad base64', 'Basic !!!'],
    ['no colon', `Basic ${encode('alice')}`],
    ['an empty user', `Basic ${encode(':pw')}`],
    ['an empty value', 'Basic '],
    ['control characters in the user', `Basic ${encode('al\nice:pw')}`],
  ] as const) {
    it(`refuses ${rule}`, () => assert.equal(parseBasicAuthorization(header).kind, 'invalid'));
  }
});

describe('AnonymousTokens', () => {
  const tokens = new AnonymousTokens(Buffer.alloc(32, 7));
  const now = 1_800_000_000_000;
  it('verifies what it issued until it expires', () => {
    const token = tokens.issue(now / 1000 + 300);
    assert.ok(tokens.verify(token, now));
    assert.ok(!tokens.verify(token, now + 301_000));
  });
  it('refuses a token signed with another key, and a tampered expiry', () => {
    const foreign = new AnonymousTokens(Buffer.alloc(32, 8)).issue(now / 1000 + 300);
    assert.ok(!tokens.verify(foreign, now));
    const token = tokens.issue(now / 1000 + 300);
    const [, , mac] = token.split('.');
    assert.ok(!tokens.verify(`anon.${now / 1000 + 99999}.${mac}`, now));
  });
  for (const bad of ['anon.', 'anon.x.y', 'anon.1', 'anon.123.', 'nope']) it(`refuses "${bad}"`, () => assert.ok(!tokens.verify(bad, now)));
});
