/**
 * Caches clients can grow: a backend token is kept per scope, and a scope names a repository,
 * which an anonymous client can make up under a public glob. Against a real Distribution with
 * token auth (its realm is the gateway, its trusted signer the gateway's key), 400 requests for
 * made-up names leave at most backend.auth.tokenCacheEntries tokens in memory, and /metrics
 * shows every bounded cache's entries and bytes.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { startTokenAuthRegistry } from '../support/token-auth-registry.js';
import { httpRequest } from './harness/http-client.js';
import { writeImageLayout, type BuiltImage } from './harness/oci-layout.js';
import type { RunningRegistry } from './harness/registry.js';
import { runSkopeo } from './harness/skopeo.js';
import { sampleOf } from '../support/metrics.js';

const ISSUER = 'bounded-caches-test';
const SERVICE = 'registry-bounded';
const TOKEN_CACHE_ENTRIES = 50;

const gaugeOf = (metrics: string, name: string, cache: string): number | undefined => sampleOf(metrics, name, { cache });

describe('bounded caches', () => {
  let dir: string;
  let registry: RunningRegistry;
  let gateway: RunningGateway;
  let image: BuiltImage;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cg-bounded-'));
    const started = await startTokenAuthRegistry(dir, { issuer: ISSUER, service: SERVICE });
    const { port } = started;
    registry = started.registry;
    gateway = await startGateway({
      port,
      backendUrl: registry.url,
      env: {
        CG_BACKEND_MODE: 'proxy',
        CG_IDENTITY_PROVIDERS: 'static',
        CG_IDENTITY_STATIC_ROBOTS: '[{username: robot, password: robot-secret}]',
        CG_IDENTITY_STATIC_RULES: '[{subjects: [anonymous], repositories: ["pub/**"], actions: [pull]}, {subjects: [robot], repositories: ["**"], actions: [pull, push]}]',
        CG_BACKEND_AUTH_TOKEN_CACHE_ENTRIES: String(TOKEN_CACHE_ENTRIES),
        ...started.gatewayEnv({ username: 'robot', password: 'robot-secret' }),
      },
    });
    // A real image under the public glob, pushed through the gateway (anonymous pulls it, the robot credential pushes it).
    image = await writeImageLayout(join(dir, 'layout'), { tag: 'v1', seed: 'bounded-caches' });
    const host = new URL(gateway.url).host;
    await runSkopeo('copy', ({ authfile }) => ['--quiet', '--retry-times', '0', '--dest-tls-verify=false', '--dest-authfile', authfile, '--dest-creds', 'robot:robot-secret', `oci:${join(dir, 'layout')}:v1`, `docker://${host}/pub/real:v1`], { timeoutMs: 120_000 });
  });

  after(async () => {
    await gateway?.stop();
    await registry?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('400 anonymous requests for made-up public names keep at most tokenCacheEntries backend tokens', async () => {
    for (let batch = 0; batch < 8; batch += 1) {
      await Promise.all(
        Array.from({ length: 50 }, async (_unused, index) => {
          const response = await httpRequest(`${gateway.url}/v2/pub/made-up-${batch}-${index}/tags/list`);
          assert.equal(response.status, 404, `${batch}-${index}: ${response.body.toString()}`);
        }),
      );
    }
    const metrics = (await httpRequest(`${gateway.url}/metrics`)).body.toString();
    const entries = gaugeOf(metrics, 'cg_cache_entries', 'backend-tokens');
    const bytes = gaugeOf(metrics, 'cg_cache_bytes', 'backend-tokens');
    assert.ok(entries !== undefined && entries > 0 && entries <= TOKEN_CACHE_ENTRIES, `backend tokens held: ${String(entries)}`);
    assert.ok(bytes !== undefined && bytes <= TOKEN_CACHE_ENTRIES * 8 * 1024, `backend token bytes: ${String(bytes)}`);
    // Evicted tokens are fetched again when needed: the real image still pulls.
    const pulled = await httpRequest(`${gateway.url}/v2/pub/real/manifests/v1`, { headers: { accept: image.manifest.mediaType } });
    assert.equal(pulled.status, 200, pulled.body.toString());
  });

  it('/metrics shows every bounded cache by name', async () => {
    const metrics = (await httpRequest(`${gateway.url}/metrics`)).body.toString();
    for (const cache of ['backend-tokens', 'user-tokens', 'unknown-tokens', 'anonymous-tokens', 'gateway-tokens', 'known-hosts', 'failed-host-lookups', 'caller-mappings', 'stale-caller-mappings', 'login-failures-by-account', 'login-failures-by-address', 'manifests', 'redirects']) {
      assert.notEqual(gaugeOf(metrics, 'cg_cache_entries', cache), undefined, cache);
      assert.notEqual(gaugeOf(metrics, 'cg_cache_bytes', cache), undefined, cache);
    }
  });
});
