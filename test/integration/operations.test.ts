/**
 * What an operator relies on over a real socket: oversized headers and garbage get an OCI error
 * (not a hang or an HTML page), and X-Request-Id is taken only from a trusted proxy.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { testConfig } from '../support/config.js';
import { httpRequest } from './harness/http-client.js';
import { findFreePort } from './harness/registry.js';

function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.end(text));
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
    socket.setTimeout(5_000, () => socket.destroy(new Error('no answer')));
  });
}

async function startLogged(env: Record<string, string>): Promise<{ app: FastifyInstance; port: number; logs: Array<Record<string, unknown>> }> {
  const logs: Array<Record<string, unknown>> = [];
  const logStream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const port = await findFreePort();
  const app = await buildApp(testConfig({ CG_SERVER_LISTEN: `127.0.0.1:${port}`, CG_BACKEND_URL: 'http://127.0.0.1:1', CG_LOG_LEVEL: 'info', ...env }), { logStream });
  await app.listen({ host: '127.0.0.1', port });
  return { app, port, logs };
}

describe('operations over a real socket', () => {
  let trusting: Awaited<ReturnType<typeof startLogged>>;
  let distrusting: Awaited<ReturnType<typeof startLogged>>;
  before(async () => {
    trusting = await startLogged({ CG_SERVER_TRUSTED_PROXIES: '127.0.0.1' });
    distrusting = await startLogged({ CG_SERVER_TRUSTED_PROXIES: '10.9.9.9' });
  });
  after(async () => {
    await trusting?.app.close();
    await distrusting?.app.close();
  });

  it('headers over the size limit get 431 with an OCI error body', async () => {
    const answer = await rawRequest(trusting.port, `GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(40_000)}\r\n\r\n`);
    assert.match(answer, /^HTTP\/1\.1 431 /);
    assert.match(answer, /"errors":\[\{"code":"BAD_REQUEST"/);
  });

  it('a malformed request line gets 400 with an OCI error body', async () => {
    const answer = await rawRequest(trusting.port, 'THIS IS NOT HTTP\r\n\r\n');
    assert.match(answer, /^HTTP\/1\.1 400 /);
    assert.match(answer, /"errors":\[\{"code":"BAD_REQUEST"/);
  });

  it('X-Request-Id from a trusted proxy becomes the request id in the log; from anyone else it is ignored', async () => {
    await httpRequest(`http://127.0.0.1:${trusting.port}/v2/`, { headers: { 'x-request-id': 'lb-7f3a-0001' } });
    await httpRequest(`http://127.0.0.1:${distrusting.port}/v2/`, { headers: { 'x-request-id': 'forged-0002' } });
    await httpRequest(`http://127.0.0.1:${trusting.port}/v2/`, { headers: { 'x-request-id': 'bad id with spaces' } });
    const line = (logs: Array<Record<string, unknown>>, path: string) => logs.filter((entry) => entry.msg === 'request' && entry.path === path);
    assert.ok(line(trusting.logs, '/v2/').some((entry) => entry.reqId === 'lb-7f3a-0001'));
    assert.ok(!line(trusting.logs, '/v2/').some((entry) => entry.reqId === 'bad id with spaces'));
    assert.ok(!line(distrusting.logs, '/v2/').some((entry) => entry.reqId === 'forged-0002'));
    const entry = line(trusting.logs, '/v2/')[0];
    for (const field of ['method', 'path', 'status', 'ms', 'identity', 'decision', 'reason']) assert.ok(field in (entry ?? {}), `the request line has ${field}`);
  });
});

describe('a client that stops reading after the request timeout', () => {
  let gateway: Awaited<ReturnType<typeof startLogged>>;
  before(async () => {
    gateway = await startLogged({ CG_SERVER_REQUEST_TIMEOUT_MS: '300' });
  });
  after(async () => {
    await gateway?.app.close();
  });

  const openConnections = () => new Promise<number>((resolve, reject) => gateway.app.server.getConnections((error, count) => (error ? reject(error) : resolve(count))));

  it('is answered 408 and its socket is destroyed, although it never reads nor closes', async () => {
    const socket = connect(gateway.port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    // Half a request, then silence: never another byte, never a read, never a FIN.
    socket.write('GET /v2/ HTTP/1.1\r\nHost: x\r\n');
    socket.pause();
    try {
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(await openConnections(), 1);
      let open = 1;
      const deadline = Date.now() + 5_000;
      while (open > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        open = await openConnections();
      }
      assert.equal(open, 0, 'the gateway still holds the socket of a client that stopped reading');
      socket.resume();
      const answer = await new Promise<string>((resolve) => {
        let text = '';
        socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
        socket.on('close', () => resolve(text));
        socket.on('error', () => resolve(text));
      });
      assert.match(answer, /^HTTP\/1\.1 408 /);
      assert.match(answer, /"errors":\[\{"code":"BAD_REQUEST"/);
    } finally {
      socket.destroy();
    }
  });
});
