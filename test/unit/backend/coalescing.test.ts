/** Coalesced reads (src/backend/coalescing/): who shares a read, and who cancels it. */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import type { ClientConnection } from '../../../src/backend/client.js';
import { ClientLeft, InFlight } from '../../../src/backend/coalescing/in-flight.js';
import { acceptSet, sharedReadKey } from '../../../src/backend/coalescing/read-key.js';
import { ManifestCache } from '../../../src/backend/manifest-cache.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;

class FakeClientConnection extends EventEmitter implements ClientConnection {
  writableFinished = false;
  leave(): void {
    this.emit('close');
  }
}

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (error: Error) => void } {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('sharedReadKey', () => {
  const url = new URL('http://backend/v2/team/app/manifests/latest');
  it('the same Accept set in another order, spacing or case is the same read', () => {
    const a = sharedReadKey('GET', url, { accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json' }, 10);
    const b = sharedReadKey('GET', url, { accept: 'application/vnd.oci.image.index.v1+json,Application/vnd.oci.image.manifest.v1+json' }, 10);
    assert.equal(a, b);
  });
  for (const [rule, other] of [
    ['another method is another read', sharedReadKey('HEAD', url, { accept: 'a/b' }, 10)],
    ['another URL (another repository, reference or query) is another read', sharedReadKey('GET', new URL('http://backend/v2/team/other/manifests/latest'), { accept: 'a/b' }, 10)],
    ['another Accept set is another read', sharedReadKey('GET', url, { accept: 'a/b, c/d' }, 10)],
    ['a Range is another read', sharedReadKey('GET', url, { accept: 'a/b', range: 'bytes=0-1' }, 10)],
    ['another size limit is another read', sharedReadKey('GET', url, { accept: 'a/b' }, 11)],
  ] as const) {
    it(rule, () => assert.notEqual(sharedReadKey('GET', url, { accept: 'a/b' }, 10), other));
  }
  it('an Accept set drops duplicates and empty entries', () => {
    assert.equal(acceptSet('b/c, a/b,,a/b '), 'a/b,b/c');
  });
});

describe('the manifest cache key', () => {
  it('a client inventing Accept values cannot rename the sets other clients\' cache entries are keyed by', () => {
    const common = ManifestCache.keyOf('team/app', DIGEST, 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json');
    const invented = Array.from({ length: 300 }, (_, index) => ManifestCache.keyOf('team/app', DIGEST, `application/x-invented-${index}#x`));
    assert.equal(ManifestCache.keyOf('team/app', DIGEST, 'application/vnd.oci.image.index.v1+json,application/vnd.oci.image.manifest.v1+json'), common);
    assert.equal(new Set(invented).size, invented.length, 'every set its own key');
    assert.ok(invented.every((key) => key.split('#').length === 2), 'a set named by itself holds no key separator');
  });

  it('compares Accept as shared reads do: the same types in another order are the same entry, other types another', () => {
    const key = (accept: string | undefined) => ManifestCache.keyOf('team/app', `sha256:${'a'.repeat(64)}`, accept);
    assert.equal(key('application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json'), key('application/vnd.oci.image.index.v1+json,application/vnd.oci.image.manifest.v1+json'));
    assert.notEqual(key('application/vnd.oci.image.manifest.v1+json'), key('application/vnd.oci.image.index.v1+json'));
    assert.notEqual(key(undefined), key('application/vnd.oci.image.manifest.v1+json'));
  });
});

describe('InFlight', () => {
  it('an identical read while one is out joins it: one call, the same answer to both', async () => {
    const reads = new InFlight<string>();
    const backend = deferred<string>();
    let calls = 0;
    let joined = 0;
    const start = () => {
      calls += 1;
      return backend.promise;
    };
    const first = reads.run('k', new FakeClientConnection(), start, () => (joined += 1));
    const second = reads.run('k', new FakeClientConnection(), start, () => (joined += 1));
    backend.resolve('answer');
    assert.deepEqual(await Promise.all([first, second]), ['answer', 'answer']);
    assert.equal(calls, 1);
    assert.equal(joined, 1);
  });

  it('a read after the answer came starts afresh (nothing is answered from an earlier read)', async () => {
    const reads = new InFlight<number>();
    let calls = 0;
    const start = async () => (calls += 1);
    assert.equal(await reads.run('k', undefined, start), 1);
    assert.equal(await reads.run('k', undefined, start), 2);
    assert.equal(reads.size, 0);
  });

  it('a failure is every waiter\'s failure, and the next read starts afresh', async () => {
    const reads = new InFlight<string>();
    const backend = deferred<string>();
    const first = reads.run('k', undefined, () => backend.promise);
    const second = reads.run('k', undefined, () => Promise.resolve('never'));
    backend.reject(new Error('backend down'));
    await assert.rejects(first, /backend down/);
    await assert.rejects(second, /backend down/);
    assert.equal(await reads.run('k', undefined, async () => 'fresh'), 'fresh');
  });

  it('a waiter that leaves stops waiting; the call goes on for the others and is not cancelled', async () => {
    const reads = new InFlight<string>();
    const backend = deferred<string>();
    let cancelled = false;
    const leaving = new FakeClientConnection();
    const staying = new FakeClientConnection();
    const start = (connection: ClientConnection) => {
      connection.once('close', () => (cancelled = true));
      return backend.promise;
    };
    const left = reads.run('k', leaving, start);
    const stayed = reads.run('k', staying, start);
    leaving.leave();
    await assert.rejects(left, ClientLeft);
    assert.equal(cancelled, false);
    backend.resolve('answer');
    assert.equal(await stayed, 'answer');
  });

  it('when every waiter has left the call is cancelled, and a new read does not join the cancelled one', async () => {
    const reads = new InFlight<string>();
    const backend = deferred<string>();
    let cancelled = false;
    const a = new FakeClientConnection();
    const b = new FakeClientConnection();
    const start = (connection: ClientConnection) => {
      connection.once('close', () => {
        cancelled = true;
        backend.reject(new Error('cancelled'));
      });
      return backend.promise;
    };
    const first = reads.run('k', a, start);
    const second = reads.run('k', b, start);
    a.leave();
    assert.equal(cancelled, false);
    b.leave();
    assert.equal(cancelled, true);
    await assert.rejects(first, ClientLeft);
    await assert.rejects(second, ClientLeft);
    assert.equal(await reads.run('k', new FakeClientConnection(), async () => 'fresh'), 'fresh');
  });

  it('a caller without a connection never leaves, so the call is never cancelled under it', async () => {
    const reads = new InFlight<string>();
    const backend = deferred<string>();
    let cancelled = false;
    const client = new FakeClientConnection();
    const start = (connection: ClientConnection) => {
      connection.once('close', () => (cancelled = true));
      return backend.promise;
    };
    const internal = reads.run('k', undefined, start);
    const leaving = reads.run('k', client, start);
    client.leave();
    await assert.rejects(leaving, ClientLeft);
    assert.equal(cancelled, false);
    backend.resolve('answer');
    assert.equal(await internal, 'answer');
  });

  it('a client whose answer was sent closing later leaves nothing behind', async () => {
    const reads = new InFlight<string>();
    const client = new FakeClientConnection();
    assert.equal(await reads.run('k', client, async () => 'answer'), 'answer');
    client.writableFinished = true;
    client.leave();
    assert.equal(client.listenerCount('close'), 0);
  });
});
