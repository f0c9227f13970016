import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RegistryError } from '../../../src/errors/registry-error.js';
import { nextLink, paginate, parsePageRequest } from '../../../src/registry/pagination.js';

const tags = ['a', 'b', 'c', 'd', 'e'];

describe('paginate', () => {
  it('returns everything without n', () => assert.deepEqual(paginate(tags, { n: undefined, last: undefined }), { items: tags, next: undefined }));
  it('returns the first n and a next page', () => assert.deepEqual(paginate(tags, { n: 2, last: undefined }), { items: ['a', 'b'], next: { n: 2, last: 'b' } }));
  it('starts after last, excluding it', () => assert.deepEqual(paginate(tags, { n: 2, last: 'b' }), { items: ['c', 'd'], next: { n: 2, last: 'd' } }));
  it('has no next page on the last page', () => assert.deepEqual(paginate(tags, { n: 2, last: 'd' }), { items: ['e'], next: undefined }));
  it('an exact final page has no next page', () => assert.deepEqual(paginate(tags, { n: 5, last: undefined }), { items: tags, next: undefined }));
  it('a last that is not in the list starts after where it would sort', () => assert.deepEqual(paginate(tags, { n: 1, last: 'bb' }).items, ['c']));
  it('n=0 returns an empty page', () => assert.deepEqual(paginate(tags, { n: 0, last: undefined }).items, []));
  it('uses the default page size when n is absent', () => assert.deepEqual(paginate(tags, { n: undefined, last: undefined }, 3).items, ['a', 'b', 'c']));
});

describe('parsePageRequest', () => {
  it('reads n and last', () => assert.deepEqual(parsePageRequest(new URLSearchParams('n=3&last=x')), { n: 3, last: 'x' }));
  it('clamps a huge n', () => assert.equal(parsePageRequest(new URLSearchParams('n=99999999')).n, 10_000));
  for (const bad of ['-1', 'abc', '1.5', '1e3']) {
    it(`refuses n=${bad} with PAGINATION_NUMBER_INVALID`, () => {
      assert.throws(() => parsePageRequest(new URLSearchParams({ n: bad })), (e: unknown) => e instanceof RegistryError && e.code === 'PAGINATION_NUMBER_INVALID');
    });
  }
  it('links to the gateway path with an escaped last', () => {
    assert.equal(nextLink('/v2/a/b/tags/list', { n: 2, last: 'x/y' }), '</v2/a/b/tags/list?n=2&last=x%2Fy>; rel="next"');
  });
});
