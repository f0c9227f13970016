/** The CLI as an operator runs it: the built `dist/cli.js`, real processes, exit codes. */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent as HttpAgent, get as nodeHttpGet } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect } from 'node:net';
import { httpRequest } from './harness/http-client.js';
import { pushImage } from './harness/seed.js';
import { findFreePort, startRegistry, type RunningRegistry } from './harness/registry.js';
import { sampleOf } from '../support/metrics.js';
import { generateTestPki } from '../support/pki.js';
import { startScriptedBackend } from '../support/scripted-backend.js';

const CLI = join(process.cwd(), 'dist', 'cli.js');

/** A GET on a kept-alive connection, its body read and dropped: the status. */
function httpGet(url: string, agent: HttpAgent): Promise<number> {
  return new Promise((resolve, reject) => {
    nodeHttpGet(url, { agent }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
    }).on('error', reject);
  });
}

/**
 * `serve` as a process, on free ports for its listener and for /metrics (metrics.listen), with
 * its database in `dir`; resolves once both answer.
 */
async function serveWithMetrics(dir: string, name: string, env: Record<string, string>) {
  const [port, metricsPort] = [await findFreePort(), await findFreePort()];
  const child = spawn(process.execPath, [CLI, 'serve'], {
    env: {
      PATH: process.env.PATH ?? '',
      CG_CONFIG: '/dev/null',
      CG_SERVER_LISTEN: `127.0.0.1:${port}`,
      CG_METRICS_LISTEN: `127.0.0.1:${metricsPort}`,
      CG_DATABASE_URL: `sqlite://${join(dir, `${name}.db`)}`,
      CG_AUDIT_DESTINATION: 'off',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const answers = (target: string) => httpRequest(target).then(() => true, () => false);
  for (let attempt = 0; attempt < 100 && child.exitCode === null; attempt += 1) {
    if ((await answers(`http://127.0.0.1:${port}/healthz`)) && (await answers(`http://127.0.0.1:${metricsPort}/metrics`))) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { child, exited, url: `http://127.0.0.1:${port}`, metricsUrl: `http://127.0.0.1:${metricsPort}` };
}

function cli(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: 30_000 });
}

describe('container-gateway CLI', () => {
  let dir: string;
  let registry: RunningRegistry;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cg-cli-'));
    registry = await startRegistry();
  });
  after(async () => {
    await registry.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a stdout nobody reads costs dropped, counted log lines, not memory: at most 8 MiB wait, and the gateway keeps answering', async () => {
    const { child, exited, url, metricsUrl } = await serveWithMetrics(dir, 'stalled-stdout', { CG_BACKEND_URL: registry.url, CG_LOG_LEVEL: 'info' });
    // Nobody reads the gateway's stdout: the pipe fills, then the gateway's own buffer.
    child.stdout.pause();
    try {
      // Request lines with long paths (the path is logged): about 2 KiB each, so 8 MiB is a few thousand requests.
      const path = `/v2/${'a'.repeat(1_500)}/tags/list`;
      const agent = new HttpAgent({ keepAlive: true, maxSockets: 16 });
      const dropped = async () => sampleOf((await httpRequest(`${metricsUrl}/metrics`)).body.toString(), 'cg_log_lines_dropped_total') ?? 0;
      for (let batch = 0; batch < 40 && (await dropped()) === 0; batch += 1) {
        await Promise.all(Array.from({ length: 500 }, () => httpGet(`${url}${path}`, agent)));
      }
      agent.destroy();
      assert.ok((await dropped()) > 0, 'lines beyond the buffer were dropped and counted');
      assert.equal((await httpRequest(`${url}/healthz`)).status, 200, 'still answering');
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
  });

  it('an invalid configuration exits 2 with one line per problem and no stack trace', () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'server:\n  listn: x\nbackend:\n  url: not-a-url\n  tls:\n    ca: /nonexistent/ca.pem\n');
    const result = cli(['serve', '--config', file], { CG_BACKEND_MODE: 'sideways' });
    assert.equal(result.status, 2);
    assert.match(result.stderr, /server: unknown key\(s\) "listn"/);
    assert.match(result.stderr, /backend\.url: must be an http/);
    assert.match(result.stderr, /backend\.mode: /);
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
  });

  it('every problem of every phase in one run: a bad listen address, a bad mode and a short token; a port above 65535 exits 2 too', () => {
    const file = join(dir, 'all-phases.yaml');
    writeFileSync(file, 'server:\n  listen: "127.0.0.1"\nbackend:\n  mode: sideways\nmanagement:\n  tokens: ["short"]\n');
    const result = cli(['check', '--config', file]);
    assert.equal(result.status, 2, result.stderr);
    assert.match(result.stderr, /server\.listen: /);
    assert.match(result.stderr, /backend\.mode: /);
    assert.match(result.stderr, /management\.tokens\.0: /);
    const port = cli(['check'], { CG_CONFIG: '/dev/null', CG_SERVER_LISTEN: '127.0.0.1:70000' });
    assert.equal(port.status, 2, port.stderr);
    assert.match(port.stderr, /server\.listen: /);
    assert.doesNotMatch(port.stderr, /Invalid URL/);
  });

  it('an unreadable certificate file exits 2 naming the key', () => {
    const result = cli(['check'], { CG_CONFIG: '/dev/null', CG_BACKEND_TLS_CA: '/nonexistent/ca.pem' });
    assert.equal(result.status, 2);
    assert.match(result.stderr, /backend\.tls\.ca: cannot read file "\/nonexistent\/ca\.pem" \(ENOENT\)/);
  });

  it('migrate creates the schema once; check reports database and backend', () => {
    const env = { CG_CONFIG: '/dev/null', CG_DATABASE_URL: `sqlite://${join(dir, 'db', 'gw.db')}`, CG_BACKEND_URL: registry.url };
    const first = cli(['migrate'], env);
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stdout, /applied 2026-11-23-001-initial/);
    assert.match(cli(['migrate'], env).stdout, /already up to date/);
    const check = cli(['check'], env);
    assert.equal(check.status, 0, check.stdout + check.stderr);
    assert.match(check.stdout, /ok\s+database .*schema up to date/);
    assert.match(check.stdout, /ok\s+backend .*registry\/2\.0/);
    const down = cli(['check'], { ...env, CG_BACKEND_URL: 'http://127.0.0.1:1' });
    assert.equal(down.status, 1);
    assert.match(down.stdout, /FAIL backend/);
  });

  it('check reports certificate expiry: ok for a valid one, FAIL for an expired one', async () => {
    const pki = await generateTestPki(join(dir, 'pki'));
    const env = {
      CG_CONFIG: '/dev/null',
      CG_DATABASE_URL: `sqlite://${join(dir, 'db', 'gw.db')}`,
      CG_BACKEND_URL: registry.url,
      CG_SERVER_TLS_CERT: pki.server.cert,
      CG_SERVER_TLS_KEY: pki.server.key,
      CG_BACKEND_TLS_CERT: pki.expired.cert,
      CG_BACKEND_TLS_KEY: pki.expired.key,
    };
    const result = cli(['check'], env);
    // The test PKI issues 30-day certificates: a warning (under 30 days left) or ok, never FAIL.
    assert.match(result.stdout, /(ok|warn)\s+tls\s+server\.tls\.cert: .*valid until \d{4}-\d{2}-\d{2} \(\d+ days left\)/);
    assert.match(result.stdout, /FAIL tls\s+backend\.tls\.cert: .*valid until 2020-01-02 \(not valid now\)/);
    assert.equal(result.status, 1);
  });

  it('SIGHUP reloads the TLS certificate and the management secrets; SIGINT stops it with exit code 0', async () => {
    const pki = await generateTestPki(join(dir, 'pki-reload'));
    const port = await findFreePort();
    const file = join(dir, 'reload.yaml');
    const config = (cert: string, key: string, token: string) =>
      `server:\n  listen: "127.0.0.1:${port}"\n  tls:\n    cert: ${cert}\n    key: ${key}\ndatabase:\n  url: "sqlite://${join(dir, 'reload.db')}"\nbackend:\n  url: "${registry.url}"\nmanagement:\n  tokens: ["${token}"]\nlog:\n  level: warn\naudit:\n  destination: "off"\n`;
    const first = 'first-management-secret-0123456789';
    const second = 'second-management-secret-0123456789';
    writeFileSync(file, config(pki.server.cert, pki.server.key, first));
    const child = spawn(process.execPath, [CLI, 'serve', '--config', file], { env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const probe = (token: string) =>
      new Promise<{ status: number; fingerprint: string }>((resolve, reject) => {
        const request = httpsRequest(
          // No TLS session reuse: a resumed session would show the certificate of the first handshake.
          { host: '127.0.0.1', port, path: '/users', method: 'GET', rejectUnauthorized: false, agent: new HttpsAgent({ maxCachedSessions: 0 }), headers: { authorization: `Bearer ${token}` } },
          (response) => {
            const fingerprint = (response.socket as TLSSocket).getPeerCertificate().fingerprint256;
            response.resume();
            response.on('end', () => resolve({ status: response.statusCode ?? 0, fingerprint }));
          },
        );
        request.on('error', reject);
        request.end();
      });
    try {
      let before;
      for (let attempt = 0; attempt < 100 && before === undefined; attempt += 1) {
        before = await probe(first).catch(() => undefined);
        if (before === undefined) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.equal(before?.status, 200);
      writeFileSync(file, config(pki.katello.cert, pki.katello.key, second));
      child.kill('SIGHUP');
      let after = await probe(second);
      for (let attempt = 0; attempt < 50 && after.status !== 200; attempt += 1) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        after = await probe(second);
      }
      assert.equal(after.status, 200, 'the new management secret is accepted');
      // A connection whose handshake raced with the reload may still show the old certificate: ask anew.
      const fresh = await probe(second);
      assert.notEqual(fresh.fingerprint, before?.fingerprint, `new connections get the new certificate\n${output}`);
      assert.equal((await probe(first)).status, 401, 'the old secret is not');
    } finally {
      child.kill('SIGINT');
    }
    assert.equal(await exited, 0);
  });

  it('SIGTERM lets a request in flight finish, then exits 0; metrics.listen serves /metrics on its own port', async () => {
    const slow = await startScriptedBackend((_req, res) => {
      setTimeout(() => {
        res.setHeader('content-type', 'application/json');
        res.end('{"name":"pub/a","tags":["v1"]}');
      }, 1_500);
    });
    const { child, exited, url, metricsUrl } = await serveWithMetrics(dir, 'drain', { CG_BACKEND_URL: slow.url, CG_MANAGEMENT_TOKENS: 'drain-management-secret-0123456789', CG_LOG_LEVEL: 'warn' });
    try {
      const metrics = await httpRequest(`${metricsUrl}/metrics`);
      assert.equal(metrics.status, 200);
      assert.match(metrics.body.toString(), /cg_http_requests_total/);
      assert.equal((await httpRequest(`${url}/metrics`)).status, 404, 'not on the main listener');
      const published = await httpRequest(`${url}/repository_list`, {
        method: 'PUT',
        headers: { authorization: 'Bearer drain-management-secret-0123456789', 'content-type': 'application/json' },
        body: '{"repositories":[{"repository":"pub/a","auth_required":false}]}',
      });
      assert.equal(published.status, 200);
      const inFlight = httpRequest(`${url}/v2/pub/a/tags/list`, { timeoutMs: 10_000 });
      await new Promise((resolve) => setTimeout(resolve, 300));
      const started = Date.now();
      child.kill('SIGTERM');
      const answer = await inFlight;
      assert.equal(answer.status, 200, 'the request in flight was finished, not cut');
      assert.equal(await exited, 0);
      assert.ok(Date.now() - started < 10_000);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await slow.close();
    }
  });

  it('SIGTERM with a slow download in flight: drains for the grace period, then closes it and exits 0', async () => {
    const image = await pushImage(join(dir, 'slow-layout'), { tag: 'v1', seed: 'slow-download', layers: [], largeLayerBytes: 24 * 1024 * 1024 }, registry.url, 'pub/big');
    const layer = image.layers[0]?.digest ?? '';
    const port = await findFreePort();
    const child = spawn(process.execPath, [CLI, 'serve'], {
      env: {
        PATH: process.env.PATH ?? '',
        CG_CONFIG: '/dev/null',
        CG_SERVER_LISTEN: `127.0.0.1:${port}`,
        CG_SERVER_SHUTDOWN_GRACE_SECONDS: '2',
        CG_DATABASE_URL: `sqlite://${join(dir, 'slow.db')}`,
        CG_BACKEND_URL: registry.url,
        CG_BACKEND_MODE: 'proxy',
        CG_MANAGEMENT_TOKENS: 'slow-management-secret-0123456789',
        CG_LOG_LEVEL: 'warn',
        CG_AUDIT_DESTINATION: 'off',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    let download: ReturnType<typeof connect> | undefined;
    try {
      let ready;
      for (let attempt = 0; attempt < 100 && ready === undefined; attempt += 1) {
        ready = await httpRequest(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
        if (ready === undefined) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const published = await httpRequest(`http://127.0.0.1:${port}/repository_list`, {
        method: 'PUT',
        headers: { authorization: 'Bearer slow-management-secret-0123456789', 'content-type': 'application/json' },
        body: '{"repositories":[{"repository":"pub/big","auth_required":false}]}',
      });
      assert.equal(published.status, 200);
      // A client that reads the first bytes of a 24 MiB layer, then almost nothing.
      const socket = connect(port, '127.0.0.1');
      download = socket;
      let received = 0;
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      socket.write(`GET /v2/pub/big/blobs/${layer} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
      await new Promise<void>((resolve) =>
        socket.once('data', (chunk: Buffer) => {
          received += chunk.length;
          socket.pause();
          resolve();
        }),
      );
      const started = Date.now();
      child.kill('SIGTERM');
      const code = await Promise.race([exited, new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), 7_000))]);
      const took = Date.now() - started;
      assert.equal(code, 0, `exit ${String(code)} after ${took} ms`);
      assert.ok(took >= 1_500, `the download was given its grace period (${took} ms)`);
      socket.resume();
      socket.on('data', (chunk: Buffer) => (received += chunk.length));
      await closed;
      assert.ok(received < 24 * 1024 * 1024, 'the slow download was cut, not finished');
    } finally {
      download?.destroy();
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('serve answers, and SIGTERM stops it with exit code 0', async () => {
    const port = await findFreePort();
    const child = spawn(process.execPath, [CLI, 'serve'], {
      env: { PATH: process.env.PATH ?? '', CG_CONFIG: '/dev/null', CG_SERVER_LISTEN: `127.0.0.1:${port}`, CG_DATABASE_URL: `sqlite://${join(dir, 'serve.db')}`, CG_BACKEND_URL: registry.url, CG_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    let response;
    for (let attempt = 0; attempt < 100; attempt += 1) {
      response = await httpRequest(`http://127.0.0.1:${port}/v2/`).catch(() => undefined);
      if (response !== undefined) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(response?.status, 401);
    assert.match(String(response?.headers['www-authenticate']), new RegExp(`^Bearer realm="http://127\\.0\\.0\\.1:${port}/v2/token"`));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  });

  it('token-certificates prints the signing certificate; rotate-signing-key adds one that a running gateway signs with', async () => {
    const database = `sqlite://${join(dir, 'keys', 'gw.db')}`;
    const htpasswd = join(dir, 'keys.htpasswd');
    const bcrypt = (await import('bcryptjs')).default;
    writeFileSync(htpasswd, `alice:${bcrypt.hashSync('pw', 4)}\n`);
    const env = { CG_CONFIG: '/dev/null', CG_DATABASE_URL: database, CG_BACKEND_URL: registry.url };
    const first = cli(['token-certificates'], env);
    assert.equal(first.status, 0, first.stderr);
    assert.equal(first.stdout.match(/-----BEGIN CERTIFICATE-----/g)?.length, 1);
    assert.equal(cli(['token-certificates'], env).stdout, first.stdout, 'the key is kept, not made again');

    const port = await findFreePort();
    const server = spawn(process.execPath, [CLI, 'serve'], {
      env: {
        PATH: process.env.PATH ?? '',
        ...env,
        CG_SERVER_LISTEN: `127.0.0.1:${port}`,
        CG_LOG_LEVEL: 'warn',
        CG_IDENTITY_PROVIDERS: 'static',
        CG_IDENTITY_STATIC_HTPASSWD: htpasswd,
      },
      stdio: 'ignore',
    });
    try {
      const kidOf = async () => {
        for (let attempt = 0; attempt < 100; attempt += 1) {
          try {
            const response = await httpRequest(`http://127.0.0.1:${port}/v2/token`, { headers: { authorization: `Basic ${Buffer.from('alice:pw').toString('base64')}` } });
            const token = (JSON.parse(response.body.toString()) as { token: string }).token;
            return (JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString()) as { kid: string }).kid;
          } catch {
            await new Promise((resolve) => setTimeout(resolve, 100));
          }
        }
        throw new Error('the gateway did not answer');
      };
      const before = await kidOf();
      // A delay that is not a plain number of seconds changes nothing: no key is added.
      for (const activateIn of ['99999999999999999999', ' ', '1e3', '-1']) {
        const refused = cli(['rotate-signing-key', '--activate-in', activateIn], env);
        assert.equal(refused.status, 2, `${JSON.stringify(activateIn)}: ${refused.stderr}`);
        assert.match(refused.stderr, /--activate-in must be a whole number of seconds/);
        assert.doesNotMatch(refused.stderr, /\n\s+at /, 'no stack trace');
      }
      assert.equal(cli(['token-certificates'], env).stdout, first.stdout, 'no key was added');
      const rotated = cli(['rotate-signing-key'], env);
      assert.equal(rotated.status, 0, rotated.stderr);
      assert.equal(rotated.stdout.match(/-----BEGIN CERTIFICATE-----/g)?.length, 2, 'old and new certificates');
      const newKid = /new signing key (\S+),/.exec(rotated.stderr)?.[1];
      assert.ok(newKid !== undefined && newKid !== before);
      // The running gateway hears of the new key through the database and signs with it (within a second; the test allows five).
      const started = Date.now();
      let signing = await kidOf();
      while (signing !== newKid && Date.now() - started < 5_000) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        signing = await kidOf();
      }
      assert.equal(signing, newKid);
      const jwks = JSON.parse((await httpRequest(`http://127.0.0.1:${port}/.well-known/jwks.json`)).body.toString()) as { keys: Array<{ kid: string }> };
      assert.deepEqual(jwks.keys.map((key) => key.kid).sort(), [before, newKid].sort());
    } finally {
      server.kill('SIGTERM');
    }
  });
});
