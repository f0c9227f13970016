/**
 * The README's first command, as a newcomer runs it: in a fresh clone of the repository, it brings
 * up a registry, the gateway in front of it, two images and a user, and prints skopeo and podman
 * commands; every printed command then does what it says (the private image is refused without
 * credentials and pulled with them), and Ctrl-C stops everything it started.
 *
 * The clone is of the committed HEAD. It borrows this checkout's node_modules (a symlink) instead
 * of running `npm ci`: the install would rebuild better-sqlite3 from source (a minute of compiling
 * on two cores) and needs the npm registry, while CI's own `npm ci` already covers the install
 * step; everything after it — the build, the demo, the commands — runs in the clone as written.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

const repository = spawnSync('git', ['rev-parse', '--show-toplevel'], { encoding: 'utf8' });
const inGitCheckout = repository.status === 0;
const podmanAvailable = spawnSync('podman', ['--version']).status === 0;
const skip = !inGitCheckout ? 'not a git checkout: nothing to clone' : !podmanAvailable ? 'podman is not installed (apt-get install -y podman)' : false;

/** The README's first shell line, without its comment: what a newcomer types first. */
function firstReadmeCommand(readme: string): string {
  const block = /```sh\n([^\n]*)\n/.exec(readme);
  assert.ok(block?.[1] !== undefined, 'the README opens with a sh block');
  return block[1].replace(/\s+#.*$/, '').trim();
}

/** Client state (auth, storage, caches) in `dir` only: vfs storage for podman, nothing of the machine's. */
function sandboxEnvironment(dir: string): NodeJS.ProcessEnv {
  writeFileSync(join(dir, 'storage.conf'), `[storage]\ndriver = "vfs"\ngraphroot = "${join(dir, 'root')}"\nrunroot = "${join(dir, 'runroot')}"\n`);
  writeFileSync(join(dir, 'containers.conf'), '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "none"\n');
  writeFileSync(join(dir, 'registries.conf'), 'unqualified-search-registries = []\n');
  writeFileSync(join(dir, 'auth.json'), '{"auths":{}}');
  mkdirSync(join(dir, 'run'));
  return {
    PATH: process.env.PATH ?? '',
    HOME: dir,
    TMPDIR: dir,
    XDG_RUNTIME_DIR: join(dir, 'run'),
    XDG_CONFIG_HOME: join(dir, 'config'),
    REGISTRY_AUTH_FILE: join(dir, 'auth.json'),
    CONTAINERS_REGISTRIES_CONF: join(dir, 'registries.conf'),
    CONTAINERS_CONF: join(dir, 'containers.conf'),
    CONTAINERS_STORAGE_CONF: join(dir, 'storage.conf'),
  };
}

function run(command: string, env: NodeJS.ProcessEnv): Promise<{ status: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', command], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('close', (status) => resolve({ status, output }));
  });
}

function groupAlive(group: number): boolean {
  try {
    process.kill(-group, 0);
    return true;
  } catch {
    return false;
  }
}

function refusesConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

describe('the README quick start, in a fresh clone', { skip, timeout: 600_000 }, () => {
  let work: string;
  let clone: string;
  let clients: string;
  let clientEnv: NodeJS.ProcessEnv | undefined;
  let demo: ChildProcess;
  let output = '';
  let exited: Promise<number | null>;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'cg-quickstart-'));
    clone = join(work, 'clone');
    clients = join(work, 'clients');
    mkdirSync(clients);
    clientEnv = sandboxEnvironment(clients);
    const cloned = spawnSync('git', ['clone', '--quiet', '--no-hardlinks', repository.stdout.trim(), clone], { encoding: 'utf8' });
    assert.equal(cloned.status, 0, cloned.stderr);
    symlinkSync(join(repository.stdout.trim(), 'node_modules'), join(clone, 'node_modules'));

    const command = firstReadmeCommand(readFileSync(join(clone, 'README.md'), 'utf8'));
    assert.match(command, /^npm ci && /, 'the first command installs, then runs');
    // Its own process group, so that a SIGINT to the group is what Ctrl-C in a terminal sends.
    demo = spawn('sh', ['-c', command.replace(/^npm ci && /, '')], { cwd: clone, detached: true, env: { PATH: process.env.PATH ?? '', HOME: work }, stdio: ['ignore', 'pipe', 'pipe'] });
    demo.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    demo.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    exited = new Promise((resolve) => demo.once('exit', (code) => resolve(code)));
    let running = true;
    void exited.then(() => (running = false));
    for (let waited = 0; running && !output.includes('Press Ctrl-C') && waited < 300_000; waited += 200) await new Promise((resolve) => setTimeout(resolve, 200));
    assert.match(output, /Press Ctrl-C to stop/, `the demo did not come up:\n${output}`);
  });

  after(async () => {
    if (demo?.pid !== undefined && groupAlive(demo.pid)) process.kill(-demo.pid, 'SIGKILL');
    // vfs layers can be read-only: podman's own cleanup first, then the directory.
    if (clientEnv !== undefined) await run('podman system reset --force', clientEnv);
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  it('prints skopeo and podman commands that work as printed: public for anyone, private refused without the user and pulled with it', async () => {
    const commands = output
      .split('\n')
      .filter((line) => /^ {2}(skopeo|podman) /.test(line))
      .map((line) => line.trim());
    assert.ok(commands.some((line) => line.startsWith('podman pull')) && commands.some((line) => line.startsWith('skopeo copy')), output);
    const env = clientEnv ?? {};
    assert.ok(commands.some((command) => command.includes('# refused')), 'the demo shows a pull that is refused');
    for (const command of commands) {
      // skopeo as root keeps a blob-info cache under /var/lib/containers unless it believes it is rootless.
      const result = await run(command, command.startsWith('skopeo') ? { ...env, _CONTAINERS_ROOTLESS_UID: '1000' } : env);
      if (command.includes('# refused')) {
        assert.notEqual(result.status, 0, `${command}\n${result.output}`);
        assert.match(result.output, /denied|unauthorized/i, command);
      } else {
        assert.equal(result.status, 0, `${command}\n${result.output}`);
      }
    }
    const pulledTo = /dir:(\S+)/.exec(commands.find((line) => line.startsWith('skopeo copy')) ?? '')?.[1] ?? '';
    assert.ok(existsSync(join(pulledTo, 'manifest.json')), 'skopeo copied the private image');
    const images = await run('podman images --format "{{.Repository}}:{{.Tag}}"', env);
    assert.match(images.output, /\/demo\/public:latest/);
    assert.match(images.output, /\/demo\/private:latest/);
  });

  it('Ctrl-C stops the gateway and the registry it started', async () => {
    const ports = [...output.matchAll(/http:\/\/127\.0\.0\.1:(\d+)/g)].map((match) => Number(match[1]));
    assert.ok(ports.length >= 2, output);
    const group = demo.pid ?? 0;
    process.kill(-group, 'SIGINT');
    await exited;
    // npm may end at once on SIGINT; the demo in its process group ends once it has stopped what it started.
    for (let waited = 0; groupAlive(group) && waited < 30_000; waited += 100) await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(groupAlive(group), false, 'the demo is still running');
    assert.match(output, /stopped the gateway and the registry/);
    for (const port of new Set(ports)) assert.ok(await refusesConnections(port), `something still listens on ${port}`);
  });
});
