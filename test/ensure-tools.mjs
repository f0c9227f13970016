#!/usr/bin/env node
// Before `npm test`: the integration suites drive real parts — Debian's docker-registry, skopeo,
// podman, openssl, sqlite3 (the documented backup), git (the quick start in a fresh clone) and a
// throwaway PostgreSQL server. systemd's verifiers are optional: those tests say how to get them.
// On a fresh Debian machine (as root) they are installed here; elsewhere we say what is missing.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';

const tools = { 'docker-registry': 'docker-registry', skopeo: 'skopeo', podman: 'podman', openssl: 'openssl', sqlite3: 'sqlite3', git: 'git', nginx: 'nginx-light' };
// nginx lives in /usr/sbin, which a non-login PATH may lack.
const has = (command) => spawnSync('sh', ['-c', `command -v ${command} || test -x /usr/sbin/${command}`], { stdio: 'ignore' }).status === 0;
const missing = Object.entries(tools).filter(([command]) => !has(command)).map(([, pkg]) => pkg);
const postgresRoot = '/usr/lib/postgresql';
const hasPostgresServer = existsSync(postgresRoot) && readdirSync(postgresRoot).some((version) => existsSync(`${postgresRoot}/${version}/bin/initdb`));
if (!hasPostgresServer) missing.push('postgresql');
if (missing.length === 0) process.exit(0);

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
if (isRoot && has('apt-get')) {
  console.log(`installing test prerequisites: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: 'inherit', env });
  process.exit(0);
}
console.error(`the integration tests need: ${missing.join(' ')} (Debian: apt-get install -y ${missing.join(' ')})`);
process.exit(1);
