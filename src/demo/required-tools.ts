/**
 * The Debian packages the demo uses: docker-registry (the registry it fronts: required), skopeo
 * and podman (the clients its printed commands use). As root on Debian the missing ones are
 * installed with apt-get; otherwise the demo says what to install.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export const REGISTRY_PACKAGE = 'docker-registry';
const CLIENT_PACKAGES = ['skopeo', 'podman'] as const;

/** The command's full path if it is on PATH (or in /usr/bin, where Debian puts these). */
export function findCommand(name: string): string | undefined {
  const directories = [...(process.env.PATH ?? '').split(delimiter), '/usr/bin'];
  for (const directory of directories) {
    if (directory === '') continue;
    const candidate = join(directory, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

export interface ToolReport {
  /** Packages still missing after any install. */
  readonly missing: string[];
  /** What was installed now. */
  readonly installed: string[];
}

export function ensureTools(say: (line: string) => void): ToolReport {
  const wanted = [REGISTRY_PACKAGE, ...CLIENT_PACKAGES];
  const missing = wanted.filter((name) => findCommand(name) === undefined);
  const isRoot = process.getuid?.() === 0;
  if (missing.length === 0 || !isRoot || findCommand('apt-get') === undefined) return { missing, installed: [] };
  say(`installing Debian packages: ${missing.join(' ')} (apt-get, as root)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const update = spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  const install = update.status === 0 ? spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: 'inherit', env }) : update;
  const still = wanted.filter((name) => findCommand(name) === undefined);
  if (install.status !== 0) say(`apt-get failed (exit ${String(install.status)}); still missing: ${still.join(' ') || 'nothing'}`);
  if (missing.includes(REGISTRY_PACKAGE) && !still.includes(REGISTRY_PACKAGE)) stopPackagedRegistry(say);
  return { missing: still, installed: missing.filter((name) => !still.includes(name)) };
}

/**
 * Debian's docker-registry package enables and starts its own service (/etc/docker/registry/
 * config.yml: port 5000 on every interface). The demo runs a registry of its own on 127.0.0.1, so
 * the packaged one is stopped and disabled rather than left listening after the demo ends.
 */
function stopPackagedRegistry(say: (line: string) => void): void {
  if (findCommand('systemctl') === undefined) return;
  const stopped = spawnSync('systemctl', ['disable', '--now', `${REGISTRY_PACKAGE}.service`], { stdio: 'ignore' });
  if (stopped.status === 0) say(`stopped and disabled the packaged ${REGISTRY_PACKAGE} service (it listened on port 5000 on every interface); the demo runs its own on 127.0.0.1`);
}
