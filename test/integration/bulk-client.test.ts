/**
 * BulkClient (src/backend/bulk/) over real sockets against servers written for each case: bodies
 * framed every way, connections reused, a connection the server closed while idle, heads split
 * across reads, malformed and stalled answers — and the rule that makes its buffers reusable: a
 * view handed to the sink is never overwritten before the sink's callback, however slow the sink.
 * Interim (1xx) responses before the final one are skipped.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { BulkClient } from '../../src/backend/bulk/bulk-client.js';
import { RegistryError } from '../../src/errors/registry-error.js';

const servers: Array<{ close(): unknown; closeAllConnections?: () => void }> = [];
const timeouts = { connectTimeoutMs: 2_000, headersTimeoutMs: 2_000, bodyTimeoutMs: 2_000, connections: 4 };

async function listen<T extends net.Server>(server: T): Promise<URL> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  servers.push(server as unknown as { close(): unknown; closeAllConnections?: () => void });
  return new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/blob`);
}

/**
 * A sink that keeps the views it is given until a later turn and only then reads them (hashing
 * what it got). What piles up meanwhile comes in one batch: the largest batch is how many views
 * the client had out at once.
 */
function slowSink(): { sink: Writable; result: () => { digest: string; size: number; mostHeld: number } } {
  const hash = createHash('sha256');
  let size = 0;
  let mostHeld = 0;
  const sink = new Writable({
    highWaterMark: 64 * 1024 * 1024,
    writev(chunks, done) {
      mostHeld = Math.max(mostHeld, chunks.length);
      setImmediate(() => {
        for (const { chunk } of chunks) {
          hash.update(chunk as Buffer);
          size += (chunk as Buffer).length;
        }
        done();
      });
    },
  });
  return { sink, result: () => ({ digest: hash.digest('hex'), size, mostHeld }) };
}

after(() => {
  for (const server of servers) {
    server.closeAllConnections?.();
    server.close();
  }
});

