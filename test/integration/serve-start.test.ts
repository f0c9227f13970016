/**
 * What `serve` says at start: a configuration that cannot work as meant is named once, in plain
 * words, while the gateway starts anyway; a deployment it cannot run in (unwritable data
 * directory, missing configuration file) stops it with the path and the fix.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { httpRequest } from './harness/http-client.js';
import { findFreePort } from './harness/registry.js';

const CLI = join(process.cwd(), 'dist', 'cli.js');

describe('serve at start', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cg-serve-start-'));
    chmodSync(dir, 0o755);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  // Its database has a directory of its own: the gateway tightens its data directory to 0700.
  it('warns once (not once per worker) about no management credentials, nobody able to log in and an unreachable backend; logins then answer 503 "not configured"', async () => {
    const port = await findFreePort();
    const child = spawn(process.execPath, [CLI, 'serve', '--workers', '2'], {
      env: { PATH: process.env.PATH ?? '', CG_CONFIG: '/dev/null', CG_SERVER_LISTEN: `127.0.0.1:${port}`, CG_DATABASE_URL: `sqlite://${join(dir, 'warnings', 'warn.db')}`, CG_BACKEND_URL: 'http://127.0.0.1:1', CG_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      // Both workers answer once the backend warning (the last, it waits for a probe) is out.
      for (let attempt = 0; attempt < 200 && !stderr.includes('backend at start'); attempt += 1) await new Promise((resolve) => setTimeout(resolve, 50));
      let login;
      for (let attempt = 0; attempt < 100 && login === undefined; attempt += 1) {
        login = await httpRequest(`http://127.0.0.1:${port}/v2/token`, { headers: { authorization: `Basic ${Buffer.from('alice:pw').toString('base64')}` } }).catch(() => undefined);
        if (login === undefined) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.equal(login?.status, 503);
      const error = (JSON.parse(login?.body.toString() ?? '{}') as { errors: Array<{ code: string; message: string }> }).errors[0];
      assert.equal(error?.code, 'UPSTREAM_UNAVAILABLE');
      assert.match(error?.message ?? '', /not configured/);
      assert.doesNotMatch(error?.message ?? '', /unreachable/);
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0);
    const warnings = stderr.split('\n').filter((line) => line.startsWith('container-gateway: warning: '));
    assert.equal(warnings.length, 3, stderr);
    assert.match(warnings[0] ?? '', /^container-gateway: warning: no management credentials: .*Fix: set management\.tokens/);
    assert.match(warnings[1] ?? '', /^container-gateway: warning: nobody can log in \(katello needs upstream\.url/);
    assert.match(warnings[2] ?? '', /^container-gateway: warning: backend at start: http:\/\/127\.0\.0\.1:1 refuses connections/);
  });

  it('a data directory it cannot write stops it before anything starts: exit 1, the path and the fix', () => {
    const locked = join(dir, 'locked');
    mkdirSync(locked, { mode: 0o755 });
    const result = spawnSync(process.execPath, [CLI, 'serve'], {
      env: { PATH: process.env.PATH ?? '', CG_CONFIG: '/dev/null', CG_SERVER_LISTEN: '127.0.0.1:0', CG_DATABASE_URL: `sqlite://${join(locked, 'gateway.db')}` },
      encoding: 'utf8',
      timeout: 30_000,
      uid: 65534,
      gid: 65534,
    });
    assert.equal(result.status, 1, result.stderr);
    assert.equal(
      result.stderr,
      `container-gateway: cannot start here:\n  database: ${locked}/gateway.db does not exist and cannot be created: ${locked} is not writable by uid 65534 (nobody) (EACCES). Fix: give ${locked} to the gateway's user (chown 65534 ${locked}), or set database.url to a writable place\n`,
    );
  });

  it('a configuration file that does not exist: exit 2, the path and the fix', () => {
    const missing = join(dir, 'etc', 'gateway.yaml');
    const result = spawnSync(process.execPath, [CLI, 'serve', '--config', missing], { env: { PATH: process.env.PATH ?? '' }, encoding: 'utf8', timeout: 30_000 });
    assert.equal(result.status, 2);
    assert.match(result.stderr, new RegExp(`config file ${missing}: cannot read \\(ENOENT\\): no such file\\. Fix: create it \\(config/gateway\\.example\\.yaml is a starting point\\), or name another with --config or CG_CONFIG`));
  });
});
