/**
 * Hosts by certificate, end to end: a generated PKI (test/support/pki.ts), the real registry
 * seeded with the fixture images, the fake Katello, and the gateway speaking HTTPS with
 * server.tls.clientCa. Real skopeo pulls with a containers certs.d layout (`--cert-dir` with
 * client.cert, client.key, ca.crt) and TLS verification ON.
 *
 * Covered: a host pulls its mapped private repository; an unknown host is looked up once at
 * upstream (`HostUUID`) and stored; foreign-CA, expired and missing certificates get public
 * repositories only; upstream down while an unknown host arrives; the certificate headers of a
 * TLS-terminating proxy, believed from trusted addresses only; the management API over mTLS.
 */
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { startFakeKatello, type FakeKatello } from '../fake-katello/fake-katello.js';
import { startRegistry, findFreePort, type RunningRegistry } from './harness/registry.js';
import { seedRegistry, type SeedData } from './harness/seed.js';
import { runSkopeo, verifyDirCopy } from './harness/skopeo.js';
import { MANAGEMENT_TOKEN, testConfig } from '../support/config.js';
import { generateTestPki, writeCertDir, type ClientCertificate, type KeyPair, type TestPki } from '../support/pki.js';

const PUBLIC = 'library/alpine-ish';
/** Private; mapped to the pki's host certificate through the management API. */
const MAPPED = 'org/team/app';
/** Private; the fake Katello's host catalog names it for the hosts the gateway has to look up. */
const LOOKED_UP = 'many/tags';
/** Private; nobody's. */
const NOBODYS = 'multi/arch';

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

interface Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** https only: the CA to verify the server with, and an optional client certificate. */
  ca?: string;
  client?: KeyPair;
}

/** One request, no keep-alive (a fresh TLS handshake each time), http: or https:. */
function request(url: string, options: RequestOptions = {}): Promise<Response> {
  const target = new URL(url);
  const headers = { ...(options.headers ?? {}), ...(options.body === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(options.body)) }) };
  const common = { hostname: target.hostname, port: target.port, path: `${target.pathname}${target.search}`, method: options.method ?? 'GET', headers, agent: false as const, timeout: 15_000 };
  return new Promise((resolve, reject) => {
    const onResponse = (res: http.IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    };
    const req =
      target.protocol === 'https:'
        ? https.request(
            {
              ...common,
              ...(options.ca === undefined ? {} : { ca: readFileSync(options.ca) }),
              ...(options.client === undefined ? {} : { cert: readFileSync(options.client.cert), key: readFileSync(options.client.key) }),
            },
            onResponse,
          )
        : http.request(common, onResponse);
    req.on('timeout', () => req.destroy(new Error(`${url} timed out`)));
    req.on('error', reject);
    req.end(options.body);
  });
}

function json<T>(response: Response): T {
  return JSON.parse(response.body.toString('utf8')) as T;
}

interface Gateway {
  readonly url: string;
  readonly host: string;
  readonly app: FastifyInstance;
  /** Every log line the gateway wrote, parsed. */
  readonly logs: Array<Record<string, unknown>>;
  stop(): Promise<void>;
}

/**
 * The real app on a free loopback port, like test/support/gateway.ts, but with its log captured
 * (to see what a refused certificate leaves behind) and an adjustable clock (to step past the
 * 30 s retry window of a failed host lookup without waiting for it).
 */
