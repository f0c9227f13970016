/** `container-gateway check` with the kubernetes provider: the API server is reached with the gateway's own credential. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runChecks } from '../../src/check/run-checks.js';
import { testConfig } from '../support/config.js';
import { startFakeKubernetes, type FakeKubernetes } from './fake-kubernetes.js';

describe('check reports the Kubernetes API server', () => {
  let dir: string;
  let kubernetes: FakeKubernetes;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cg-check-kube-'));
    kubernetes = await startFakeKubernetes({ serviceAccountToken: 'gateway-sa-token' });
  });
  after(async () => {
    await kubernetes.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const configWith = (token: string) => {
    const tokenFile = join(dir, `${token}.token`);
    writeFileSync(tokenFile, `${token}\n`);
    return testConfig({
      CG_IDENTITY_PROVIDERS: 'kubernetes',
      CG_IDENTITY_KUBERNETES_API_SERVER: kubernetes.url,
      CG_IDENTITY_KUBERNETES_TOKEN_FILE: tokenFile,
      CG_BACKEND_URL: 'http://127.0.0.1:1',
    });
  };

  it('ok when the API server answers a TokenReview; the unused Katello upstream is not a warning', async () => {
    const report = await runChecks(configWith('gateway-sa-token'));
    assert.match(report.text, /ok\s+kubernetes .*answers TokenReview/);
    assert.match(report.text, /ok\s+upstream\s+not used/);
  });

  it('FAIL when the API server refuses the gateway credential', async () => {
    const report = await runChecks(configWith('stale-token'));
    assert.match(report.text, /FAIL kubernetes .*HTTP 401/);
    assert.equal(report.ok, false);
  });
});
