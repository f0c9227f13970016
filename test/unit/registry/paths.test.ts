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
];

describe('parseRegistryPath', () => {
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
