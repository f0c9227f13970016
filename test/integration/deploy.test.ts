/**
 * deploy/ as an operator uses it: the systemd unit passes systemd's own verification and the
 * sysusers file creates the service user; a production install (built, then pruned to runtime
 * dependencies, as the install steps and the Containerfile do) runs; and the settings in the
 * Containerfile and the Kubernetes example form valid configurations whose names fit together.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { DEFAULT_CONFIG_FILE, loadConfig } from '../../src/config/load.js';
import { httpRequest } from './harness/http-client.js';
import { findFreePort } from './harness/registry.js';

const UNIT = 'deploy/systemd/container-gateway.service';
const has = (command: string) => spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
const noAnalyze = has('systemd-analyze') ? false : 'systemd-analyze is not installed (Debian: apt-get install -y systemd)';
const noSysusers = has('systemd-sysusers') ? false : 'systemd-sysusers is not installed (Debian: apt-get install -y systemd)';

/** The unit's [Service] settings: key → every value given for it. */
function serviceSettings(): Map<string, string[]> {
  const settings = new Map<string, string[]>();
  let section = '';
  for (const line of readFileSync(UNIT, 'utf8').split('\n')) {
    const header = /^\[(\w+)\]$/.exec(line);
    if (header !== null) section = header[1] ?? '';
    const setting = /^(\w+)=(.*)$/.exec(line);
    if (section === 'Service' && setting !== null) settings.set(setting[1] ?? '', [...(settings.get(setting[1] ?? '') ?? []), setting[2] ?? '']);
  }
  return settings;
}

/** A configuration from CG_* settings only, as a container would have it. */
function configFrom(env: Record<string, string>) {
  return loadConfig({ env: { CG_CONFIG: '/dev/null', ...env } });
}

