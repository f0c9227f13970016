/**
 * SharedStreams: one backend stream fanned out to every client that asked together. The slowest
 * client governs, so one that stops reading must be cut off rather than hold the others.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { SharedStreams, type StreamClient } from '../../../src/backend/coalescing/shared-streams.js';

/** A client response that keeps what it is given; `stalled` never takes a chunk. */
function clientResponse(stalled: boolean): { client: StreamClient; response: Writable; received: () => string } {
  const chunks: Buffer[] = [];
  const response = new Writable({
    write(chunk: Buffer, _encoding, done) {
      if (stalled) return;
      chunks.push(Buffer.from(chunk));
      done();
    },
  });
  return { client: { connection: response, open: () => response }, response, received: () => Buffer.concat(chunks).toString() };
}

describe('SharedStreams', () => {
  it('a client that stops reading is cut off after the deadline; the others get the whole body', async () => {
    const streams = new SharedStreams(100);
    const reader = clientResponse(false);
    const staller = clientResponse(true);
    let release!: () => void;
    const opened = new Promise<void>((resolve) => (release = resolve));
    const body = ['first ', 'second ', 'third'];
    const start = (openClients: (status: number, headers: Record<string, string>) => Writable) =>
      opened.then(
        () =>
          new Promise<string>((resolve, reject) => {
            const sink = openClients(200, {});
            sink.on('error', reject);
            sink.on('finish', () => resolve('done'));
            for (const part of body) sink.write(Buffer.from(part));
            sink.end();
          }),
      );
    const first = streams.run('key', reader.client, start);
    const second = streams.run('key', staller.client, start);
    release();
    assert.deepEqual(await Promise.all([first, second]), ['done', 'done']);
    assert.equal(reader.received(), body.join(''));
    assert.equal(staller.response.destroyed, true, 'the stalled client was cut off');
  });
});
