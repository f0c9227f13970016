import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { RegistryError } from '../../../src/errors/registry-error.js';
import { isValidRepositoryName } from '../../../src/registry/grammar.js';
import { parseRegistryPath, splitUrl } from '../../../src/registry/paths.js';

const digest = `sha256:${'a'.repeat(64)}`;

const accepted: Array<[string, string, unknown]> = [
  ['base with slash', '/v2/', { kind: 'base' }],
  ['base without slash', '/v2', { kind: 'base' }],
  ['catalog', '/v2/_catalog', { kind: 'catalog' }],
  ['manifest by tag', '/v2/alpine/manifests/latest', { kind: 'manifest', name: 'alpine', reference: 'latest', byDigest: false }],
  ['manifest by digest', `/v2/alpine/manifests/${digest}`, { kind: 'manifest', name: 'alpine', reference: digest, byDigest: true }],
  ['name with slashes', '/v2/org/team/app/manifests/v1.0', { kind: 'manifest', name: 'org/team/app', reference: 'v1.0', byDigest: false }],
  ['name with a component called manifests', '/v2/a/manifests/b/manifests/t', { kind: 'manifest', name: 'a/manifests/b', reference: 't', byDigest: false }],
  ['name with separators', '/v2/my-org/a__b/c.d/tags/list', { kind: 'tags', name: 'my-org/a__b/c.d' }],
  ['blob', `/v2/x/y/blobs/${digest}`, { kind: 'blob', name: 'x/y', digest }],
  ['referrers', `/v2/x/referrers/${digest}`, { kind: 'referrers', name: 'x', digest }],
  ['upload start', '/v2/x/blobs/uploads/', { kind: 'upload', name: 'x' }],
  ['upload session', '/v2/x/blobs/uploads/0a1b-2c', { kind: 'upload', name: 'x' }],
  ['upload start without slash', '/v2/x/blobs/uploads', { kind: 'upload', name: 'x' }],
  ['name with a component called blobs', '/v2/a/blobs/uploads/b/blobs/uploads', { kind: 'upload', name: 'a/blobs/uploads/b' }],
];

const refused: Array<[string, string, string, number]> = [
  ['dot-dot segment', '/v2/a/../b/manifests/latest', 'NAME_INVALID', 400],
  ['dot segment', '/v2/a/./b/manifests/latest', 'NAME_INVALID', 400],
  ['encoded slash', '/v2/a%2Fb/manifests/latest', 'NAME_INVALID', 400],
  ['encoded dot', '/v2/a/%2E%2E/b/manifests/latest', 'NAME_INVALID', 400],
  ['encoded lower-case slash', '/v2/a%2fb/tags/list', 'NAME_INVALID', 400],
  ['empty segment', '/v2/a//b/manifests/latest', 'NAME_INVALID', 400],
  ['trailing slash', '/v2/a/tags/list/', 'NAME_INVALID', 400],
  ['backslash', '/v2/a\\b/tags/list', 'NAME_INVALID', 400],
  ['upper-case name', '/v2/Alpine/manifests/latest', 'NAME_INVALID', 400],
  ['name starting with separator', '/v2/-a/manifests/latest', 'NAME_INVALID', 400],
  ['name too long', `/v2/${'a'.repeat(256)}/manifests/latest`, 'NAME_INVALID', 400],
  ['tag too long', `/v2/a/manifests/${'t'.repeat(129)}`, 'MANIFEST_UNKNOWN', 404],
  ['tag starting with dot', '/v2/a/manifests/.hidden', 'MANIFEST_UNKNOWN', 404],
  ['tag with colon but not a digest', '/v2/a/manifests/foo:bar', 'MANIFEST_UNKNOWN', 404],
  ['short sha256 digest', '/v2/a/blobs/sha256:abc', 'DIGEST_INVALID', 400],
  ['upper-case sha256 digest', `/v2/a/blobs/sha256:${'A'.repeat(64)}`, 'DIGEST_INVALID', 400],
  ['unknown digest algorithm', `/v2/a/blobs/md5:${'a'.repeat(32)}`, 'DIGEST_INVALID', 400],
  ['blob by tag', '/v2/a/blobs/latest', 'DIGEST_INVALID', 400],
  ['no endpoint', '/v2/a/b', 'NOT_FOUND', 404],
  ['bare name', '/v2/alpine', 'NOT_FOUND', 404],
  ['endpoint without a name', '/v2/manifests/latest', 'NOT_FOUND', 404],
  ['a segment named after an Object property', '/v2/a/constructor/latest', 'NOT_FOUND', 404],
];

/**
 * CNCF Distribution's route regexes (registry/api/v2/routes.go), tried in the order the gateway
 * gives them precedence: what parseRegistryPath's one-pass matcher must agree with.
 */
