/**
 * BlobStore and BlobFill (src/blob-cache/) on a real temporary directory: what is kept, what is
 * never kept, what readers of a growing file may see, what a restart finds, and what a failing disk
 * changes.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, type Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { BlobCache, FILL_PAUSE_MS } from '../../../src/blob-cache/blob-cache.js';
import { BlobFill } from '../../../src/blob-cache/blob-fill.js';
import { BlobStore } from '../../../src/blob-cache/blob-store.js';
import { sendBytes } from '../../../src/blob-cache/send-bytes.js';
import { until } from '../../support/held-requests.js';

const quiet = { warn: () => undefined, info: () => undefined };
const digestOf = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const directories: string[] = [];

function scratch(): string {
  const directory = mkdtempSync(join(tmpdir(), 'cg-blob-store-'));
  directories.push(directory);
  return directory;
}

function write(sink: Writable, chunks: Buffer[]): Promise<void> {
  return new Promise((resolve, reject) => {
    sink.on('error', reject);
    sink.on('finish', () => resolve());
    for (const chunk of chunks) sink.write(chunk);
    sink.end();
  });
}

function settledFill(store: BlobStore, digest: string): { fill: BlobFill; outcome: Promise<string> } {
  let settle!: (outcome: string) => void;
  const outcome = new Promise<string>((resolve) => (settle = resolve));
  const fill = new BlobFill(digest, 'team/app', store, { settled: (_fill, how, reason) => settle(reason === undefined ? how : `${how}: ${reason}`) });
  return { fill, outcome };
}

/** Reads the whole fill the way a client would, into a buffer. */
async function readAll(fill: BlobFill): Promise<Buffer> {
  const { source, release } = fill.reader();
  const received: Buffer[] = [];
  const sink = new PassThrough();
  // Copied: the sender reuses its buffers once the sink has taken a chunk, as a socket does.
  sink.on('data', (chunk: Buffer) => received.push(Buffer.from(chunk)));
  try {
    const outcome = await sendBytes(source, 0, fill.blobSize - 1, { connection: sink, open: () => sink });
    assert.equal(outcome, 'sent');
    return Buffer.concat(received);
  } finally {
    release();
  }
}

after(() => {
  for (const directory of directories) rmSync(directory, { recursive: true, force: true });
});