async function startLoggedGateway(env: Record<string, string>, clock?: () => number): Promise<Gateway> {
  const port = await findFreePort();
  const host = `127.0.0.1:${port}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'cg-hostcert-gw-'));
  const config = testConfig({
    CG_SERVER_LISTEN: host,
    CG_DATABASE_URL: `sqlite://${join(dataDir, 'gateway.db')}`,
    CG_LOG_LEVEL: 'info',
    CG_AUDIT_DESTINATION: 'stdout',
    ...env,
  });
  const logs: Array<Record<string, unknown>> = [];
  const logStream = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      for (const line of chunk.toString().split('\n')) {
        if (line.trim() === '') continue;
        try {
          logs.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          logs.push({ unparsable: line });
        }
      }
      done();
    },
  });
  // The audit log joins the request log, as both do on stdout by default.
  const app = await buildApp(config, { logStream, auditStream: logStream, ...(clock === undefined ? {} : { now: clock }) });
  await app.listen({ host: '127.0.0.1', port });
  return {
    url: `${config.server.tls === undefined ? 'http' : 'https'}://${host}`,
    host,
    app,
    logs,
    async stop() {
      await app.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------------

describe('hosts by certificate', () => {
  let workDir: string;
  let pki: TestPki;
  let registry: RunningRegistry;
  let seed: SeedData;
  let katello: FakeKatello;
  let clockOffset = 0;
  const clock = () => Date.now() + clockOffset;
  /** HTTPS, server.tls.clientCa = the pki CA, no trusted proxies, management also by client certificate. */
  let gateway: Gateway;

  /** Unknown to the gateway: looked up at the fake Katello, which maps them to LOOKED_UP. */
  let newHost: ClientCertificate;
  let downHost: ClientCertificate;
  let laterHost: ClientCertificate;

  const certDirs = new Map<string, string>();
  /** A certs.d directory: ca.crt (our CA) plus, unless `client` is undefined, client.cert/client.key. */
  const certDir = async (name: string, client?: KeyPair): Promise<string> => {
    const existing = certDirs.get(name);
    if (existing !== undefined) return existing;
    const dir = await writeCertDir(join(workDir, 'certs.d', name), pki.ca.cert, client);
    certDirs.set(name, dir);
    return dir;
  };

  const ref = (repository: string, tag: string) => `docker://${gateway.host}/${repository}:${tag}`;

  /** `skopeo inspect --raw` with TLS verification on; the manifest's sha256. */
  const inspect = async (dir: string, repository: string, tag: string): Promise<string> => {
    const result = await runSkopeo('inspect', ({ authfile }) => ['--raw', '--tls-verify=true', '--cert-dir', dir, '--retry-times', '0', '--authfile', authfile, ref(repository, tag)], {
      timeoutMs: 30_000,
    });
    return `sha256:${createHash('sha256').update(result.stdout).digest('hex')}`;
  };

  /** `skopeo copy` to a dir: with TLS verification on, then every blob verified. */
  const copy = async (dir: string, repository: string, tag: string, dest: string): Promise<string> => {
    await runSkopeo('copy', ({ authfile }) => ['--src-tls-verify=true', '--src-cert-dir', dir, '--retry-times', '0', '--authfile', authfile, ref(repository, tag), `dir:${dest}`], {
      timeoutMs: 30_000,
    });
    return (await verifyDirCopy(dest)).manifestDigest;
  };

  /** skopeo failed because the gateway refused (not because of TLS or a network problem). */
  const refused = (promise: Promise<unknown>) => assert.rejects(promise, /name unknown|requested access to the resource is denied|unauthorized/i);

  const catalogOf = async (url: string, options: RequestOptions = {}) => {
    const response = await request(`${url}/v2/_catalog`, options);
    assert.equal(response.status, 200, response.body.toString());
    return json<{ repositories: string[] }>(response).repositories;
  };

  /** Katello's sync-time pushes: the repository list and the host mapping. */
  const pushAccess = async (target: Gateway) => {
    const send = async (path: string, body: unknown) => {
      const response = await request(`${target.url}${path}`, { method: 'PUT', headers: { authorization: `Bearer ${MANAGEMENT_TOKEN}` }, body: JSON.stringify(body), ca: pki.ca.cert });
      assert.equal(response.status, 200, `${path}: ${response.body.toString()}`);
    };
    await send('/repository_list', {
      repositories: [
        { repository: PUBLIC, auth_required: 'false' },
        { repository: MAPPED, auth_required: 'true' },
        { repository: LOOKED_UP, auth_required: 'true' },
        { repository: NOBODYS, auth_required: 'true' },
      ],
    });
    await send('/update_hosts', { hosts: [{ uuid: pki.host.cn }] });
    await send('/host_repository_mapping', { hosts: [{ [pki.host.cn]: [{ repository: MAPPED, auth_required: 'true' }] }] });
  };

  before(async () => {
    workDir = mkdtempSync(join(tmpdir(), 'cg-hostcert-'));
    [pki, registry] = await Promise.all([generateTestPki(join(workDir, 'pki')), startRegistry()]);
    [seed, katello, newHost, downHost, laterHost] = await Promise.all([
      seedRegistry(registry.url, workDir),
      startFakeKatello(),
      pki.issueClient('new-host', randomUUID()),
      pki.issueClient('down-host', randomUUID()),
      pki.issueClient('later-host', randomUUID()),
    ]);
    for (const host of [newHost, downHost, laterHost]) katello.setHost(host.cn, [LOOKED_UP]);
    // The pushed host's record at Katello would say something else: the push must win, no lookup.
    katello.setHost(pki.host.cn, [NOBODYS]);
    gateway = await startLoggedGateway(
      {
        CG_BACKEND_URL: registry.url,
        CG_BACKEND_MODE: 'proxy',
        CG_UPSTREAM_URL: katello.url,
        CG_SERVER_TLS_CERT: pki.server.cert,
        CG_SERVER_TLS_KEY: pki.server.key,
        CG_SERVER_TLS_CLIENT_CA: pki.ca.cert,
        CG_MANAGEMENT_CLIENT_CERT_CNS: pki.katello.cn,
      },
      clock,
    );
    await pushAccess(gateway);
  });

  after(async () => {
    await gateway?.stop();
    await katello?.stop();
    await registry?.stop();
    if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
  });

  it('the gateway speaks HTTPS with the configured certificate (skopeo verifies it against ca.crt)', async () => {
    assert.ok(gateway.url.startsWith('https://'));
    const anonymous = await certDir('no-client-cert');
    assert.equal(await inspect(anonymous, PUBLIC, '1.0'), seed.images.alpineIsh.manifest.digest);
    // Without our CA the server certificate does not verify: TLS verification is really on.
    const wrongCa = await writeCertDir(join(workDir, 'certs.d', 'wrong-ca'), pki.foreignCa.cert);
    await assert.rejects(inspect(wrongCa, PUBLIC, '1.0'), /certificate|x509|unknown authority/i);
  });

  it('a host pulls its mapped private repository with its certificate, every blob verified', async () => {
    katello.resetCounts();
    const dir = await certDir('host', pki.host);
    assert.equal(await copy(dir, MAPPED, 'v1', join(workDir, 'host-copy')), seed.images.app.manifest.digest);
    assert.equal(await inspect(dir, PUBLIC, 'latest'), seed.images.alpineIsh.manifest.digest);
    // Mapped to the host by the push; what Katello's host catalog says is not consulted.
    await refused(inspect(dir, NOBODYS, 'latest'));
    assert.equal(katello.calls.hostCatalog, 0, 'a host Katello pushed is never looked up');
  });

  it('host identity holds on /v2/, manifests, blobs, tags, _catalog and search', async () => {
    const as = { ca: pki.ca.cert, client: pki.host };
    const manifest = seed.images.app.manifest;
    const layer = seed.images.app.layers[0];
    assert.ok(layer !== undefined);
    const checks: Array<[string, string, number]> = [
      ['GET', '/v2/', 200],
      ['GET', `/v2/${MAPPED}/manifests/v1`, 200],
      ['HEAD', `/v2/${MAPPED}/manifests/${manifest.digest}`, 200],
      ['GET', `/v2/${MAPPED}/blobs/${layer.digest}`, 200],
      ['GET', `/v2/${MAPPED}/tags/list`, 200],
      ['GET', `/v2/${NOBODYS}/tags/list`, 404],
    ];
    for (const [method, path, status] of checks) {
      const response = await request(`${gateway.url}${path}`, { ...as, method, headers: { accept: manifest.mediaType } });
      assert.equal(response.status, status, `${method} ${path}: ${response.body.toString().slice(0, 200)}`);
    }
    assert.deepEqual(await catalogOf(gateway.url, as), [PUBLIC, MAPPED]);
    const search = json<{ results: Array<{ name: string }> }>(await request(`${gateway.url}/v1/search?q=app`, as));
    assert.deepEqual(search.results.map((r) => r.name), [MAPPED]);
    // The same requests without the certificate: the anonymous view.
    assert.equal((await request(`${gateway.url}/v2/`, { ca: pki.ca.cert })).status, 401);
    assert.deepEqual(await catalogOf(gateway.url, { ca: pki.ca.cert }), [PUBLIC]);
  });

  it('an unknown host is looked up once at upstream with HostUUID, stored, and pulls its repositories', async () => {
    katello.resetCounts();
    const dir = await certDir('new-host', newHost);
    assert.equal(await copy(dir, LOOKED_UP, 't1', join(workDir, 'new-host-copy')), seed.images.manyTags.manifest.digest);
    assert.equal(await inspect(dir, LOOKED_UP, 't3'), seed.images.manyTags.manifest.digest);
    assert.equal(await inspect(dir, PUBLIC, '1.0'), seed.images.alpineIsh.manifest.digest);
    await refused(inspect(dir, MAPPED, 'v1'));
    assert.deepEqual(await catalogOf(gateway.url, { ca: pki.ca.cert, client: newHost }), [PUBLIC, LOOKED_UP]);
    assert.equal(katello.calls.hostCatalog, 1, 'one lookup, however many requests');
    const lookups = katello.requests.filter((r) => r.kind === 'hostCatalog');
    assert.deepEqual(
      lookups.map((r) => [r.path, r.hostUuid]),
      [['/v2/_catalog', newHost.cn]],
    );
    assert.equal(katello.calls.token + katello.calls.catalog, 0, 'no user login happened on the way');
  });

  it('concurrent first requests of an unknown host share one lookup', async () => {
    const busyHost = await pki.issueClient('busy-host', randomUUID());
    katello.setHost(busyHost.cn, [LOOKED_UP]);
    katello.resetCounts();
    katello.setOptions({ latencyMs: 150 });
    try {
      const catalogs = await Promise.all(Array.from({ length: 8 }, () => catalogOf(gateway.url, { ca: pki.ca.cert, client: busyHost })));
      for (const repositories of catalogs) assert.deepEqual(repositories, [PUBLIC, LOOKED_UP]);
    } finally {
      katello.setOptions({ latencyMs: 0 });
    }
    assert.equal(katello.calls.hostCatalog, 1);
  });

  it('a certificate from a foreign CA identifies nobody: public only, the refusal logged, nothing breaks', async () => {
    const dir = await certDir('foreign', pki.foreign);
    // Go's TLS stack (skopeo) only offers a client certificate the server's CA list accepts, so it
    // pulls as if it had none; node's TLS sends the foreign certificate anyway (below).
    assert.equal(await inspect(dir, PUBLIC, '1.0'), seed.images.alpineIsh.manifest.digest);
    await refused(inspect(dir, MAPPED, 'v1'));

    const logged = gateway.logs.length;
    const as = { ca: pki.ca.cert, client: pki.foreign };
    assert.deepEqual(await catalogOf(gateway.url, as), [PUBLIC]);
    assert.equal((await request(`${gateway.url}/v2/`, as)).status, 401);
    const manifest = await request(`${gateway.url}/v2/${MAPPED}/manifests/v1`, as);
    assert.equal(manifest.status, 401, 'anonymous: the login challenge, never the content');
    const ignored = gateway.logs.slice(logged).filter((line) => typeof line.certificateIgnored === 'string');
    assert.ok(ignored.length >= 1, 'the ignored certificate is logged');
    assert.ok(ignored.every((line) => line.identity === 'anonymous'));
    assert.match(String(ignored[0]?.certificateIgnored), /UNABLE_TO_VERIFY|unable to (get|verify)|issuer/i);
    assert.equal(katello.requests.some((r) => r.hostUuid === pki.foreign.cn), false, 'an unverified CN is never looked up');
  });

  it('an expired certificate from the right CA identifies nobody: public only', async () => {
    const logged = gateway.logs.length;
    const dir = await certDir('expired', pki.expired);
    assert.equal(await inspect(dir, PUBLIC, '1.0'), seed.images.alpineIsh.manifest.digest);
    await refused(inspect(dir, MAPPED, 'v1'));
    assert.deepEqual(await catalogOf(gateway.url, { ca: pki.ca.cert, client: pki.expired }), [PUBLIC]);
    const reasons = gateway.logs.slice(logged).map((line) => line.certificateIgnored).filter((reason) => reason !== undefined);
    assert.ok(reasons.length >= 1);
    assert.ok(reasons.every((reason) => /EXPIRED/i.test(String(reason))), JSON.stringify(reasons));
    assert.equal(katello.requests.some((r) => r.hostUuid === pki.expired.cn), false);
    // The gateway is unharmed: the real host still pulls.
    assert.equal(await inspect(await certDir('host', pki.host), MAPPED, 'v1'), seed.images.app.manifest.digest);
  });

  it('without a client certificate: public only, and nothing to log about a certificate', async () => {
    const logged = gateway.logs.length;
    const dir = await certDir('no-client-cert');
    assert.equal(await inspect(dir, PUBLIC, 'latest'), seed.images.alpineIsh.manifest.digest);
    await refused(inspect(dir, MAPPED, 'v1'));
    await refused(inspect(dir, LOOKED_UP, 't1'));
    const requests = gateway.logs.slice(logged).filter((line) => line.msg === 'request');
    assert.ok(requests.length >= 4);
    assert.ok(requests.every((line) => line.certificateIgnored === undefined && line.identity !== 'host'));
  });

  it('upstream down while an unknown host arrives: public only, and no failure is remembered for long', async () => {
    // This test relies on no management push in between: a push clears remembered failures too.
    katello.resetCounts();
    await katello.setMode('down-refuse');
    try {
      const dir = await certDir('down-host', downHost);
      assert.equal(await inspect(dir, PUBLIC, '1.0'), seed.images.alpineIsh.manifest.digest);
      await refused(inspect(dir, LOOKED_UP, 't1'));
      assert.deepEqual(await catalogOf(gateway.url, { ca: pki.ca.cert, client: downHost }), [PUBLIC]);
      assert.ok(gateway.logs.some((line) => line.host === downHost.cn && /lookup at upstream failed/.test(String(line.msg))));
    } finally {
      await katello.setMode('up');
    }
    // Upstream is back: a different unknown host is looked up at once and pulls its repository.
    const laterDir = await certDir('later-host', laterHost);
    assert.equal(await inspect(laterDir, LOOKED_UP, 't2'), seed.images.manyTags.manifest.digest);
    assert.equal(katello.calls.hostCatalog, 1);

    // The host whose lookup failed is retried after RETRY_AFTER_FAILURE_MS (30 s in known-hosts.ts),
    // not before (so a dead upstream is not hammered) and not never. The gateway's clock is moved
    // instead of waiting: inside the window it is still public only, past it the lookup happens.
    const downDir = await certDir('down-host', downHost);
    assert.deepEqual(await catalogOf(gateway.url, { ca: pki.ca.cert, client: downHost }), [PUBLIC]);
    assert.equal(katello.calls.hostCatalog, 1, 'inside the retry window no new lookup');
    clockOffset += 31_000;
    assert.equal(await inspect(downDir, LOOKED_UP, 't1'), seed.images.manyTags.manifest.digest);
    assert.deepEqual(
      katello.requests.filter((r) => r.kind === 'hostCatalog').map((r) => r.hostUuid),
      [laterHost.cn, downHost.cn],
    );
  });

  describe('management API over mTLS (management.clientCertCNs)', () => {
    const body = JSON.stringify({
      repositories: [
        { repository: PUBLIC, auth_required: 'false' },
        { repository: MAPPED, auth_required: 'true' },
        { repository: LOOKED_UP, auth_required: 'true' },
        { repository: NOBODYS, auth_required: 'true' },
      ],
    });
    const put = (client?: KeyPair, headers: Record<string, string> = {}) =>
      request(`${gateway.url}/repository_list`, { method: 'PUT', body, headers, ca: pki.ca.cert, ...(client === undefined ? {} : { client }) });

    it('the Katello certificate (CN in clientCertCNs) is accepted without a bearer token', async () => {
      const response = await put(pki.katello);
      assert.equal(response.status, 200, response.body.toString());
      assert.ok(gateway.logs.some((line) => line.event === 'management update' && line.endpoint === 'repository_list' && line.by === pki.katello.cn));
    });

    it('a host certificate, a foreign or expired one, or none at all is refused (401)', async () => {
      for (const client of [pki.host, pki.foreign, pki.expired, undefined]) {
        const response = await put(client);
        assert.equal(response.status, 401, `${client?.cn ?? 'no certificate'}: ${response.body.toString()}`);
        assert.equal(json<{ errors: Array<{ code: string }> }>(response).errors[0]?.code, 'UNAUTHORIZED');
      }
      // The bearer secret still works beside the certificates.
      assert.equal((await put(undefined, { authorization: `Bearer ${MANAGEMENT_TOKEN}` })).status, 200);
      // Mappings survive the list push: the host still sees its repository.
      assert.deepEqual(await catalogOf(gateway.url, { ca: pki.ca.cert, client: pki.host }), [PUBLIC, MAPPED]);
    });
  });

  describe('behind a TLS-terminating proxy: the certificate headers', () => {
    /** Plain HTTP, trusts 127.0.0.1 (where the "proxy" — this test — connects from). */
    let trusting: Gateway;
    /** Plain HTTP, trusts only 10.9.9.9. */
    let distrusting: Gateway;
    /** HTTPS with clientCa, trusts 127.0.0.1: header certificates are verified against the CA. */
    let verifying: Gateway;
    /** Plain HTTP behind a TLS-terminating proxy, trusts 127.0.0.1, with server.proxyClientCa. */
    let plainVerifying: Gateway;

    let hostPem: string;
    /** What Apache sends: `RequestHeader set X-RHSM-SSL-Client-Cert "%{SSL_CLIENT_CERT}s"` folds newlines into spaces. */
    const spaceFolded = (pem: string) => pem.trim().replaceAll('\n', ' ');
    /** What nginx sends with $ssl_client_escaped_cert: URL-escaped. */
    const urlEscaped = (pem: string) => encodeURIComponent(pem);

    before(async () => {
      hostPem = await pki.pem(pki.host.cert);
      const common = { CG_BACKEND_URL: registry.url, CG_BACKEND_MODE: 'proxy', CG_UPSTREAM_URL: katello.url };
      [trusting, distrusting, verifying, plainVerifying] = await Promise.all([
        startLoggedGateway({ ...common, CG_SERVER_TRUSTED_PROXIES: '127.0.0.1' }),
        startLoggedGateway({ ...common, CG_SERVER_TRUSTED_PROXIES: '10.9.9.9' }),
        startLoggedGateway({
          ...common,
          CG_SERVER_TRUSTED_PROXIES: '127.0.0.1',
          CG_SERVER_TLS_CERT: pki.server.cert,
          CG_SERVER_TLS_KEY: pki.server.key,
          CG_SERVER_TLS_CLIENT_CA: pki.ca.cert,
        }),
        startLoggedGateway({ ...common, CG_SERVER_TRUSTED_PROXIES: '127.0.0.1', CG_SERVER_PROXY_CLIENT_CA: pki.ca.cert }),
      ]);
      await Promise.all([pushAccess(trusting), pushAccess(distrusting), pushAccess(verifying), pushAccess(plainVerifying)]);
    });

    after(async () => {
      await Promise.all([trusting?.stop(), distrusting?.stop(), verifying?.stop(), plainVerifying?.stop()]);
    });

    it('from a trusted proxy address: the configured header (URL-escaped or space-folded) identifies the host; another certificate header is refused', async () => {
      for (const [name, value] of [
        ['X-RHSM-SSL-Client-Cert', urlEscaped(hostPem)],
        ['X-RHSM-SSL-Client-Cert', spaceFolded(hostPem)],
      ] as const) {
        assert.deepEqual(await catalogOf(trusting.url, { headers: { [name]: value } }), [PUBLIC, MAPPED], `${name}: ${value.slice(0, 40)}`);
      }
      // server.clientCertificateHeader is X-RHSM-SSL-Client-Cert here: SSL_CLIENT_CERT is someone else's header.
      const refused = await request(`${trusting.url}/v2/_catalog`, { headers: { SSL_CLIENT_CERT: spaceFolded(hostPem) } });
      assert.equal(refused.status, 400);
      const manifest = await request(`${trusting.url}/v2/${MAPPED}/manifests/v1`, {
        headers: { 'x-rhsm-ssl-client-cert': urlEscaped(hostPem), accept: seed.images.app.manifest.mediaType },
      });
      assert.equal(manifest.status, 200);
      assert.equal(manifest.headers['docker-content-digest'], seed.images.app.manifest.digest);
    });

    it('the header certificate is never logged', async () => {
      const text = JSON.stringify(trusting.logs);
      const body = hostPem.split('\n')[1] ?? 'unreachable';
      assert.equal(text.includes(body.slice(0, 40)), false);
    });

    it('the same header from an address that is not a trusted proxy is ignored: public only', async () => {
      for (const [name, value] of [
        ['X-RHSM-SSL-Client-Cert', urlEscaped(hostPem)],
        ['SSL_CLIENT_CERT', spaceFolded(hostPem)],
      ] as const) {
        assert.deepEqual(await catalogOf(distrusting.url, { headers: { [name]: value } }), [PUBLIC]);
        const manifest = await request(`${distrusting.url}/v2/${MAPPED}/manifests/v1`, { headers: { [name]: value } });
        assert.equal(manifest.status, 401);
      }
      assert.ok(distrusting.logs.some((line) => line.certificateIgnored === 'certificate header from an untrusted address'));
      // A gateway with no trusted proxies at all (the TLS one above) ignores the header too.
      assert.deepEqual(await catalogOf(gateway.url, { ca: pki.ca.cert, headers: { 'x-rhsm-ssl-client-cert': urlEscaped(hostPem) } }), [PUBLIC]);
    });

    it('an expired or unparsable header certificate identifies nobody, and the gateway keeps serving', async () => {
      const expiredPem = await pki.pem(pki.expired.cert);
      for (const value of [urlEscaped(expiredPem), spaceFolded(expiredPem), '(null)', 'garbage', '-----BEGIN CERTIFICATE----- AAAA -----END CERTIFICATE-----']) {
        assert.deepEqual(await catalogOf(trusting.url, { headers: { 'x-rhsm-ssl-client-cert': value } }), [PUBLIC], value.slice(0, 40));
      }
      assert.ok(trusting.logs.some((line) => line.certificateIgnored === 'certificate outside its validity period'));
      assert.deepEqual(await catalogOf(trusting.url, { headers: { 'x-rhsm-ssl-client-cert': urlEscaped(hostPem) } }), [PUBLIC, MAPPED]);
    });

    it('with server.tls.clientCa configured, a header certificate must chain to it', async () => {
      const foreignPem = await pki.pem(pki.foreign.cert);
      const expiredPem = await pki.pem(pki.expired.cert);
      const via = (pem: string) => ({ ca: pki.ca.cert, headers: { 'x-rhsm-ssl-client-cert': urlEscaped(pem) } });
      assert.deepEqual(await catalogOf(verifying.url, via(hostPem)), [PUBLIC, MAPPED]);
      assert.deepEqual(await catalogOf(verifying.url, via(foreignPem)), [PUBLIC]);
      assert.deepEqual(await catalogOf(verifying.url, via(expiredPem)), [PUBLIC]);
      assert.ok(verifying.logs.some((line) => line.certificateIgnored === 'certificate not issued by the configured client CA'));
      // Plain HTTP behind the proxy: server.proxyClientCa does the same check.
      const viaPlain = (pem: string) => ({ headers: { 'x-rhsm-ssl-client-cert': urlEscaped(pem) } });
      assert.deepEqual(await catalogOf(plainVerifying.url, viaPlain(hostPem)), [PUBLIC, MAPPED]);
      assert.deepEqual(await catalogOf(plainVerifying.url, viaPlain(foreignPem)), [PUBLIC]);
      // A verified TLS client certificate takes precedence over any header.
      assert.deepEqual(await catalogOf(verifying.url, { ...via(hostPem), client: newHost }), [PUBLIC, LOOKED_UP]);
    });
  });
});
