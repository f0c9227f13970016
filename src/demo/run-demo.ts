/**
 * runDemo (`container-gateway demo`, `npm run demo`): the gateway doing its job on one machine,
 * without network access beyond Debian's packages. On 127.0.0.1 it starts Debian's
 * docker-registry with a configuration of ours (no auth, storage in the data directory), builds
 * two small images in code and pushes them there, writes a gateway configuration (SQLite in the
 * data directory, the static provider with one htpasswd user who may pull the private image,
 * anyone the public one), starts the gateway in front of the registry, and prints the skopeo and
 * podman commands that pull through it. Ctrl-C (SIGINT), SIGTERM or SIGHUP stop both processes.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import bcrypt from 'bcryptjs';
import { stringify } from 'yaml';
import { buildImage, ociArchitectureOf } from '../oci-image/image.js';
import { pushImage } from '../oci-image/push-image.js';
import { findFreePort, freePortPreferring } from './free-port.js';
import { startLoggedProcess, waitUntilAnswering, type LoggedProcess } from './logged-process.js';
import { pullCommands } from './pull-commands.js';
import { registryConfigYaml } from './registry-config.js';
import { ensureTools, findCommand, REGISTRY_PACKAGE } from './required-tools.js';

export interface DemoOptions {
  readonly dataDirectory: string;
  /** Tried first for the gateway; any free port when it is taken. */
  readonly preferredPort: number;
}

const PUBLIC_IMAGE = 'demo/public:latest';
const PRIVATE_IMAGE = 'demo/private:latest';
const USERNAME = 'demo';
const READY_TIMEOUT_MS = 30_000;

const say = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};

