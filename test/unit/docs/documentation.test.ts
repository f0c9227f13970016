/** What readers get: no words from the project's own tracker, and no link to a file that is not there. */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';

const readerFiles = [
  'README.md',
  'bench/README.md',
  'config/gateway.example.yaml',
  ...readdirSync('docs', { recursive: true, encoding: 'utf8' }).filter((name) => name.endsWith('.md')).map((name) => join('docs', name)),
  ...readdirSync('deploy', { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name)),
];

describe('documentation', () => {
  it('speaks to readers, not to the project: no tracker numbers or internal names', () => {
    for (const file of readerFiles) {
      const text = readFileSync(file, 'utf8');
      for (const word of [/\bissue \d+/i, /\bthe contract\b/i, /\bcontract\.md\b/i, /\bseeds?\b/i, /\bthe guide\b/i, /qci-appci/i]) {
        assert.doesNotMatch(text, word, `${file} says ${String(text.match(word)?.[0])}`);
      }
    }
  });

  it('every relative link points at a file that exists', () => {
    for (const file of readerFiles.filter((name) => name.endsWith('.md'))) {
      for (const [, target] of readFileSync(file, 'utf8').matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
        if (target === undefined || /^[a-z]+:/.test(target)) continue;
        const path = join(dirname(file), target);
        assert.ok(existsSync(path), `${file} links to ${target}, which does not exist`);
      }
    }
  });
});
