/**
 * startPostgres: a throwaway PostgreSQL (Debian's server binaries) on a free loopback port,
 * in about a second: initdb with trust auth and no fsync, run as the postgres user. Each call
 * gets its own cluster; stop() removes it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findFreePort } from '../integration/harness/registry.js';

export interface RunningPostgres {
  readonly url: string;
  readonly port: number;
  createDatabase(name: string): string;
  stop(): Promise<void>;
}

function binDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  const found = versions.map((v) => join(root, v, 'bin')).find((dir) => existsSync(join(dir, 'initdb')));
  if (found === undefined) throw new Error('PostgreSQL server binaries not found (apt-get install -y postgresql)');
  return found;
}

function idOf(user: string): number {
  return Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
}

export function postgresAvailable(): boolean {
  try {
    binDir();
    idOf('postgres');
    return true;
  } catch {
    return false;
  }
}

export async function startPostgres(): Promise<RunningPostgres> {
  const bin = binDir();
  const dir = mkdtempSync(join(tmpdir(), 'cg-pg-'));
  const uid = idOf('postgres');
  chownSync(dir, uid, Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim()));
  const data = join(dir, 'data');
  const asPostgres = (command: string, args: string[]) => {
    const result = spawnSync('runuser', ['-u', 'postgres', '--', join(bin, command), ...args], { encoding: 'utf8', timeout: 30_000 });
    if (result.status !== 0) throw new Error(`${command} failed: ${result.stderr || result.stdout}`);
  };
  asPostgres('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8']);
  const port = await findFreePort();
  asPostgres('pg_ctl', ['-D', data, '-w', '-l', join(dir, 'log'), '-o', `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200`, 'start']);
  const stopServer = () => spawnSync('runuser', ['-u', 'postgres', '--', join(bin, 'pg_ctl'), '-D', data, '-m', 'immediate', 'stop'], { timeout: 30_000 });
  const onExit = () => stopServer();
  process.once('exit', onExit);
  const base = `postgres://postgres@127.0.0.1:${port}`;
  return {
    url: `${base}/postgres`,
    port,
    createDatabase(name) {
      asPostgres('createdb', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', name]);
      return `${base}/${name}`;
    },
    async stop() {
      process.removeListener('exit', onExit);
      stopServer();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