/** Resolves with the exit code once everything it started has stopped. */
export async function runDemo(options: DemoOptions): Promise<number> {
  const tools = ensureTools(say);
  const registryBinary = findCommand(REGISTRY_PACKAGE);
  if (registryBinary === undefined) {
    process.stderr.write(`container-gateway demo: it needs Debian's docker-registry: apt-get install -y docker-registry skopeo podman (as root), then run it again\n`);
    return 1;
  }
  const data = resolve(options.dataDirectory);
  const shown = (path: string) => (path.startsWith(`${process.cwd()}/`) ? relative(process.cwd(), path) : path);
  mkdirSync(join(data, 'registry', 'storage'), { recursive: true, mode: 0o700 });
  mkdirSync(join(data, 'pulled'), { recursive: true, mode: 0o700 });

  const owned: LoggedProcess[] = [];
  const killOwned = () => {
    for (const child of owned) child.child.kill('SIGKILL');
  };
  process.once('exit', killOwned);
  let stopRequested: (signal: string) => void = () => undefined;
  let interrupted = false;
  const stopSignal = new Promise<string>((resolveSignal) => (stopRequested = resolveSignal));
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      interrupted = true;
      stopRequested(signal);
    });
  }
  const stopAll = async () => {
    await Promise.all([...owned].reverse().map((child) => child.stop()));
  };
  const fail = async (message: string, child?: LoggedProcess): Promise<number> => {
    process.stderr.write(`container-gateway demo: ${message}\n${child === undefined ? '' : `--- last lines of ${shown(child.logFile)} ---\n${child.logTail()}\n`}`);
    await stopAll();
    return 1;
  };

  // The registry: ours, on loopback, no auth; not Debian's packaged configuration.
  const registryPort = await findFreePort();
  const registryConfig = join(data, 'registry', 'config.yml');
  writeFileSync(registryConfig, registryConfigYaml(join(data, 'registry', 'storage'), registryPort), { mode: 0o600 });
  const registry = startLoggedProcess('registry', registryBinary, ['serve', registryConfig], join(data, 'registry.log'), { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: data });
  owned.push(registry);
  const registryUrl = new URL(`http://127.0.0.1:${registryPort}`);
  if (!(await waitUntilAnswering(registry, new URL('/v2/', registryUrl), 200, READY_TIMEOUT_MS))) return interrupted ? stopped() : fail('the registry did not start', registry);

  try {
    const architecture = ociArchitectureOf(process.arch);
    for (const [reference, who] of [
      [PUBLIC_IMAGE, 'anyone'],
      [PRIVATE_IMAGE, `only the user ${USERNAME}`],
    ] as const) {
      const [repository = '', tag = ''] = reference.split(':');
      const image = buildImage({
        architecture,
        labels: { 'org.opencontainers.image.title': reference, 'org.opencontainers.image.description': `container-gateway demo image: ${who} may pull it` },
        files: [{ path: 'hello.txt', content: `Hello from ${reference}, pulled through container-gateway. ${who[0]?.toUpperCase()}${who.slice(1)} may pull this image.\n` }],
      });
      await pushImage(registryUrl, repository, tag, image);
    }
  } catch (error) {
    return fail(`could not push the demo images: ${(error as Error).message}`, registry);
  }

  if (interrupted) return stopped();
  const password = randomBytes(12).toString('hex');
  const htpasswd = join(data, 'users.htpasswd');
  writeFileSync(htpasswd, `${USERNAME}:${bcrypt.hashSync(password, 10)}\n`, { mode: 0o600 });
  const gatewayPort = await freePortPreferring(options.preferredPort);
  const gatewayHost = `127.0.0.1:${gatewayPort}`;
  const configFile = join(data, 'gateway.yaml');
  const settings = {
    server: { listen: gatewayHost },
    database: { url: `sqlite://${join(data, 'gateway.db')}` },
    backend: { url: registryUrl.origin, mode: 'proxy' },
    identity: {
      providers: ['static'],
      static: {
        htpasswd,
        rules: [
          { subjects: ['anonymous'], repositories: [PUBLIC_IMAGE.split(':')[0]], actions: ['pull'] },
          { subjects: [USERNAME], repositories: [PRIVATE_IMAGE.split(':')[0]], actions: ['pull'] },
        ],
      },
    },
    management: { tokens: [randomBytes(24).toString('hex')] },
  };
  writeFileSync(configFile, `# Written by \`container-gateway demo\`; every key is described in docs/configuration.md.\n${stringify(settings)}`, { mode: 0o600 });

  const cli = fileURLToPath(new URL('../cli.js', import.meta.url));
  // Only what the process needs: CG_* variables of the caller's shell would override the demo's configuration.
  const gateway = startLoggedProcess('gateway', process.execPath, [cli, 'serve', '--config', configFile], join(data, 'gateway.log'), { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: data });
  owned.push(gateway);
  if (!(await waitUntilAnswering(gateway, new URL(`http://${gatewayHost}/readyz`), 200, READY_TIMEOUT_MS))) return interrupted ? stopped() : fail('the gateway did not become ready', gateway);

  say();
  say('container-gateway demo: everything on 127.0.0.1');
  say();
  say(`  registry  ${registryUrl.origin}   Debian's docker-registry, no auth, storage in ${shown(join(data, 'registry', 'storage'))}`);
  say(`  gateway   http://${gatewayHost}   in front of it; SQLite database ${shown(join(data, 'gateway.db'))}`);
  say(`  images    ${PUBLIC_IMAGE} (anyone may pull it), ${PRIVATE_IMAGE} (only the user ${USERNAME})`);
  say(`  user      ${USERNAME}, password ${password}   (${shown(htpasswd)})`);
  say(`  config    ${shown(configFile)}; logs ${shown(gateway.logFile)}, ${shown(registry.logFile)}`);
  say();
  say('Pull through the gateway (plain HTTP on loopback, hence the TLS flags):');
  say();
  for (const line of pullCommands({ gateway: gatewayHost, publicImage: PUBLIC_IMAGE, privateImage: PRIVATE_IMAGE, username: USERNAME, password, pullDirectory: join(data, 'pulled', 'private') })) {
    say(line === '' ? '' : `  ${line}`);
  }
  const clients = tools.missing.filter((name) => name !== REGISTRY_PACKAGE);
  if (clients.length > 0) say(`\n(${clients.join(' and ')} not installed: apt-get install -y ${clients.join(' ')})`);
  say();
  say(`Press Ctrl-C to stop the gateway and the registry (the data stays in ${shown(data)}).`);

  const ended = await Promise.race([stopSignal.then((signal) => ({ signal })), ...owned.map((child) => child.exited.then((code) => ({ child, code })))]);
  if ('child' in ended && !interrupted) return fail(`the ${ended.child.name} stopped unexpectedly (${ended.code})`, ended.child);
  return stopped();

  async function stopped(): Promise<number> {
    await stopAll();
    say(`\nstopped the gateway and the registry; the data is in ${shown(data)} (rm -rf ${shown(data)} removes it)`);
    return 0;
  }
}
