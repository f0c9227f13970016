/**
 * Every parser a client reaches, fed arbitrary input (fast-check): registry paths, `scope`,
 * Authorization headers (Basic and Bearer) and client-certificate headers. As pure functions
 * they answer or throw a RegistryError (a 4xx), never anything else; through `app.inject()` no
 * input gets past the error handler or a 5xx, and every error is the OCI envelope. The backend
 * behind the app answers every request with an OCI 404, so a 5xx could only be the gateway's.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlockList } from 'node:net';
import { after, before, describe, it } from 'node:test';
import bcrypt from 'bcryptjs';
import fc from 'fast-check';
import type { FastifyInstance, FastifyRequest, InjectOptions } from 'fastify';
import { buildApp } from '../../src/app.js';
import { RegistryError } from '../../src/errors/registry-error.js';
import { certificateHeaderProblem, createCertificateReader, normalisePem } from '../../src/identity/client-certificate.js';
import { bearerTokenOf } from '../../src/identity/resolve-identity.js';
import { parseRegistryPath, splitUrl } from '../../src/registry/paths.js';
import { parseBasicAuthorization } from '../../src/token/basic-credentials.js';
import { parseScope, parseScopes } from '../../src/token/scope.js';
import { testConfig } from '../support/config.js';
import { startScriptedBackend, type ScriptedBackend } from '../support/scripted-backend.js';

/** Characters a client can put in a request target or a header value (printable ASCII and a few of the rest). */
const requestText = (maxLength: number) =>
  fc.string({ unit: fc.oneof(fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code)), fc.constantFrom('é', 'ß', '\t')), maxLength });