const DISTRIBUTION_ROUTES: ReadonlyArray<[string, RegExp]> = [
  ['upload', /^\/v2\/(.+)\/blobs\/uploads(?:\/[^/]*)?$/],
  ['manifest', /^\/v2\/(.+)\/manifests\/([^/]+)$/],
  ['blob', /^\/v2\/(.+)\/blobs\/([^/]+)$/],
  ['tags', /^\/v2\/(.+)\/tags\/list$/],
  ['referrers', /^\/v2\/(.+)\/referrers\/([^/]+)$/],
];

function routeByRegex(path: string): { kind: string; name: string; last: string } | undefined {
  for (const [kind, regex] of DISTRIBUTION_ROUTES) {
    const match = regex.exec(path);
    if (match !== null) return { kind, name: match[1] ?? '', last: match[2] ?? '' };
  }
  return undefined;
}

/** What parseRegistryPath made of a path, or the error code it refused it with. */
function outcomeOf(path: string): unknown {
  try {
    return parseRegistryPath(path);
  } catch (error) {
    return error instanceof RegistryError ? error.code : String(error);
  }
}

describe('parseRegistryPath', () => {
  it('finds the endpoint, name and argument the route regexes find (property)', () => {
    const segment = fc.oneof(
      fc.constantFrom('', 'manifests', 'blobs', 'uploads', 'tags', 'list', 'referrers', 'a', 'b-c', 'v2', 'constructor', '__proto__', digest, 'latest'),
      fc.string({ maxLength: 6 }),
    );
    fc.assert(
      fc.property(fc.array(segment, { maxLength: 7 }), fc.boolean(), (segments, leadingV2) => {
        const path = `${leadingV2 ? '/v2/' : '/'}${segments.join('/')}`;
        const outcome = outcomeOf(path) as { kind?: string; name?: string; reference?: string; digest?: string } | string;
        const expected = routeByRegex(path);
        if (typeof outcome === 'object' && outcome.kind !== 'base' && outcome.kind !== 'catalog') {
          assert.ok(expected !== undefined, `${path}: parsed as ${JSON.stringify(outcome)}, no route regex matches`);
          assert.equal(outcome.kind, expected.kind, path);
          assert.equal(outcome.name, expected.name, path);
          if (outcome.reference !== undefined || outcome.digest !== undefined) assert.equal(outcome.reference ?? outcome.digest, expected.last, path);
        }
        // Refused as no endpoint exactly when no route regex matches (path tricks are refused first, whatever they match).
        if (outcome === 'NOT_FOUND') assert.equal(expected, undefined, `${path}: NOT_FOUND, but the ${expected?.kind} route matches`);
        if (expected === undefined) assert.ok(typeof outcome === 'string' || outcome.kind === 'base' || outcome.kind === 'catalog', `${path}: matched no route regex`);
      }),
      { numRuns: 5000 },
    );
  });

  for (const [rule, path, expected] of accepted) {
    it(`accepts ${rule}`, () => assert.deepEqual(parseRegistryPath(path), expected));
  }
  for (const [rule, path, code, status] of refused) {
    it(`refuses ${rule} with ${code}`, () => {
      assert.throws(
        () => parseRegistryPath(path),
        (error: unknown) => error instanceof RegistryError && error.code === code && error.status === status,
      );
    });
  }

  it('never yields a name that is not in the distribution-spec grammar (property)', () => {
    const segment = fc.oneof(fc.constantFrom('..', '.', '', '%2F', '%2e', 'manifests', 'blobs', 'tags', 'list', 'a', 'b-c', 'X'), fc.string({ maxLength: 8 }));
    fc.assert(
      fc.property(fc.array(segment, { maxLength: 8 }), (segments) => {
        const path = `/v2/${segments.join('/')}`;
        try {
          const route = parseRegistryPath(path);
          if ('name' in route) {
            assert.ok(isValidRepositoryName(route.name), `bad name from ${path}`);
            assert.ok(!route.name.split('/').includes('..'));
          }
        } catch (error) {
          assert.ok(error instanceof RegistryError, `unexpected ${String(error)} for ${path}`);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('splitUrl', () => {
  it('splits origin-form targets', () => assert.deepEqual(splitUrl('/v2/a/tags/list?n=1'), { path: '/v2/a/tags/list', query: 'n=1' }));
  it('reduces absolute-form targets to their path (RFC 9112 §3.2.2)', () => {
    assert.deepEqual(splitUrl('http://gw.example:5050/v2/a/manifests/v1'), { path: '/v2/a/manifests/v1', query: '' });
    assert.deepEqual(splitUrl('https://gw.example/v2/?x=1'), { path: '/v2/', query: 'x=1' });
  });
});
