/**
 * podman for tests: everything (storage, auth, registries.conf, containers.conf) under one temp
 * dir, vfs storage, cgroupfs, no events: nothing of the machine's own containers is touched.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand } from './run-command.js';

export const podmanAvailable = spawnSync('podman', ['--version']).status === 0;

/** podman with everything (storage, auth, config) under `dir`: vfs storage, nothing of the machine's own. */
export function podmanIn(dir: string, args: string[]) {
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: dir,
    XDG_RUNTIME_DIR: join(dir, 'run'),
    XDG_CONFIG_HOME: join(dir, 'config'),
    REGISTRY_AUTH_FILE: join(dir, 'auth.json'),
    CONTAINERS_REGISTRIES_CONF: join(dir, 'registries.conf'),
    CONTAINERS_CONF: join(dir, 'containers.conf'),
  };
  const global = ['--root', join(dir, 'root'), '--runroot', join(dir, 'runroot'), '--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs', '--events-backend', 'none'];
  return runCommand('podman', [...global, ...args], { env, timeoutMs: 120_000 });
}

export function preparePodmanHome(dir: string): void {
  writeFileSync(join(dir, 'registries.conf'), 'unqualified-search-registries = []\n');
  writeFileSync(join(dir, 'containers.conf'), '[engine]\nevents_logger = "none"\n');
  writeFileSync(join(dir, 'auth.json'), '{"auths":{}}');
}
