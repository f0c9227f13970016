/** The configuration reference in docs/ is generated from the schema and must match it. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { loadConfig } from '../../../src/config/load.js';
import { configurationSections, keysWithoutDescription, renderConfigurationReference } from '../../../src/config/reference.js';

describe('configuration reference', () => {
  it('docs/configuration.md is what the schema generates (after changing a key: npm run docs:config)', () => {
    assert.equal(readFileSync('docs/configuration.md', 'utf8'), renderConfigurationReference(), 'docs/configuration.md is stale: run npm run docs:config and commit it');
  });

  it('every key and section carries a description in the schema (.describe())', () => {
    assert.deepEqual(keysWithoutDescription(), []);
  });

  it('lists nested keys, list elements and their environment variables', () => {
    const entries = configurationSections().flatMap((section) => section.entries);
    const byPath = new Map(entries.map((entry) => [entry.path, entry]));
    assert.equal(byPath.get('backend.auth.username')?.env, 'CG_BACKEND_AUTH_USERNAME');
    assert.equal(byPath.get('backend.auth.username')?.requiredIn, 'backend.auth');
    assert.equal(byPath.get('identity.static.rules[].actions')?.env, undefined, 'a field of a list element has no variable of its own');
    assert.equal(byPath.get('identity.static.rules[].actions')?.type, 'list of `pull` \\| `push` \\| `delete`');
    assert.equal(byPath.get('server.workers')?.defaultValue, '1');
    assert.equal(byPath.get('upstream.url')?.type, 'string or null');
    assert.equal(byPath.get('server.tls')?.type, 'optional section');
  });

  it('every environment variable it names is one the loader accepts', () => {
    const names = configurationSections().flatMap((section) => section.entries.flatMap((entry) => (entry.env === undefined ? [] : [entry.env])));
    assert.ok(names.length > 60, `only ${names.length} variables`);
    for (const name of names) {
      const result = loadConfig({ env: { CG_CONFIG: '/dev/null', [name]: 'x' } });
      const problems = result.ok ? [] : result.problems;
      assert.ok(!problems.some((problem) => problem.startsWith(`${name}: unknown setting`)), `${name}: ${problems.join('; ')}`);
    }
  });
});