const pathSegment = fc.oneof(
  fc.constantFrom('..', '.', '', '%2F', '%2e', '%00', 'manifests', 'blobs', 'uploads', 'tags', 'list', 'referrers', '_catalog', 'v2', 'a', 'team', 'app', `sha256:${'a'.repeat(64)}`, 'latest'),
  requestText(12).map((text) => text.replace(/[?#]/g, '')),
);
const arbitraryPath = fc.array(pathSegment, { maxLength: 8 }).map((segments) => `/v2/${segments.join('/')}`);
const scopeText = fc.oneof(
  requestText(80),
  fc.tuple(fc.constantFrom('repository', 'registry', 'x', ''), fc.oneof(requestText(40), fc.constantFrom('team/app', 'catalog', 'a/../b')), fc.constantFrom('pull', 'push', 'pull,push', '*', '', 'PULL')).map((parts) => parts.join(':')),
);
const basicValue = fc.oneof(
  requestText(60).map((text) => `Basic ${text}`),
  fc.tuple(requestText(30), requestText(30)).map(([user, password]) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`),
  requestText(40).map((text) => `Basic ${Buffer.from(text).toString('base64')}`),
);
const bearerValue = fc.oneof(requestText(80).map((text) => `Bearer ${text}`), fc.constantFrom('Bearer', 'Bearer ', 'bearer anon.1.x', 'Bearer eyJ.eyJ.x', 'Bearer anon.99999999999.AAAA'));
const authorizationValue = fc.oneof(basicValue, bearerValue, requestText(60));
const pemish = fc.oneof(
  requestText(120),
  requestText(80).map((body) => `-----BEGIN CERTIFICATE-----${body}-----END CERTIFICATE-----`),
  requestText(80).map((body) => encodeURIComponent(`-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----`)),
  fc.constantFrom('(null)', '', '%', '%zz', '-----BEGIN CERTIFICATE----- AAAA -----END CERTIFICATE-----'),
);
const certificateHeaderName = fc.constantFrom('X-RHSM-SSL-Client-Cert', 'SSL_CLIENT_CERT', 'ssl-client-cert', 'X-Client-Cert', 'X_RHSM_SSL_CLIENT_CERT', 'Client-Cert', 'X-Forwarded-Client-Cert', 'X-Other');

/** A pure parser may answer, or refuse with a RegistryError of a 4xx status; nothing else. */
function answersOrRefuses(work: () => unknown): void {
  try {
    work();
  } catch (error) {
    assert.ok(error instanceof RegistryError, `threw ${String(error)}`);
    assert.ok(error.status >= 400 && error.status < 500, `status ${error.status}`);
  }
}

describe('client-reachable parsers, pure (property)', () => {
  it('parseRegistryPath and splitUrl: an answer or a 4xx RegistryError', () => {
    fc.assert(
      fc.property(fc.oneof(arbitraryPath, requestText(200)), (target) => {
        answersOrRefuses(() => parseRegistryPath(splitUrl(target).path));
      }),
      { numRuns: 3000 },
    );
  });

  it('parseScope and parseScopes never throw; what they accept formats back to a valid scope', () => {
    fc.assert(
      fc.property(fc.array(scopeText, { maxLength: 20 }), (values) => {
        const { scopes, invalid } = parseScopes(values);
        for (const scope of scopes) assert.ok(scope.type !== '' && scope.name !== '' && scope.actions.length > 0);
        for (const value of invalid) assert.equal(parseScope(value), undefined);
      }),
      { numRuns: 3000 },
    );
  });

  it('parseBasicAuthorization and bearerTokenOf never throw, and never yield an empty user or a token with spaces', () => {
    fc.assert(
      fc.property(authorizationValue, (value) => {
        const basic = parseBasicAuthorization(value);
        if (basic.kind === 'valid') assert.ok(basic.credentials.username !== '');
        const token = bearerTokenOf(value);
        if (token !== undefined) assert.ok(!/\s/.test(token) && token !== '');
      }),
      { numRuns: 3000 },
    );
  });

  it('bearerTokenOf finds the token RFC 6750 §2.1 (b64token, "Bearer" in any case) finds', () => {
    const rfc6750 = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;
    const spaced = fc.tuple(fc.constantFrom('Bearer', 'bearer', 'BEARER', 'BeArEr', 'Bearer2', 'Bear'), fc.constantFrom('', ' ', '  ', '\t'), requestText(40), fc.constantFrom('', '=', '==', ' ', '= ', ' x')).map((parts) => parts.join(''));
    fc.assert(
      fc.property(fc.oneof(authorizationValue, spaced), (value) => {
        assert.equal(bearerTokenOf(value), rfc6750.exec(value)?.[1], JSON.stringify(value));
      }),
      { numRuns: 5000 },
    );
  });

  it('certificate headers: normalisePem, certificateHeaderProblem and the reader never throw', () => {
    const trusted = new BlockList();
    trusted.addAddress('127.0.0.1');
    const read = createCertificateReader({ socketClientCa: undefined, headerClientCa: undefined, trustedProxies: trusted, hasTrustedProxies: true, headerName: 'X-RHSM-SSL-Client-Cert' });
    fc.assert(
      fc.property(fc.array(fc.tuple(certificateHeaderName, pemish), { maxLength: 4 }), (headers) => {
        const raw = headers.flat();
        certificateHeaderProblem(raw, 'X-RHSM-SSL-Client-Cert');
        for (const [, value] of headers) normalisePem(value);
        const request = { raw: { socket: { remoteAddress: '127.0.0.1' } }, headers: Object.fromEntries(headers.map(([name, value]) => [name.toLowerCase(), value])) } as unknown as FastifyRequest;
        const outcome = read(request, new Date());
        assert.ok(['none', 'host', 'ignored'].includes(outcome.kind));
      }),
      { numRuns: 3000 },
    );
  });
});

describe('client-reachable parsers, through the app (property)', () => {
  let dir: string;
  let backend: ScriptedBackend;
  let app: FastifyInstance;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cg-properties-'));
    writeFileSync(join(dir, 'users.htpasswd'), `alice:${bcrypt.hashSync('alice-pw', 4)}\n`);
    backend = await startScriptedBackend((_request, response) => {
      response.statusCode = 404;
      response.setHeader('content-type', 'application/json');
      response.end('{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}');
    });
    app = await buildApp(
      testConfig({
        CG_BACKEND_URL: backend.url,
        CG_BACKEND_MODE: 'proxy',
        CG_SERVER_TRUSTED_PROXIES: '127.0.0.1',
        CG_IDENTITY_PROVIDERS: 'static',
        CG_IDENTITY_STATIC_HTPASSWD: join(dir, 'users.htpasswd'),
        CG_IDENTITY_STATIC_RULES: '[{subjects: [anonymous], repositories: ["**"], actions: [pull]}, {subjects: [alice], repositories: ["**"], actions: [pull, push]}]',
        // Property runs are many logins from one address: the throttle is not what is tested here.
        CG_LIMITS_LOGINS_PER_ADDRESS: '1000000',
        CG_LIMITS_LOGINS_PER_ACCOUNT: '1000000',
        CG_LIMITS_LOGINS_SLOW_AFTER: '1000000',
      }),
    );
  });

  after(async () => {
    await app?.close();
    await backend?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function expectNo5xx(request: InjectOptions): Promise<void> {
    const response = await app.inject(request);
    assert.ok(response.statusCode < 500, `${response.statusCode} for ${JSON.stringify(request).slice(0, 300)}: ${response.body.slice(0, 300)}`);
    if (response.statusCode >= 400 && request.method !== 'HEAD') {
      const body = JSON.parse(response.body) as { errors?: Array<{ code?: unknown; message?: unknown }> };
      assert.ok(Array.isArray(body.errors) && typeof body.errors[0]?.code === 'string' && typeof body.errors[0]?.message === 'string', response.body.slice(0, 300));
    }
  }

  it('arbitrary registry paths and methods', async () => {
    await fc.assert(
      fc.asyncProperty(arbitraryPath, fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'), async (path, method) => {
        await expectNo5xx({ method: method as 'GET', url: path });
      }),
      { numRuns: 400 },
    );
  });

  it('arbitrary scopes at /v2/token, anonymous and in the OAuth2 form', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(scopeText, { maxLength: 20 }), async (scopes) => {
        const query = new URLSearchParams(scopes.map((scope): [string, string] => ['scope', scope])).toString();
        await expectNo5xx({ method: 'GET', url: `/v2/token?${query}` });
        await expectNo5xx({
          method: 'POST',
          url: '/v2/token',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          payload: new URLSearchParams([['grant_type', 'password'], ['username', 'nobody'], ['password', 'x'], ...scopes.map((scope) => ['scope', scope] as [string, string])]).toString(),
        });
      }),
      { numRuns: 60 },
    );
  });

  it('arbitrary Authorization headers on the token endpoint and the registry', async () => {
    await fc.assert(
      fc.asyncProperty(authorizationValue, fc.constantFrom('/v2/token', '/v2/', '/v2/team/app/tags/list', '/v2/_catalog'), async (authorization, url) => {
        await expectNo5xx({ method: 'GET', url, headers: { authorization } });
      }),
      { numRuns: 150 },
    );
  });

  it('arbitrary client-certificate headers from the trusted proxy', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(certificateHeaderName, pemish), { maxLength: 3 }), fc.constantFrom('/v2/', '/v2/team/app/manifests/latest', '/v2/_catalog', '/v2/token'), async (headers, url) => {
        const merged: Record<string, string> = {};
        for (const [name, value] of headers) merged[name] = value;
        await expectNo5xx({ method: 'GET', url, headers: merged });
      }),
      { numRuns: 300 },
    );
  });
});
