/** The CLI as an operator runs it: the built `dist/cli.js`, real processes, exit codes. */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { httpRequest } from './harness/http-client.js';
import { findFreePort, startRegistry, type RunningRegistry } from './harness/registry.js';

const CLI = join(process.cwd(), 'dist', 'cli.js');

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
});
