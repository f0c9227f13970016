/**
 * bcrypt is slow on purpose (tens of milliseconds per check); on the event loop, a flood of
 * logins — unknown users included, who cost a check against a dummy hash — stalls every other
 * request. Hash checks run on worker threads behind a bounded queue: during a flood of 40
 * logins `/healthz` and a pull with a token stay fast, and a full queue answers 503 with
 * Retry-After. Real registry behind the gateway.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import bcrypt from 'bcryptjs';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { httpRequest } from './harness/http-client.js';
import type { BuiltImage } from './harness/oci-layout.js';
import { startRegistry, type RunningRegistry } from './harness/registry.js';
import { pushImage } from './harness/seed.js';

const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });
/** "Does not block": far above a normal answer (a few ms), far below the seconds a blocked loop costs. */
const RESPONSIVE_MS = 500;

describe('password checks leave the event loop', () => {
  let dir: string;
  let registry: RunningRegistry;
  let image: BuiltImage;
  let gateway: RunningGateway;
  let small: RunningGateway;
  let token: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cg-password-checks-'));
    // Cost 10, as htpasswd -B writes by default and as the dummy hash for unknown users is.
    writeFileSync(join(dir, 'users.htpasswd'), `alice:${bcrypt.hashSync('alice-pw', 10)}\n`);
    registry = await startRegistry();
    image = await pushImage(join(dir, 'layout'), { tag: 'v1', seed: 'password-checks' }, registry.url, 'team/app');
    const env = {
      CG_BACKEND_MODE: 'proxy',
      CG_IDENTITY_PROVIDERS: 'static',
      CG_IDENTITY_STATIC_HTPASSWD: join(dir, 'users.htpasswd'),
      CG_IDENTITY_STATIC_RULES: '[{subjects: [alice], repositories: ["team/**"], actions: [pull]}]',
    };
    gateway = await startGateway({ backendUrl: registry.url, env });
    small = await startGateway({ backendUrl: registry.url, env: { ...env, CG_LIMITS_PASSWORD_CHECKS_WORKERS: '1', CG_LIMITS_PASSWORD_CHECKS_QUEUE: '2' } });
    const login = await httpRequest(`${gateway.url}/v2/token?scope=repository:team/app:pull`, { headers: basic('alice', 'alice-pw') });
    assert.equal(login.status, 200, login.body.toString());
    token = (JSON.parse(login.body.toString()) as { token: string }).token;
  });

  after(async () => {
    await gateway?.stop();
    await small?.stop();
    await registry?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function timed(work: () => Promise<{ status: number }>): Promise<{ status: number; ms: number }> {
    const started = Date.now();
    const { status } = await work();
    return { status, ms: Date.now() - started };
  }

  it('during a flood of 40 logins of made-up users, /healthz and a pull by token answer at once', async () => {
    let done = 0;
    const flood = Array.from({ length: 40 }, (_unused, index) =>
      httpRequest(`${gateway.url}/v2/token`, { headers: basic(`made-up-${index}`, 'guess'), timeoutMs: 60_000 }).finally(() => (done += 1)),
    );
    const samples: Array<{ what: string; status: number; ms: number }> = [];
    // Sample while the flood is in flight (the checks take seconds in all).
    await new Promise((resolve) => setTimeout(resolve, 50));
    while (done < 40 && samples.length < 30) {
      samples.push({ what: 'healthz', ...(await timed(() => httpRequest(`${gateway.url}/healthz`))) });
      samples.push({
        what: 'pull',
        ...(await timed(() => httpRequest(`${gateway.url}/v2/team/app/manifests/v1`, { headers: { authorization: `Bearer ${token}`, accept: image.manifest.mediaType } }))),
      });
    }
    const answers = await Promise.all(flood);
    for (const sample of samples) {
      assert.equal(sample.status, 200, sample.what);
      assert.ok(sample.ms < RESPONSIVE_MS, `${sample.what} took ${sample.ms} ms during the flood: ${JSON.stringify(samples)}`);
    }
    assert.ok(samples.length >= 4, `the flood ended before it could be sampled (${samples.length} samples)`);
    assert.ok(answers.every((answer) => answer.status === 401 || answer.status === 503), answers.map((answer) => answer.status).join(','));
  });

  it('a full queue answers 503 with Retry-After, and the checks it took still answer', async () => {
    const answers = await Promise.all(Array.from({ length: 20 }, (_unused, index) => httpRequest(`${small.url}/v2/token`, { headers: basic(`made-up-${index}`, 'guess'), timeoutMs: 60_000 })));
    const busy = answers.filter((answer) => answer.status === 503);
    assert.ok(busy.length > 0, answers.map((answer) => answer.status).join(','));
    for (const answer of busy) {
      assert.match(String(answer.headers['retry-after']), /^\d+$/);
      assert.equal((JSON.parse(answer.body.toString()) as { errors: Array<{ code: string }> }).errors[0]?.code, 'UNAVAILABLE');
    }
    assert.ok(answers.some((answer) => answer.status === 401));
    // The queue drains: alice logs in afterwards.
    assert.equal((await httpRequest(`${small.url}/v2/token`, { headers: basic('alice', 'alice-pw') })).status, 200);
  });
});
