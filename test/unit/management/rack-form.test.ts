/**
 * parseRackForm reads a form body as Rack's `parse_nested_query` does. The table is Rack's own
 * (rack/test/spec_utils.rb, "parse nested query strings correctly", "only moves to a new array
 * when the full key has been seen"), where smart_proxy_container_gateway gets its params from;
 * Rack's cases for unpaired brackets ("handles unexpected use of [ and ] in parameter keys") and
 * for a list replaced by a bare key are refused instead, on purpose. The property tests feed it
 * what rest-client 2.1 produces (lib/restclient/utils.rb `flatten_params`, `encode_query_string`)
 * and what an attacker might send.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { FormBodyInvalid, MAX_KEY_LENGTH, parseRackForm, type FormValue } from '../../../src/management/rack-form.js';
import { encodeRestClientForm } from '../../fake-katello/rest-client-form.js';

/** Plain objects for deepEqual (the parser's hashes have no prototype). */
function plain(value: FormValue): unknown {
  if (value === null || typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(plain);
  return Object.fromEntries(Object.entries(value).map(([key, child]) => [key, plain(child)]));
}

const parsed = (body: string) => plain(parseRackForm(body));

describe('parseRackForm reads what Rack reads', () => {
  const rackTable: Array<[string, unknown]> = [
    ['foo', { foo: null }],
    ['foo=', { foo: '' }],
    ['foo=bar', { foo: 'bar' }],
    ['foo="bar"', { foo: '"bar"' }],
    ['foo=bar&foo=quux', { foo: 'quux' }],
    ['foo&foo=', { foo: '' }],
    ['foo=1&bar=2', { foo: '1', bar: '2' }],
    ['&foo=1&&bar=2', { foo: '1', bar: '2' }],
    ['foo&bar=', { foo: null, bar: '' }],
    ['foo=bar&baz=', { foo: 'bar', baz: '' }],
    ['my+weird+field=q1%212%22%27w%245%267%2Fz8%29%3F', { 'my weird field': 'q1!2"\'w$5&7/z8)?' }],
    ['a=b&pid%3D1234=1023', { 'pid=1234': '1023', a: 'b' }],
    ['foo[]', { foo: [null] }],
    ['foo[]=', { foo: [''] }],
    ['foo[]=bar', { foo: ['bar'] }],
    ['foo[]=bar&foo[]', { foo: ['bar', null] }],
    ['foo[]=1&foo[]=2', { foo: ['1', '2'] }],
    ['foo=bar&baz[]=1&baz[]=2&baz[]=3', { foo: 'bar', baz: ['1', '2', '3'] }],
    ['x[y][z]', { x: { y: { z: null } } }],
    ['x[y][z]=1', { x: { y: { z: '1' } } }],
    ['x[y][z][]=1', { x: { y: { z: ['1'] } } }],
    ['x[y][z]=1&x[y][z]=2', { x: { y: { z: '2' } } }],
    ['x[y][z][]=1&x[y][z][]=2', { x: { y: { z: ['1', '2'] } } }],
    ['x[y][][z]=1', { x: { y: [{ z: '1' }] } }],
    ['x[y][][z][]=1', { x: { y: [{ z: ['1'] }] } }],
    ['x[y][][z]=1&x[y][][w]=2', { x: { y: [{ z: '1', w: '2' }] } }],
    ['x[y][][v][w]=1', { x: { y: [{ v: { w: '1' } }] } }],
    ['x[y][][z]=1&x[y][][v][w]=2', { x: { y: [{ z: '1', v: { w: '2' } }] } }],
    ['x[y][][z]=1&x[y][][z]=2', { x: { y: [{ z: '1' }, { z: '2' }] } }],
    ['x[y][][z]=1&x[y][][w]=a&x[y][][z]=2&x[y][][w]=3', { x: { y: [{ z: '1', w: 'a' }, { z: '2', w: '3' }] } }],
    ['x[][y]=1&x[][z][w]=a&x[][y]=2&x[][z][w]=b', { x: [{ y: '1', z: { w: 'a' } }, { y: '2', z: { w: 'b' } }] }],
    ['x[][z][w]=a&x[][y]=1&x[][z][w]=b&x[][y]=2', { x: [{ y: '1', z: { w: 'a' } }, { y: '2', z: { w: 'b' } }] }],
    ['data[books][][data][page]=1&data[books][][data][page]=2', { data: { books: [{ data: { page: '1' } }, { data: { page: '2' } }] } }],
    ['x[][y][][z]=1&x[][y][][w]=2', { x: [{ y: [{ z: '1', w: '2' }] }] }],
  ];
  for (const [body, expected] of rackTable) {
    it(`${JSON.stringify(body)} → ${JSON.stringify(expected)}`, () => {
      assert.deepEqual(parsed(body), expected);
    });
  }

  it('moves to a new hash in a list only once the full key has been seen (Rack)', () => {
    assert.deepEqual(parsed('x[][id]=1&x[][y][a]=5&x[][y][b]=7&x[][z][id]=3&x[][z][w]=0&x[][id]=2&x[][y][a]=6&x[][y][b]=8&x[][z][id]=4&x[][z][w]=0'), {
      x: [
        { id: '1', y: { a: '5', b: '7' }, z: { id: '3', w: '0' } },
        { id: '2', y: { a: '6', b: '8' }, z: { id: '4', w: '0' } },
      ],
    });
  });

  it('reads the bodies Katello sends at sync time', () => {
    assert.deepEqual(parsed('repositories[][repository]=org-prod-busybox&repositories[][auth_required]=true&repositories[][repository]=id%2F1%2F2%2Fpush&repositories[][auth_required]=false'), {
      repositories: [
        { repository: 'org-prod-busybox', auth_required: 'true' },
        { repository: 'id/1/2/push', auth_required: 'false' },
      ],
    });
    assert.deepEqual(parsed('repositories'), { repositories: null });
    assert.deepEqual(parsed('users[][admin][][repository]=a&users[][admin][][auth_required]=true&users[][bob]'), { users: [{ admin: [{ repository: 'a', auth_required: 'true' }], bob: null }] });
    assert.deepEqual(parsed('hosts[][uuid]=u-1&hosts[][uuid]&hosts[][uuid]=u-2'), { hosts: [{ uuid: 'u-1' }, { uuid: null }, { uuid: 'u-2' }] });
  });

  const refused: Array<[string, string, RegExp]> = [
    ['a key used as a string, then as a hash', 'x[y]=1&x[y][z]=2', /expected a hash for "y"/],
    // Stricter than Rack, which reads these as odd names or lets them replace a list.
    ['a list given again as a bare key (Rack would empty the list)', 'foo[]=bar&foo', /given as a list or hash and again as a value/],
    ['a list given again as a value', 'users[][a][][repository]=x&users=', /given as a list or hash and again as a value/],
    ['an opening bracket that is never closed', 'foo[]=bar&foo[', /do not pair up/],
    ['a closing bracket without an opening one', 'c]=4', /do not pair up/],
    ['brackets inside brackets', 'f[[]]=7', /do not pair up/],
    ['text after a bracket group', 'g[h]i=8', /do not pair up/],
    ['a key that starts with a bracket', '[a]=2', /do not pair up/],
    ['a key used as a hash, then as a list', 'x[y]=1&x[]=1', /expected a list for "x"/],
    ['a string where a list of hashes goes', 'x[y]=1&x[y][][w]=2', /expected a list for "y"/],
    ['a percent sign without two hex digits', 'repositories[][repository]=a%2', /percent-encoding/],
    ['a percent escape of a lone UTF-8 continuation byte', 'foo%81E=1', /not UTF-8/],
    ['an encoded surrogate half', 'a=%ED%A0%80', /not UTF-8/],
    ['nesting deeper than Rack allows', `foo${'[a]'.repeat(32)}=bar`, /deeper than 32/],
    ['a ten-megabyte key', `${'k'.repeat(10 * 1024 * 1024)}=1`, /longer than/],
    ['a ten-megabyte value', `a=${'v'.repeat(10 * 1024 * 1024)}`, /longer than/],
  ];
  for (const [rule, body, message] of refused) {
    it(`refuses ${rule}`, () => {
      assert.throws(() => parseRackForm(body), (error: unknown) => error instanceof FormBodyInvalid && message.test(error.message));
    });
  }

  it('accepts nesting just under the limit', () => {
    assert.doesNotThrow(() => parseRackForm(`foo${'[a]'.repeat(31)}=bar`));
  });

  it('keeps __proto__ and constructor as plain keys', () => {
    const result = parseRackForm('__proto__[polluted]=1&constructor[prototype][x]=2');
    // JSON.parse makes `__proto__` an own key, as the parser does (an object literal would set the prototype).
    assert.deepEqual(plain(result), JSON.parse('{"__proto__":{"polluted":"1"},"constructor":{"prototype":{"x":"2"}}}'));
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});

describe('parseRackForm and rest-client agree (property)', () => {
  const name = fc.stringMatching(/^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*){0,2}$/).filter((text) => text.length <= 100);
  const login = fc.string({ minLength: 1, maxLength: 30 }).filter((text) => !/[[\]]/.test(text));
  const entry = fc.record({ repository: name, auth_required: fc.boolean() });

  it('a repository list survives the trip Katello → rest-client → Rack', () => {
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 20 }), (repositories) => {
        const body = encodeRestClientForm({ repositories });
        const expected = repositories.length === 0 ? { repositories: null } : { repositories: repositories.map((r) => ({ repository: r.repository, auth_required: String(r.auth_required) })) };
        assert.deepEqual(parsed(body), expected);
      }),
    );
  });

  it('every user of a mapping push keeps exactly their repositories', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(login, fc.array(entry, { maxLength: 5 })), { selector: ([user]) => user, maxLength: 8 }), (users) => {
        const body = encodeRestClientForm({ users: users.map(([user, repos]) => ({ [user]: repos })) });
        const result = parseRackForm(body);
        const seen = new Map<string, FormValue>();
        for (const hash of (result.users ?? []) as FormValue[]) for (const [user, repos] of Object.entries(hash as Record<string, FormValue>)) seen.set(user, repos);
        for (const [user, repos] of users) {
          assert.deepEqual(plain(seen.get(user) ?? null), repos.length === 0 ? null : repos.map((r) => ({ repository: r.repository, auth_required: String(r.auth_required) })));
        }
      }),
    );
  });

  it('no input makes it throw anything but FormBodyInvalid', () => {
    const alphabet = fc.constantFrom('[', ']', '&', '=', '%', '+', 'a', 'b', '0', 'F', ' ', '\u00e9', '%2', '%C3', '%A9', '[]', '__proto__');
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 80 }).map((parts) => parts.join('')), (body) => {
        try {
          parseRackForm(body);
        } catch (error) {
          assert.ok(error instanceof FormBodyInvalid, String(error));
        }
      }),
      { numRuns: 2_000 },
    );
  });

  it('keys at the length limit pass and one past it does not', () => {
    assert.doesNotThrow(() => parseRackForm(`${'k'.repeat(MAX_KEY_LENGTH)}=1`));
    assert.throws(() => parseRackForm(`${'k'.repeat(MAX_KEY_LENGTH + 1)}=1`), FormBodyInvalid);
  });
});

