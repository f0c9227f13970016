/**
 * Behind a TLS-terminating nginx (Debian's nginx-light, started here on loopback) the client
 * certificate reaches the gateway in the one header the configuration names
 * (server.clientCertificateHeader); nginx sets only that one. Certificates are public, so a
 * client without one that sends another host's certificate in any other certificate header, or
 * a second copy of the configured one, must not become that host: such requests are refused.
 */
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MANAGEMENT_TOKEN, startGateway, type RunningGateway } from '../support/gateway.js';
import { startNginx, type RunningNginx } from '../support/nginx.js';
import { generateTestPki, type ClientCertificate, type TestPki } from '../support/pki.js';
import type { BuiltImage } from './harness/oci-layout.js';
import { startRegistry, type RunningRegistry } from './harness/registry.js';
import { pushImage } from './harness/seed.js';

const PRIVATE = 'org/private';

interface Answer {
  readonly status: number;
  readonly body: string;
}

/** HTTPS through nginx, with or without a client certificate, with any extra headers. */
function viaNginx(nginx: RunningNginx, pki: TestPki, path: string, options: { client?: ClientCertificate; headers?: Record<string, string>; accept?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = httpsRequest(
      {
        host: '127.0.0.1',
        port: nginx.port,
        path,
        method: 'GET',
        ca: readFileSync(pki.ca.cert),
        ...(options.client === undefined ? {} : { cert: readFileSync(options.client.cert), key: readFileSync(options.client.key) }),
        headers: { ...(options.accept === undefined ? {} : { accept: options.accept }), ...options.headers },
        agent: false,
      },
      (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      },
    );
    request.on('error', reject);
    request.end();
  });
}

/** A raw request straight to the gateway (the test's own address is the trusted proxy), header lines as given. */
function rawToGateway(gateway: RunningGateway, lines: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const [host, port] = gateway.host.split(':');
    const socket = connect(Number(port), host ?? '127.0.0.1', () => socket.write([`GET /v2/${PRIVATE}/tags/list HTTP/1.1`, `Host: ${gateway.host}`, 'Connection: close', ...lines, '', ''].join('\r\n')));
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
}

const codeOf = (answer: Answer) => (JSON.parse(answer.body) as { errors?: Array<{ code: string }> }).errors?.[0]?.code;

describe('client certificates behind nginx: exactly one configured header', () => {
  let dir: string;
  let pki: TestPki;
  let other: ClientCertificate;
  let registry: RunningRegistry;
  let image: BuiltImage;
  let gateway: RunningGateway;
  let nginx: RunningNginx;
  let hostPem: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cg-cert-header-'));
    pki = await generateTestPki(join(dir, 'pki'));
    other = await pki.issueClient('other-host', '5b7f3c1e-8a2d-4c6e-9f10-2a3b4c5d6e7f');
    hostPem = await pki.pem(pki.host.cert);
    registry = await startRegistry();
    image = await pushImage(join(dir, 'layout'), { tag: 'v1', seed: 'certificate-header' }, registry.url, PRIVATE);
    gateway = await startGateway({
      backendUrl: registry.url,
      env: {
        CG_BACKEND_MODE: 'proxy',
        CG_SERVER_TRUSTED_PROXIES: '127.0.0.1',
        CG_SERVER_PROXY_CLIENT_CA: pki.ca.cert,
        CG_SERVER_CLIENT_CERTIFICATE_HEADER: 'SSL_CLIENT_CERT',
      },
    });
    await gateway.publish([{ name: PRIVATE, authRequired: true }]);
    for (const [path, body] of [
      ['/update_hosts', { hosts: [{ uuid: pki.host.cn }, { uuid: other.cn }] }],
      ['/host_repository_mapping', { hosts: [{ [pki.host.cn]: [{ repository: PRIVATE, auth_required: 'true' }] }] }],
    ] as const) {
      const response = await gateway.management('PUT', path, body);
      assert.equal(response.status, 200, response.body.toString());
    }
    nginx = await startNginx({
      upstream: gateway.url,
      serverCert: pki.server.cert,
      serverKey: pki.server.key,
      clientCa: pki.ca.cert,
      // nginx's own form: URL-escaped, set (and so replaced) under the configured name only.
      locationDirectives: ['proxy_set_header SSL_CLIENT_CERT $ssl_client_escaped_cert;'],
    });
  });

  after(async () => {
    await nginx?.stop();
    await gateway?.stop();
    await registry?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  const manifest = (options: Parameters<typeof viaNginx>[3]) => viaNginx(nginx, pki, `/v2/${PRIVATE}/manifests/v1`, { accept: image.manifest.mediaType, ...options });

  it('the host presenting its certificate to nginx is identified by the header nginx sets', async () => {
    const answer = await manifest({ client: pki.host });
    assert.equal(answer.status, 200, answer.body);
    // Another host, with its own certificate, is a logged-in caller that may not see it.
    assert.equal((await manifest({ client: other })).status, 404);
    // No certificate, no header: anonymous.
    assert.equal((await manifest({})).status, 401);
  });

  it("a client without a certificate sending another host's certificate in another certificate header is refused", async () => {
    for (const name of ['X-RHSM-SSL-Client-Cert', 'SSL-Client-Cert', 'X-SSL-Client-Cert', 'X-Client-Cert']) {
      for (const value of [encodeURIComponent(hostPem), hostPem.trim().replaceAll('\n', ' ')]) {
        const answer = await manifest({ headers: { [name]: value } });
        assert.equal(answer.status, 400, `${name}: ${answer.body}`);
        assert.equal(codeOf(answer), 'BAD_REQUEST');
      }
    }
  });

  it("a host with its own certificate adding another host's in another header is refused, not promoted", async () => {
    const answer = await manifest({ client: other, headers: { 'X-RHSM-SSL-Client-Cert': encodeURIComponent(hostPem) } });
    assert.equal(answer.status, 400, answer.body);
  });

  it('two copies of the configured header, or a spelling with hyphens for underscores, are refused', async () => {
    const escaped = encodeURIComponent(hostPem);
    const twice = await rawToGateway(gateway, [`SSL_CLIENT_CERT: ${escaped}`, `SSL_CLIENT_CERT: ${escaped}`]);
    assert.match(twice, /^HTTP\/1\.1 400 /);
    assert.match(twice, /"code":"BAD_REQUEST"/);
    const respelled = await rawToGateway(gateway, [`SSL_CLIENT_CERT: ${escaped}`, `Ssl-Client-Cert: ${escaped}`]);
    assert.match(respelled, /^HTTP\/1\.1 400 /);
    // The configured header alone, once, from the trusted proxy: the host.
    assert.match(await rawToGateway(gateway, [`SSL_CLIENT_CERT: ${escaped}`]), /^HTTP\/1\.1 200 /);
  });

  it('the management token still works through nginx and nothing else changed for anonymous pulls', async () => {
    const users = await viaNginx(nginx, pki, '/users', { headers: { authorization: `Bearer ${MANAGEMENT_TOKEN}` } });
    assert.equal(users.status, 200, users.body);
  });
});