describe('the systemd unit', () => {
  it('passes systemd-analyze verify with nothing to say', { skip: noAnalyze }, () => {
    const result = spawnSync('systemd-analyze', ['verify', UNIT], { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stderr.trim(), '', 'no warnings (an unknown or misspelt key is only a warning)');
  });

  it('the sysusers file creates the service user it runs as, with the state directory as home', { skip: noSysusers }, () => {
    const root = mkdtempSync(join(tmpdir(), 'cg-sysusers-'));
    try {
      mkdirSync(join(root, 'etc'));
      const result = spawnSync('systemd-sysusers', [`--root=${root}`, join(process.cwd(), 'deploy/systemd/container-gateway.sysusers')], { encoding: 'utf8' });
      assert.equal(result.status, 0, result.stderr);
      const user = readFileSync(join(root, 'etc', 'passwd'), 'utf8').split('\n').find((line) => line.startsWith('container-gateway:'));
      assert.match(user ?? '', /^container-gateway:x:\d+:\d+:[^:]*:\/var\/lib\/container-gateway:\/usr\/sbin\/nologin$/);
      assert.equal(serviceSettings().get('User')?.[0], 'container-gateway');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('keeps its state and logs where ProtectSystem=strict lets it write, private (0700, umask 0077), and reloads on SIGHUP', () => {
    const unit = serviceSettings();
    assert.deepEqual(unit.get('ProtectSystem'), ['strict']);
    assert.deepEqual(unit.get('StateDirectory'), ['container-gateway']);
    assert.deepEqual(unit.get('StateDirectoryMode'), ['0700']);
    assert.deepEqual(unit.get('LogsDirectory'), ['container-gateway']);
    assert.deepEqual(unit.get('UMask'), ['0077']);
    assert.deepEqual(unit.get('ExecReload'), ['/bin/kill -HUP $MAINPID']);
    assert.match(unit.get('ExecStart')?.[0] ?? '', /^\/usr\/bin\/node \/opt\/container-gateway\/dist\/cli\.js serve --config \/etc\/container-gateway\/gateway\.yaml$/);
  });
});

describe('a production install: built, then pruned to runtime dependencies', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cg-install-'));
    // What `npm ci && npm run build && npm prune --omit=dev` leaves, from this checkout's install and build.
    for (const part of ['package.json', 'package-lock.json', 'dist', 'node_modules']) cpSync(part, join(dir, part), { recursive: true });
    const pruned = spawnSync('npm', ['prune', '--omit=dev', '--offline', '--no-audit', '--no-fund'], { cwd: dir, encoding: 'utf8', env: { ...process.env, HOME: dir } });
    assert.equal(pruned.status, 0, pruned.stderr);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('has no compiler left, and migrates, checks and serves', async () => {
    assert.equal(spawnSync(join(dir, 'node_modules', '.bin', 'tsc'), ['--version']).error !== undefined, true, 'TypeScript is a dev dependency');
    const env = { PATH: process.env.PATH ?? '', HOME: dir, CG_CONFIG: '/dev/null', CG_DATABASE_URL: `sqlite://${join(dir, 'state', 'gateway.db')}`, CG_BACKEND_URL: 'http://127.0.0.1:1' };
    const migrated = spawnSync(process.execPath, ['dist/cli.js', 'migrate'], { cwd: dir, env, encoding: 'utf8' });
    assert.equal(migrated.status, 0, migrated.stderr);
    const port = await findFreePort();
    const server = spawn(process.execPath, ['dist/cli.js', 'serve'], { cwd: dir, env: { ...env, CG_SERVER_LISTEN: `127.0.0.1:${port}`, CG_LOG_LEVEL: 'warn' }, stdio: 'ignore' });
    const exited = new Promise((resolve) => server.once('exit', resolve));
    try {
      let health;
      for (let attempt = 0; attempt < 100 && health === undefined; attempt += 1) {
        health = await httpRequest(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
        if (health === undefined) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.equal(health?.status, 200);
    } finally {
      server.kill('SIGTERM');
    }
    assert.equal(await exited, 0);
  });
});

describe('the Containerfile', () => {
  const text = readFileSync('deploy/Containerfile', 'utf8');
  const instructions = text
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .filter((line) => /^[A-Z]+ /.test(line));
  const all = (name: string) => instructions.filter((line) => line.startsWith(`${name} `)).map((line) => line.slice(name.length + 1).trim());

  it('builds on a maintained Node.js LTS (even major, 22 or later), with the dev dependencies only in the build stage', () => {
    assert.ok(all('FROM').length > 0, 'the Containerfile has a base image');
    for (const base of all('FROM')) {
      const major = Number(/node:(\d+)/.exec(base)?.[1]);
      assert.ok(major >= 22 && major % 2 === 0, base);
    }
    const runs = all('RUN').join('\n');
    const [install, build, prune] = ['npm ci', 'npm run build', 'npm prune --omit=dev'].map((step) => runs.indexOf(step));
    assert.ok(install !== undefined && build !== undefined && prune !== undefined && install >= 0 && install < build && build < prune, 'install with dev dependencies, build, then prune');
  });

  it('runs as a non-root user who owns the data volume, with a health check, from the documented config directory', () => {
    const user = all('USER').at(-1);
    assert.ok(user !== undefined && user !== 'root' && user !== '0', `USER ${String(user)}`);
    assert.match(all('RUN').join('\n'), new RegExp(`chown ${user}:${user} /data`));
    assert.deepEqual(all('VOLUME'), ['["/data"]']);
    assert.equal(all('HEALTHCHECK').length, 1);
    assert.match(all('HEALTHCHECK')[0] ?? '', /\/healthz/);
    // The configuration file is read from WORKDIR + the default path; the header documents where that is.
    assert.match(text, new RegExp(`${all('WORKDIR').at(-1)}/${DEFAULT_CONFIG_FILE}`));
  });

  it('its environment is a valid configuration that keeps the database on the volume', () => {
    const env = Object.fromEntries(
      all('ENV')
        .join(' ')
        .split(/\s+/)
        .filter((pair) => pair.startsWith('CG_'))
        .map((pair) => pair.split('=') as [string, string]),
    );
    const result = configFrom(env);
    assert.ok(result.ok, result.ok ? '' : result.problems.join('\n'));
    assert.equal(result.config.database.url, 'sqlite:///data/gateway.db');
  });
});

describe('the Kubernetes example', () => {
  const documents = parseAllDocuments(readFileSync('deploy/kubernetes/gateway.yaml', 'utf8')).map((document) => document.toJS() as Record<string, any>);
  const ofKind = (kind: string) => {
    const found = documents.find((document) => document.kind === kind);
    assert.ok(found !== undefined, `no ${kind}`);
    return found;
  };

  it('has a Deployment, Service, Ingress, PodDisruptionBudget and a Secret for PostgreSQL', () => {
    for (const kind of ['Deployment', 'Service', 'Ingress', 'PodDisruptionBudget', 'Secret']) ofKind(kind);
    assert.match(ofKind('Secret').stringData.CG_DATABASE_URL, /^postgres:\/\//);
  });

  it('its settings (Secret and Deployment environment) form a valid PostgreSQL configuration behind a trusted proxy', () => {
    const container = ofKind('Deployment').spec.template.spec.containers[0];
    const env: Record<string, string> = { ...ofKind('Secret').stringData };
    for (const variable of container.env as Array<{ name: string; value: string }>) env[variable.name] = variable.value;
    const result = configFrom(env);
    assert.ok(result.ok, result.ok ? '' : result.problems.join('\n'));
    assert.equal(result.config.server.publicUrl.host, ofKind('Ingress').spec.rules[0].host, 'clients reach it by the Ingress host');
    assert.ok(result.config.server.trustedProxies.length > 0);
    assert.deepEqual(container.envFrom, [{ secretRef: { name: ofKind('Secret').metadata.name } }]);
  });

  it('its names fit together: probes, ports, Service, Ingress and PodDisruptionBudget select the same pods', () => {
    const deployment = ofKind('Deployment');
    const labels = deployment.spec.template.metadata.labels;
    const container = deployment.spec.template.spec.containers[0];
    const portName = container.ports[0].name;
    assert.equal(container.ports[0].containerPort, Number(container.env.find((v: { name: string }) => v.name === 'CG_SERVER_LISTEN').value.split(':')[1]));
    assert.equal(container.livenessProbe.httpGet.path, '/healthz');
    assert.equal(container.readinessProbe.httpGet.path, '/readyz');
    for (const probe of [container.startupProbe, container.livenessProbe, container.readinessProbe]) assert.equal(probe.httpGet.port, portName);
    assert.deepEqual(deployment.spec.selector.matchLabels, labels);
    const service = ofKind('Service');
    assert.deepEqual(service.spec.selector, labels);
    assert.equal(service.spec.ports[0].targetPort, portName);
    const backend = ofKind('Ingress').spec.rules[0].http.paths[0].backend.service;
    assert.equal(backend.name, service.metadata.name);
    assert.equal(backend.port.name, service.spec.ports[0].name);
    assert.deepEqual(ofKind('PodDisruptionBudget').spec.selector.matchLabels, labels);
    assert.equal(container.securityContext.readOnlyRootFilesystem, true);
    assert.equal(deployment.spec.template.spec.securityContext.runAsNonRoot, true);
  });
});

describe('config/gateway.example.yaml', () => {
  it('is a valid configuration as it stands', () => {
    const result = loadConfig({ file: 'config/gateway.example.yaml', env: {} });
    assert.ok(result.ok, result.ok ? '' : result.problems.join('\n'));
  });
});
