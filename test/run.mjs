#!/usr/bin/env node
// Runs every *.test.ts under test/ with Node's built-in runner (through tsx), unit tests first.
// Node 20 does not expand globs itself, so the files are listed here.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
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
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
