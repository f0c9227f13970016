/** CacheSpace (src/blob-cache/cache-space.ts): the blob cache's disk space, least recently used out first. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CacheSpace } from '../../../src/blob-cache/cache-space.js';

function filled(space: CacheSpace, entries: Array<[string, number]>): void {
  for (const [digest, size] of entries) {
    const room = space.reserve(size);
    assert.ok(room !== undefined, `room for ${digest}`);
    space.commit(room.reservation, digest, size);
  }
}

describe('CacheSpace', () => {
  it('room within the cap evicts nothing', () => {
    const space = new CacheSpace(100);
    filled(space, [['a', 30], ['b', 30]]);
    assert.deepEqual(space.reserve(40)?.evicted, []);
    assert.equal(space.bytes + space.reserved, 100);
  });

  it('making room evicts the least recently used first, no more than needed', () => {
    const space = new CacheSpace(100);
    filled(space, [['a', 30], ['b', 30], ['c', 30]]);
    space.touch('a');
    assert.deepEqual(space.reserve(40)?.evicted, ['b']);
    assert.deepEqual(space.reserve(30)?.evicted, ['c']);
    assert.equal(space.sizeOf('a'), 30);
    assert.equal(space.count, 1);
  });

  it('a blob larger than the cap is refused, and nothing is evicted for it', () => {
    const space = new CacheSpace(100);
    filled(space, [['a', 60]]);
    assert.equal(space.reserve(101), undefined);
    assert.equal(space.sizeOf('a'), 60);
  });

  it('fills in progress hold their room: a fill that cannot fit beside them is refused without evicting', () => {
    const space = new CacheSpace(100);
    filled(space, [['a', 20]]);
    const first = space.reserve(70);
    assert.ok(first !== undefined);
    assert.equal(space.reserve(40), undefined, 'only 20 could be freed; 40 are needed');
    assert.equal(space.sizeOf('a'), 20);
    assert.deepEqual(space.reserve(30)?.evicted, ['a']);
  });

  it('a released reservation gives its room back; a committed one becomes the most recent entry', () => {
    const space = new CacheSpace(100);
    filled(space, [['a', 50]]);
    const failed = space.reserve(50);
    assert.ok(failed !== undefined);
    space.release(failed.reservation);
    assert.equal(space.reserved, 0);
    filled(space, [['b', 50]]);
    assert.deepEqual(space.reserve(50)?.evicted, ['a']);
  });

  it('entries found on disk beyond a lowered cap are evicted oldest first', () => {
    const space = new CacheSpace(100);
    assert.deepEqual(space.adopt('old', 60), []);
    assert.deepEqual(space.adopt('new', 60), ['old']);
    assert.equal(space.bytes, 60);
  });

  it('a forgotten entry frees its bytes; forgetting twice changes nothing', () => {
    const space = new CacheSpace(100);
    filled(space, [['a', 40]]);
    space.forget('a');
    space.forget('a');
    assert.equal(space.bytes, 0);
    assert.equal(space.touch('a'), undefined);
  });
});
