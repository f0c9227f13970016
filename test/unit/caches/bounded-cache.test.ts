/** BoundedCache (src/caches/bounded-cache.ts): bounded by entries and bytes, entries may expire. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import { BoundedCache, stringBytes } from '../../../src/caches/bounded-cache.js';

describe('BoundedCache', () => {
  it('holds at most maxEntries, the least recently used dropped first', () => {
    const cache = new BoundedCache<string, string>('test', { maxEntries: 3, maxBytes: 1_000_000, sizeOf: (value) => stringBytes(value) });
    for (const key of ['a', 'b', 'c']) cache.set(key, key);
    cache.get('a');
    cache.set('d', 'd');
    assert.deepEqual([...cache.keys()].sort(), ['a', 'c', 'd']);
  });

  it('holds at most maxBytes; an entry larger than that is not kept', () => {
    const cache = new BoundedCache<string, string>('test', { maxEntries: 1_000, maxBytes: 100, sizeOf: (value) => value.length });
    for (let i = 0; i < 10; i += 1) cache.set(`k${i}`, 'x'.repeat(30));
    assert.ok(cache.calculatedSize <= 100, String(cache.calculatedSize));
    assert.equal(cache.size, 3);
    cache.set('huge', 'x'.repeat(101));
    assert.equal(cache.get('huge'), undefined);
  });

  it('an expired entry is never answered, and the sweep drops it', async () => {
    const cache = new BoundedCache<string, number>('test', { maxEntries: 10, maxBytes: 1_000, sizeOf: () => 10 });
    cache.set('short', 1, { ttl: 20 });
    cache.set('long', 2, { ttl: 60_000 });
    cache.set('forever', 3);
    await new Promise((resolve) => setTimeout(resolve, 40));
    assert.equal(cache.size, 3, 'still held until met or swept');
    cache.purgeStale();
    assert.deepEqual([...cache.keys()].sort(), ['forever', 'long']);
    assert.equal(cache.cacheName, 'test');
  });

  it('an empty cache costs next to nothing, however many entries it may hold', () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const usedHeap = (): number => {
      gc();
      return v8.getHeapStatistics().used_heap_size;
    };
    const before = usedHeap();
    const caches = Array.from({ length: 10 }, (_, index) => new BoundedCache<string, number>(`empty-${index}`, { maxEntries: 100_000, maxBytes: 1e8, sizeOf: () => 1, ttlMs: 1_000 }));
    const grown = usedHeap() - before;
    // lru-cache given `max` allocates its index for every entry up front: 38 MiB for these ten.
    assert.ok(grown < 1024 * 1024, `ten empty caches took ${(grown / 1024).toFixed(0)} KiB`);
    assert.equal(caches.length, 10);
  });
});
