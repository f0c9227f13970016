#!/usr/bin/env node
// Runs every *.test.ts under test/ with Node's built-in runner (through tsx), unit tests first.
// Node 20 does not expand globs itself, so the files are listed here.
//
// The tests get a temp directory of their own (TMPDIR), and the run fails when anything is left in
// it afterwards, or when the working tree changed: tests must leave nothing behind. The name is
// short because podman refuses a run root longer than 50 characters, and tests put theirs there.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const order = ['unit', 'http', 'fake-katello', 'fake-kubernetes', 'integration', 'conformance'];
const only = process.argv.slice(2);
const files = order
  .filter((suite) => only.length === 0 || only.includes(suite))
  .flatMap((suite) =>
    readdirSync(join('test', suite), { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile() && entry.name.endsWith('.test.ts'))
      .map((entry) => join(entry.parentPath ?? entry.path, entry.name))
      .sort(),
  );

/** What git would report as changed or new (ignored files excluded); undefined outside a git checkout. */
function workingTreeChanges() {
  const status = spawnSync('git', ['status', '--porcelain'], { encoding: 'utf8' });
  return status.status === 0 ? status.stdout : undefined;
}

const testTmp = mkdtempSync(join(tmpdir(), 'cgt-'));
// Traversable by others, as /tmp is: the throwaway PostgreSQL runs as the user postgres, and the
// tests' runs as nobody must reach their directories inside it.
chmodSync(testTmp, 0o755);
const treeBefore = workingTreeChanges();
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...files], {
  stdio: 'inherit',
  env: { ...process.env, TMPDIR: testTmp },
});

const problems = [];
// tsx keeps its compile cache in the temp directory (tsx-<uid>): a cache, not something a test left.
const leftovers = readdirSync(testTmp).filter((name) => !name.startsWith('tsx-'));
if (leftovers.length > 0) problems.push(`tests left these in their temp directory: ${leftovers.join(', ')}`);
const treeAfter = workingTreeChanges();
if (treeBefore !== undefined && treeAfter !== treeBefore) problems.push(`tests changed the working tree (git status --porcelain):\n${treeAfter}`);
rmSync(testTmp, { recursive: true, force: true });
for (const problem of problems) console.error(`test run: ${problem}`);
process.exit(problems.length > 0 ? 1 : (result.status ?? 1));