describe('BulkClient', () => {
  const blob = randomBytes(12 * 1024 * 1024 + 123);
  const blobDigest = createHash('sha256').update(blob).digest('hex');

  it('a body framed by Content-Length arrives whole through a slow sink; the connection is used again', async () => {
    let connections = 0;
    const server = http.createServer((_request, response) => {
      response.writeHead(200, { 'content-length': String(blob.length), 'docker-content-digest': 'sha256:x' });
      response.end(blob);
    });
    server.on('connection', () => (connections += 1));
    const url = await listen(server);
    const client = new BulkClient({ origin: url, ...timeouts });
    for (let round = 0; round < 3; round += 1) {
      const { sink, result } = slowSink();
      let status = 0;
      await client.stream({ url, headers: { accept: '*/*' } }, (code, headers) => {
        status = code;
        assert.equal(headers['docker-content-digest'], 'sha256:x');
        return sink;
      });
      assert.equal(status, 200);
      const { digest, mostHeld } = result();
      assert.equal(digest, blobDigest, 'every byte as sent, none overwritten by a later read');
      assert.ok(mostHeld >= 1 && mostHeld <= 2, `views held at once: ${mostHeld} (the client pauses at 2 buffers out)`);
    }
    assert.equal(connections, 1);
    await client.close();
  });

  it('a chunked body, and a body that ends with the connection, arrive whole', async () => {
    const chunked = http.createServer((_request, response) => {
      response.writeHead(200);
      for (let offset = 0; offset < blob.length; offset += 777_777) response.write(blob.subarray(offset, offset + 777_777));
      response.end();
    });
    const untilClose = net.createServer((socket) => {
      socket.once('data', () => {
        socket.write('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n');
        socket.end(blob);
      });
    });
    for (const url of [await listen(chunked), await listen(untilClose)]) {
      const client = new BulkClient({ origin: url, ...timeouts });
      const { sink, result } = slowSink();
      await client.stream({ url, headers: {} }, () => sink);
      assert.equal(result().digest, blobDigest);
      await client.close();
    }
  });

  it('a head split across reads, and a body in the same read as the head', async () => {
    const server = net.createServer((socket) => {
      socket.once('data', () => {
        socket.write('HTTP/1.1 200 OK\r\nContent-Le');
        setImmediate(() => socket.write(`ngth: 11\r\nX-A: b\r\n\r\nhello`));
        setImmediate(() => setImmediate(() => socket.end(' world')));
      });
    });
    const url = await listen(server);
    const client = new BulkClient({ origin: url, ...timeouts });
    const chunks: Buffer[] = [];
    await client.stream({ url, headers: {} }, (_status, headers) => {
      assert.equal(headers['x-a'], 'b');
      return new Writable({ write: (chunk: Buffer, _encoding, done) => (chunks.push(Buffer.from(chunk)), done()) });
    });
    assert.equal(Buffer.concat(chunks).toString(), 'hello world');
    await client.close();
  });

  it('interim responses (103 Early Hints, 100 Continue) before the final one are skipped, in one read or split', async () => {
    const server = net.createServer((socket) => {
      socket.once('data', () => {
        socket.write('HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 20');
        setImmediate(() => socket.write('0 OK\r\nContent-Length: 5\r\nX-Final: yes\r\n\r\nhello'));
      });
    });
    const url = await listen(server);
    const client = new BulkClient({ origin: url, ...timeouts });
    const chunks: Buffer[] = [];
    let seen: { status: number; final: unknown } | undefined;
    await client.stream({ url, headers: {} }, (status, headers) => {
      seen = { status, final: headers['x-final'] };
      return new Writable({ write: (chunk: Buffer, _encoding, done) => (chunks.push(Buffer.from(chunk)), done()) });
    });
    assert.deepEqual(seen, { status: 200, final: 'yes' });
    assert.equal(Buffer.concat(chunks).toString(), 'hello');
    await client.close();
  });

  it('a backend that sends nothing but interim responses is BACKEND_ERROR, not a wait without end', async () => {
    const server = net.createServer((socket) => {
      socket.once('data', () => {
        const timer = setInterval(() => (socket.destroyed ? clearInterval(timer) : socket.write('HTTP/1.1 103 Early Hints\r\n\r\n')), 5);
        socket.on('close', () => clearInterval(timer));
      });
    });
    const url = await listen(server);
    const client = new BulkClient({ origin: url, ...timeouts });
    await assert.rejects(
      client.stream({ url, headers: {} }, () => new Writable({ write: (_chunk, _encoding, done) => done() })),
      (error: unknown) => error instanceof RegistryError && error.code === 'BACKEND_ERROR',
    );
    await client.close();
  });

  it('a kept connection the server closed meanwhile: the request goes on a new one', async () => {
    const server = http.createServer((_request, response) => {
      response.writeHead(200, { 'content-length': '2' });
      response.end('ok');
    });
    server.keepAliveTimeout = 1;
    const url = await listen(server);
    const client = new BulkClient({ origin: url, ...timeouts });
    const read = async () => {
      const chunks: Buffer[] = [];
      await client.stream({ url, headers: {} }, () => new Writable({ write: (chunk: Buffer, _encoding, done) => (chunks.push(Buffer.from(chunk)), done()) }));
      return Buffer.concat(chunks).toString();
    };
    assert.equal(await read(), 'ok');
    // The server closes its side of the kept connection.
    server.closeIdleConnections();
    assert.equal(await read(), 'ok');
    await client.close();
  });

  it('a malformed answer is BACKEND_ERROR; a server that never answers is BACKEND_TIMEOUT; a refused connection rejects', async () => {
    const malformed = net.createServer((socket) => socket.once('data', () => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n')));
    const silent = net.createServer((socket) => socket.once('data', () => undefined));
    const sink = () => new Writable({ write: (_chunk, _encoding, done) => done() });
    const malformedUrl = await listen(malformed);
    await assert.rejects(new BulkClient({ origin: malformedUrl, ...timeouts }).stream({ url: malformedUrl, headers: {} }, sink), (error: unknown) => error instanceof RegistryError && error.code === 'BACKEND_ERROR');
    const silentUrl = await listen(silent);
    await assert.rejects(
      new BulkClient({ origin: silentUrl, ...timeouts, headersTimeoutMs: 50 }).stream({ url: silentUrl, headers: {} }, sink),
      (error: unknown) => error instanceof RegistryError && error.code === 'BACKEND_TIMEOUT',
    );
    const closed = new URL('http://127.0.0.1:1/blob');
    await assert.rejects(new BulkClient({ origin: closed, ...timeouts }).stream({ url: closed, headers: {} }, sink), /ECONNREFUSED/);
  });

  it('an abort stops the transfer, destroys the sink, and the next request still works', async () => {
    const server = http.createServer((_request, response) => {
      response.writeHead(200, { 'content-length': String(blob.length) });
      response.end(blob);
    });
    const url = await listen(server);
    const client = new BulkClient({ origin: url, ...timeouts });
    const controller = new AbortController();
    let sinkDestroyed = false;
    let received = 0;
    await assert.rejects(
      client.stream({ url, headers: {}, signal: controller.signal }, () => {
        const sink = new Writable({
          write: (chunk: Buffer, _encoding, done) => {
            received += chunk.length;
            if (received > 1024 * 1024) controller.abort(new Error('the client left'));
            done();
          },
        });
        sink.on('close', () => (sinkDestroyed = true));
        return sink;
      }),
      /the client left/,
    );
    assert.ok(sinkDestroyed);
    const { sink, result } = slowSink();
    await client.stream({ url, headers: {} }, () => sink);
    assert.equal(result().digest, blobDigest);
    await client.close();
  });

  it('a request aborted while it waits for a connection leaves at once; the next in line gets the freed one', async () => {
    let releaseFirst!: () => void;
    const firstHeld = new Promise<void>((resolve) => (releaseFirst = resolve));
    const server = http.createServer((request, response) => {
      const answer = () => response.writeHead(200, { 'content-length': '2' }).end('ok');
      if (request.url === '/first') void firstHeld.then(answer);
      else answer();
    });
    const url = await listen(server);
    const client = new BulkClient({ origin: url, ...timeouts, connections: 1 });
    const sink = () => new Writable({ write: (_chunk, _encoding, done) => done() });
    const first = client.stream({ url: new URL('/first', url), headers: {} }, sink);
    const controller = new AbortController();
    const waiting = client.stream({ url: new URL('/second', url), headers: {}, signal: controller.signal }, sink);
    const third = client.stream({ url: new URL('/third', url), headers: {} }, sink);
    await new Promise((resolve) => setTimeout(resolve, 50));
    controller.abort(new Error('the client left'));
    // Rejected while the only connection is still busy with the first request.
    await assert.rejects(waiting, /the client left/);
    releaseFirst();
    await first;
    await third;
    await client.close();
  });
});
