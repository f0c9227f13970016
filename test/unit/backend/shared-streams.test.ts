/**
 * SharedStreams: one backend stream fanned out to every client that asked together. The slowest
 * client governs, so one that stops reading must be cut off rather than hold the others.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { SharedStreams, type StreamClient } from '../../../src/backend/coalescing/shared-streams.js';
import { until } from '../../support/held-requests.js';

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

  it('a client reading slowly but steadily over a real socket is not cut, however long a chunk takes it', async () => {
    const streams = new SharedStreams(1_000);
    const body = Buffer.alloc(8 * 1024 * 1024, 7);
    let streamed = '';
    const server = http.createServer((_request, response) => {
      const client: StreamClient = { connection: response, open: (status) => (response.writeHead(status, { 'content-length': String(body.length) }), response) };
      // The backend answers a moment later, as a real one does (clients join first).
      streams.run('slow', client, (openClients) =>
        new Promise<string>((resolve, reject) =>
          setImmediate(() => {
            const sink = openClients(200, {});
            sink.on('error', reject);
            sink.on('finish', () => resolve('done'));
            // Two 4 MiB chunks: each takes this client well over the deadline.
            sink.write(body.subarray(0, 4 * 1024 * 1024));
            sink.end(body.subarray(4 * 1024 * 1024));
          }),
        ),
      ).then(
        (outcome) => (streamed = outcome),
        (error: Error) => (streamed = error.message),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    try {
      const received = await new Promise<number>((resolve, reject) => {
        const socket = net.connect((server.address() as AddressInfo).port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
        socket.pause();
        let received = Buffer.alloc(0);
        const bodyBytes = () => {
          const headEnd = received.indexOf('\r\n\r\n');
          return headEnd === -1 ? 0 : received.length - headEnd - 4;
        };
        // 64 KiB every 25 ms: about 2.5 MB/s, steady.
        const reader = setInterval(() => {
          const chunk = (socket.read(64 * 1024) ?? socket.read()) as Buffer | null;
          if (chunk !== null) received = Buffer.concat([received, chunk]);
          if (bodyBytes() >= body.length) {
            clearInterval(reader);
            resolve(bodyBytes());
          }
        }, 25);
        socket.on('close', () => {
          clearInterval(reader);
          reject(new Error(`cut after ${bodyBytes()} bytes`));
        });
      });
      assert.equal(received, body.length);
      await until('the stream ended', () => streamed !== '');
      assert.equal(streamed, 'done');
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
