/**
 * The official OCI distribution-spec conformance suite (v1.1.1), run against Distribution 2.8
 * directly and through the gateway (static provider, a user granted pull, push and delete) in the
 * same run. The gateway must pass every spec the registry passes, in every workflow, and all of
 * content management. The suite and its offline build live outside this repository
 * (CG_CONFORMANCE_DIR, or ../shared/conformance next to the checkout); without it this test is
 * skipped and says so.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';

const suiteDir = process.env.CG_CONFORMANCE_DIR ?? resolve(process.cwd(), '..', 'shared', 'conformance');
const runner = join(suiteDir, 'run.sh');
const available = existsSync(runner);

describe('OCI distribution-spec conformance, registry vs gateway', { skip: available ? false : `the conformance suite is not at ${suiteDir} (set CG_CONFORMANCE_DIR)` }, () => {
  it('the gateway fails no spec the registry passes, and passes all of content management', (t) => {
    // The suite's build is kept across runs, outside the tests' own temp directory (which must end empty).
    const cache = join(process.cwd(), 'node_modules', '.cache', 'oci-conformance');
    const run = spawnSync(runner, [process.cwd()], { encoding: 'utf8', timeout: 20 * 60_000, env: { ...process.env, CONF_CACHE: cache } });
    const out = run.stdout ?? '';
    for (const line of out.split('\n').filter((text) => /^(PASS|FAIL|INFO suite_)/.test(text))) t.diagnostic(line);
    assert.equal(run.status, 0, `${out}\n${(run.stderr ?? '').slice(-4000)}`);
    for (const workflow of ['Pull', 'Push', 'Content Discovery', 'Content Management']) assert.match(out, new RegExp(`^PASS ${workflow} \\(`, 'm'), workflow);
    assert.match(out, /^PASS Content Management \(gateway \d+ passed, 0 failed, 0 skipped;/m);
  });
});