describe('BlobStore and BlobFill', () => {
  it('a verified download is kept under its digest, 0600 in 0700 directories; its readers get every byte', async () => {
    const directory = join(scratch(), 'cache');
    const store = await BlobStore.open(directory, 10 * 1024 * 1024, quiet);
    const blob = randomBytes(1_500_000);
    const digest = digestOf(blob);
    const { fill, outcome } = settledFill(store, digest);
    const sink = fill.begin(blob.length);
    assert.ok(sink !== undefined);
    const writing = write(sink, [blob.subarray(0, 700_000), blob.subarray(700_000)]);
    assert.equal(await fill.decided(), true);
    const [read] = await Promise.all([readAll(fill), writing]);
    assert.ok(read.equals(blob));
    assert.equal(await outcome, 'cached');
    assert.equal(store.use(digest), blob.length);
    const file = join(directory, 'blobs', 'sha256', digest.slice(7));
    assert.equal(statSync(file).mode & 0o777, 0o600);
    for (const folder of [directory, join(directory, 'blobs'), join(directory, 'blobs', 'sha256'), join(directory, 'partial')]) assert.equal(statSync(folder).mode & 0o777, 0o700, folder);
    assert.deepEqual(readdirSync(join(directory, 'partial')), []);
  });

  it('until the digest is checked a reader gets everything but the last byte; a mismatch is never kept and fails the reader', async () => {
    const store = await BlobStore.open(join(scratch(), 'cache'), 10 * 1024 * 1024, quiet);
    const blob = randomBytes(100_000);
    const wrongDigest = digestOf(Buffer.from('something else'));
    const { fill, outcome } = settledFill(store, wrongDigest);
    const sink = fill.begin(blob.length);
    assert.ok(sink !== undefined);
    sink.write(blob);
    await fill.decided();
    const { source, release } = fill.reader();
    for (let attempt = 0; source.readable() < blob.length - 1 && attempt < 100; attempt += 1) await source.changed();
    assert.equal(source.readable(), blob.length - 1, 'the last byte is held back until the digest is checked');
    sink.end();
    await new Promise((resolve) => sink.on('error', resolve));
    assert.match(await outcome, /^failed: the download's digest is sha256:/);
    assert.ok(source.failure() !== undefined);
    release();
    assert.equal(store.use(wrongDigest), undefined);
    assert.equal(store.bytes, 0, 'its room is given back');
  });

  it('a download shorter than announced is never kept', async () => {
    const store = await BlobStore.open(join(scratch(), 'cache'), 10 * 1024 * 1024, quiet);
    const blob = randomBytes(10_000);
    const { fill, outcome } = settledFill(store, digestOf(blob));
    const sink = fill.begin(blob.length);
    assert.ok(sink !== undefined);
    await assert.rejects(write(sink, [blob.subarray(0, 5_000)]));
    assert.match(await outcome, /^failed: the download ended after 5000 of 10000 bytes/);
    assert.equal(store.count, 0);
  });

  it('more bytes than announced fail the download', async () => {
    const store = await BlobStore.open(join(scratch(), 'cache'), 10 * 1024 * 1024, quiet);
    const blob = randomBytes(10_000);
    const { fill, outcome } = settledFill(store, digestOf(blob));
    const sink = fill.begin(5_000);
    assert.ok(sink !== undefined);
    await assert.rejects(write(sink, [blob]));
    assert.match(await outcome, /^failed: the backend sent more than the 5000 bytes it announced/);
  });

  it('a blob larger than the cache is declined, and its clients are told so', async () => {
    const store = await BlobStore.open(join(scratch(), 'cache'), 1024 * 1024, quiet);
    const { fill, outcome } = settledFill(store, digestOf(Buffer.from('x')));
    assert.equal(fill.begin(2 * 1024 * 1024), undefined);
    assert.equal(await fill.decided(), false);
    assert.equal(await outcome, 'declined');
  });

  it('a restart indexes what is there, least recently used first, evicts beyond a lowered cap, and drops partial files', async () => {
    const directory = join(scratch(), 'cache');
    const first = await BlobStore.open(directory, 10 * 1024 * 1024, quiet);
    const blobs = [randomBytes(400_000), randomBytes(400_000), randomBytes(400_000)];
    for (const blob of blobs) {
      const { fill, outcome } = settledFill(first, digestOf(blob));
      const sink = fill.begin(blob.length);
      assert.ok(sink !== undefined);
      await write(sink, [blob]);
      assert.equal(await outcome, 'cached');
    }
    // Their last use, as the files' modification times say: the second is the oldest.
    const hours = [2, 3, 1];
    blobs.forEach((blob, index) => {
      const when = new Date(Date.now() - (hours[index] as number) * 3600_000);
      utimesSync(join(directory, 'blobs', 'sha256', digestOf(blob).slice(7)), when, when);
    });
    writeFileSync(join(directory, 'partial', 'left-over'), 'half a blob');
    const restarted = await BlobStore.open(directory, 900_000, quiet);
    assert.equal(restarted.count, 2);
    assert.equal(restarted.use(digestOf(blobs[1] as Buffer)), undefined, 'the least recently used went');
    assert.equal(restarted.use(digestOf(blobs[0] as Buffer)), 400_000);
    assert.deepEqual(readdirSync(join(directory, 'partial')), []);
    const handle = await restarted.openBlob(digestOf(blobs[2] as Buffer));
    assert.ok(handle !== undefined);
    await handle.close();
  });

  it('refuses a directory that holds other files, rather than make it private or empty it', async () => {
    const directory = scratch();
    writeFileSync(join(directory, 'notes.txt'), 'not the cache');
    await assert.rejects(BlobStore.open(directory, 1024 * 1024, quiet), /holds other files \(notes\.txt\)/);
  });

  it('opens its directory again after the gateway ran with several workers (their parts are its own)', async () => {
    const directory = scratch();
    const part = await BlobStore.open(join(directory, 'worker-1'), 1024 * 1024, quiet);
    assert.equal(part.count, 0);
    const whole = await BlobStore.open(directory, 1024 * 1024, quiet);
    assert.equal(whole.count, 0);
  });

  it('only digests it can verify and name a file by are cacheable', () => {
    assert.equal(BlobStore.canHold(`sha256:${'a'.repeat(64)}`), true);
    assert.equal(BlobStore.canHold(`sha512:${'b'.repeat(128)}`), true);
    for (const digest of [`sha256:${'A'.repeat(64)}`, `sha256:${'a'.repeat(63)}`, 'sha256:../../etc/passwd', `md5:${'a'.repeat(32)}`, `sha256:${'a'.repeat(64)}/x`]) {
      assert.equal(BlobStore.canHold(digest), false, digest);
    }
  });

  it('a disk that fails a write fails the fill as the disk\'s fault, and pauses new fills for a minute', async () => {
    const directory = scratch();
    let now = 1_000_000;
    const paused: number[] = [];
    const cache = await BlobCache.open({ path: directory, maxBytes: 1024 * 1024 }, quiet, { fillSettled: () => undefined, fillsPaused: (_reason, forMs) => paused.push(forMs) }, () => now);
    const bytes = randomBytes(64 * 1024);
    const fill = cache.startFill(digestOf(bytes), 'team/app');
    const sink = fill.begin(bytes.length) as Writable;
    assert.equal(await fill.decided(), true);
    // The file's handle closed under the fill: its next write fails as a full or failing disk would.
    const { source, release } = fill.reader();
    await source.handle.close();
    await assert.rejects(write(sink, [bytes]));
    release();
    assert.equal(fill.failedOnDisk, true);
    assert.deepEqual(paused, [FILL_PAUSE_MS]);
    assert.equal(cache.fillsAllowed, false);
    now += FILL_PAUSE_MS - 1;
    assert.equal(cache.fillsAllowed, false);
    now += 1;
    assert.equal(cache.fillsAllowed, true);
    await until('the partial file is removed', () => readdirSync(join(directory, 'partial')).length === 0);
  });

  it('a download that goes wrong is not the disk\'s fault: fills go on', async () => {
    const directory = scratch();
    const paused: number[] = [];
    const cache = await BlobCache.open({ path: directory, maxBytes: 1024 * 1024 }, quiet, { fillSettled: () => undefined, fillsPaused: (_reason, forMs) => paused.push(forMs) });
    const bytes = randomBytes(1024);
    const fill = cache.startFill(digestOf(Buffer.from('something else')), 'team/app');
    await assert.rejects(write(fill.begin(bytes.length) as Writable, [bytes]));
    assert.equal(fill.failedOnDisk, false);
    assert.deepEqual(paused, []);
    assert.equal(cache.fillsAllowed, true);
  });
});
