/**
 * podman, the client most users run, against the gateway: login, an anonymous pull of a public
 * image, a logged-in pull of a private one, a refused pull, and search. vfs storage in a temp
 * root, so nothing touches the machine's own containers.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startFakeKatello, type FakeKatello } from '../fake-katello/fake-katello.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { podmanAvailable, podmanIn, preparePodmanHome } from './harness/podman.js';
import { startRegistry, type RunningRegistry } from './harness/registry.js';
import { seedRegistry, type SeedData } from './harness/seed.js';

describe('podman through the gateway', { skip: podmanAvailable ? false : 'podman is not installed (apt-get install -y podman)' }, () => {
  let registry: RunningRegistry;
  let seed: SeedData;
  let katello: FakeKatello;
  let gateway: RunningGateway;
  let dir: string;

  const podman = (args: string[]) => podmanIn(dir, args);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cg-podman-'));
    preparePodmanHome(dir);
    registry = await startRegistry();
    seed = await seedRegistry(registry.url, join(dir, 'seed'));
    katello = await startFakeKatello({ users: { alice: { password: 'alice-pw', repositories: ['org/team/app'] } } });
    gateway = await startGateway({ backendUrl: registry.url, upstreamUrl: katello.url });
    await gateway.publish([{ name: 'library/alpine-ish' }, { name: 'org/team/app', authRequired: true }, { name: 'multi/arch', authRequired: true }]);
  });

  after(async () => {
    await gateway?.stop();
    await katello?.stop();
    await registry?.stop();
    if (dir !== undefined) {
      // vfs layers can be read-only; podman's own cleanup first, then the directory.
      await podman(['system', 'reset', '--force']).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const imageDigest = async (reference: string) => (await podman(['image', 'inspect', '--format', '{{.Digest}}', reference])).stdout.toString().trim();

  it('pulls a public image anonymously', async () => {
    await podman(['pull', '--tls-verify=false', `${gateway.host}/library/alpine-ish:1.0`]);
    assert.equal(await imageDigest(`${gateway.host}/library/alpine-ish:1.0`), seed.images.alpineIsh.manifest.digest);
  });

  it('refuses a private image without login', async () => {
    await assert.rejects(podman(['pull', '--tls-verify=false', `${gateway.host}/org/team/app:v1`]), /unauthorized|authentication required|denied/i);
  });

  it('logs in, pulls the private image, and is refused another user\'s', async () => {
    await assert.rejects(podman(['login', '--tls-verify=false', '-u', 'alice', '-p', 'wrong', gateway.host]), /invalid username\/password|unauthorized/i);
    await podman(['login', '--tls-verify=false', '-u', 'alice', '-p', 'alice-pw', gateway.host]);
    await podman(['pull', '--tls-verify=false', `${gateway.host}/org/team/app:v1`]);
    assert.equal(await imageDigest(`${gateway.host}/org/team/app:v1`), seed.images.app.manifest.digest);
    await assert.rejects(podman(['pull', '--tls-verify=false', `${gateway.host}/multi/arch:latest`]), /unknown|not found|NAME_UNKNOWN/i);
  });

  it('podman search lists what the logged-in user may see (falling back from /v1/search to _catalog)', async () => {
    const result = await podman(['search', '--tls-verify=false', '--format', '{{.Name}}', `${gateway.host}/`]);
    const names = result.stdout.toString().trim().split('\n').map((line) => line.replace(`${gateway.host}/`, ''));
    assert.deepEqual(names.sort(), ['library/alpine-ish', 'org/team/app']);
  });
});

describe('podman with the static provider: login, pull and push through the gateway', { skip: podmanAvailable ? false : 'podman is not installed (apt-get install -y podman)' }, () => {
  let registry: RunningRegistry;
  let gateway: RunningGateway;
  let dir: string;

  const podman = (args: string[]) => podmanIn(dir, args);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cg-podman-static-'));
    preparePodmanHome(dir);
    const bcrypt = (await import('bcryptjs')).default;
    writeFileSync(join(dir, 'users.htpasswd'), `alice:${bcrypt.hashSync('alice-pw', 5)}\n`);
    registry = await startRegistry();
    await seedRegistry(registry.url, join(dir, 'seed'));
    gateway = await startGateway({
      backendUrl: registry.url,
      env: {
        CG_IDENTITY_PROVIDERS: 'static',
        CG_IDENTITY_STATIC_HTPASSWD: join(dir, 'users.htpasswd'),
        CG_IDENTITY_STATIC_RULES: '[{subjects: [anonymous], repositories: ["library/**"], actions: [pull]}, {subjects: [alice], repositories: ["team/**"], actions: [pull, push]}]',
        CG_BACKEND_MODE: 'proxy',
      },
    });
  });

  after(async () => {
    await gateway?.stop();
    await registry?.stop();
    if (dir !== undefined) {
      await podman(['system', 'reset', '--force']).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('pulls what the anonymous rule allows, then alice logs in and pushes it under team/', async () => {
    const source = `${gateway.host}/library/alpine-ish:1.0`;
    await podman(['pull', '--tls-verify=false', source]);
    await assert.rejects(podman(['push', '--tls-verify=false', source, `docker://${gateway.host}/team/alpine:1.0`]), /unauthorized|authentication required|denied/i);
    await podman(['login', '--tls-verify=false', '-u', 'alice', '-p', 'alice-pw', gateway.host]);
    await podman(['push', '--tls-verify=false', source, `docker://${gateway.host}/team/alpine:1.0`]);
    // The registry itself has it now, under the name alice pushed.
    const tags = await fetch(`${registry.url}/v2/team/alpine/tags/list`).then((response) => response.json() as Promise<{ tags: string[] }>);
    assert.deepEqual(tags.tags, ['1.0']);
  });

  it('alice cannot push outside her rules: the repository is unknown to her', async () => {
    await assert.rejects(podman(['push', '--tls-verify=false', `${gateway.host}/library/alpine-ish:1.0`, `docker://${gateway.host}/other/alpine:1.0`]), /unknown|not found|denied/i);
  });
});
