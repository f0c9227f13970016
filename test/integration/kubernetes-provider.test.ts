/**
 * The `kubernetes` identity provider end to end, over real HTTP: the gateway on a SQLite file,
 * the fake Kubernetes API server (TokenReview, SubjectAccessReview) and a scripted backend.
 * A cluster token logs in; each repository is authorized by a SubjectAccessReview on
 * `imagestreams/layers` in the repository's namespace; denial looks like absence; answers are
 * cached for cacheSeconds; a dead API server is a 503, never a grant.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { startFakeKubernetes, type FakeKubernetes, type FakeKubernetesOptions, type FakeKubernetesRule, type SubjectAccessReviewSeen } from '../fake-kubernetes/fake-kubernetes.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { startScriptedBackend, type ScriptedBackend } from '../support/scripted-backend.js';
import { httpRequest, type HttpResponse } from './harness/http-client.js';
import { findFreePort } from './harness/registry.js';

const SA_TOKEN = 'gateway-sa-token-0123456789';
const ALICE_TOKEN = 'alice-cluster-token';
const BOB_TOKEN = 'bob-cluster-token';
const CAROL_TOKEN = 'carol-cluster-token';
const MANIFEST = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: {}, layers: [] });

const RULES: readonly FakeKubernetesRule[] = [
  { user: 'alice', namespace: 'ci', verbs: ['get'], apiGroups: ['image.openshift.io'], resources: ['imagestreams/layers'] },
  { group: 'release-team', namespace: 'release', verbs: ['get', 'update'], apiGroups: ['image.openshift.io'], resources: ['imagestreams/layers'] },
];

interface TokenBody {
  token: string;
  access_token: string;
  expires_in: number;
  issued_at: string;
}

interface ErrorBody {
  errors: Array<{ code: string; message: string; detail?: unknown }>;
}

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

function json<T>(response: HttpResponse): T {
  return JSON.parse(response.body.toString('utf8')) as T;
}

function decodePart(part: string | undefined): Record<string, unknown> {
  return JSON.parse(Buffer.from(part ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
}

function decodeJwt(token: string): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const [header, payload] = token.split('.');
  return { header: decodePart(header), payload: decodePart(payload) };
}

function errorCode(response: HttpResponse): string | undefined {
  return json<ErrorBody>(response).errors[0]?.code;
}

/** A backend that has every repository but `ci/missing`. */
async function startBackend(): Promise<ScriptedBackend> {
  return startScriptedBackend((request, response) => {
    const path = new URL(request.url ?? '/', 'http://backend.invalid').pathname;
    if (path.startsWith('/v2/ci/missing/')) {
      response.writeHead(404, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ errors: [{ code: 'NAME_UNKNOWN', message: 'repository name not known to registry' }] }));
      return;
    }
    const tags = /^\/v2\/(.+)\/tags\/list$/.exec(path);
    if (tags !== null) {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ name: tags[1], tags: ['v2', 'latest'] }));
      return;
    }
    if (/\/manifests\//.test(path)) {
      response.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'content-length': Buffer.byteLength(MANIFEST) });
      response.end(MANIFEST);
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end('{}');
  });
}

async function startKubernetesGateway(backend: ScriptedBackend, apiServer: string, tokenFile: string, extra: Record<string, string> = {}): Promise<RunningGateway> {
  return startGateway({
    backendUrl: backend.url,
    env: {
      CG_IDENTITY_PROVIDERS: 'kubernetes',
      CG_IDENTITY_KUBERNETES_API_SERVER: apiServer,
      CG_IDENTITY_KUBERNETES_TOKEN_FILE: tokenFile,
      CG_IDENTITY_KUBERNETES_TIMEOUT_MS: '2000',
      CG_BACKEND_MODE: 'proxy',
      ...extra,
    },
  });
}

function client(gateway: RunningGateway) {
  const login = (password: string, scope: string | undefined = 'repository:ci/app:pull', user = 'anyuser') =>
    httpRequest(`${gateway.url}/v2/token?service=${encodeURIComponent(gateway.host)}${scope === undefined ? '' : `&scope=${encodeURIComponent(scope)}`}`, {
      headers: { authorization: basic(user, password) },
    });
  const tokenFor = async (password: string, scope?: string) => {
    const response = await login(password, scope);
    assert.equal(response.status, 200, response.body.toString());
    return json<TokenBody>(response).token;
  };
  const request = (method: string, path: string, token?: string) => httpRequest(`${gateway.url}${path}`, { method, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
  const get = (path: string, token?: string) => request('GET', path, token);
  return { login, tokenFor, get, request };
}

/** A fake API server, a backend and a gateway using the kubernetes provider, torn down together. */
interface Scene {
  readonly fake: FakeKubernetes;
  readonly backend: ScriptedBackend;
  readonly gateway: RunningGateway;
  readonly api: ReturnType<typeof client>;
  stop(): Promise<void>;
}

async function startScene(kubernetes: Omit<FakeKubernetesOptions, 'serviceAccountToken'>, gatewayEnv: Record<string, string> = {}): Promise<Scene> {
  const workDir = mkdtempSync(join(tmpdir(), 'cg-kube-'));
  const tokenFile = join(workDir, 'token');
  writeFileSync(tokenFile, `${SA_TOKEN}\n`);
  const fake = await startFakeKubernetes({ serviceAccountToken: SA_TOKEN, ...kubernetes });
  const backend = await startBackend();
  const gateway = await startKubernetesGateway(backend, fake.url, tokenFile, gatewayEnv);
  return {
    fake,
    backend,
    gateway,
    api: client(gateway),
    async stop() {
      await gateway.stop();
      await fake.stop();
      await backend.close();
      rmSync(workDir, { recursive: true, force: true });
    },
  };
}

const sarsFor = (fake: FakeKubernetes, namespace: string, name: string): SubjectAccessReviewSeen[] =>
  fake.subjectAccessReviews.filter((review) => review.spec.resourceAttributes?.namespace === namespace && review.spec.resourceAttributes.name === name);

describe('kubernetes provider: API server up (default cacheSeconds 30)', () => {
  let scene: Scene;
  let fake: FakeKubernetes;
  let backend: ScriptedBackend;
  let gateway: RunningGateway;
  let api: ReturnType<typeof client>;
  let aliceToken: string;

  before(async () => {
    scene = await startScene({
      users: {
        [ALICE_TOKEN]: { username: 'alice', uid: 'uid-1', groups: ['developers', 'system:authenticated'] },
        [BOB_TOKEN]: { username: 'bob', groups: ['system:authenticated'] },
        [CAROL_TOKEN]: { username: 'carol', groups: ['release-team', 'system:authenticated'] },
      },
      rules: RULES,
    });
    ({ fake, backend, gateway, api } = scene);
  });
  after(() => scene?.stop());

  it('a cluster token logs in: a signed ES256 JWT for the TokenReview user, granting the scope the SAR allows', async () => {
    fake.resetCounts();
    const before = Math.floor(Date.now() / 1000);
    const response = await api.login(ALICE_TOKEN);
    assert.equal(response.status, 200, response.body.toString());
    const body = json<TokenBody>(response);
    assert.equal(body.access_token, body.token);
    assert.equal(body.expires_in, 300);
    aliceToken = body.token;

    const { header, payload } = decodeJwt(aliceToken);
    assert.equal(header.alg, 'ES256');
    assert.equal(typeof header.kid, 'string');
    assert.ok((header.kid as string).length > 0);
    assert.equal(payload.sub, 'alice');
    assert.deepEqual(payload.access, [{ type: 'repository', name: 'ci/app', actions: ['pull'] }]);
    assert.equal(payload.iss, gateway.url);
    assert.equal(payload.aud, gateway.host);
    assert.equal(typeof payload.iat, 'number');
    const iat = payload.iat as number;
    assert.ok(iat >= before - 1 && iat <= Math.floor(Date.now() / 1000) + 1, `iat ${iat} is not now`);
    assert.equal(payload.nbf, iat);
    assert.equal(payload.exp, iat + 300);
    assert.match(String(payload.jti), /^[0-9a-f-]{36}$/);
    assert.equal(Date.parse(body.issued_at), iat * 1000);

    // What the API server was asked: the password as the token, then the repository's SAR.
    assert.equal(fake.calls.unauthorized, 0);
    assert.deepEqual(fake.tokenReviews.map((review) => review.spec), [{ token: ALICE_TOKEN }]);
    assert.equal(fake.subjectAccessReviews.length, 1);
    const sar = fake.subjectAccessReviews[0]?.spec;
    assert.equal(sar?.user, 'alice');
    assert.deepEqual(sar?.groups, ['developers', 'system:authenticated']);
    assert.deepEqual(sar?.resourceAttributes, { namespace: 'ci', name: 'app', verb: 'get', group: 'image.openshift.io', resource: 'imagestreams', subresource: 'layers' });
  });

  it('the token pulls the repository', async () => {
    const tags = await api.get('/v2/ci/app/tags/list', aliceToken);
    assert.equal(tags.status, 200, tags.body.toString());
    assert.deepEqual(json(tags), { name: 'ci/app', tags: ['latest', 'v2'] });
    const manifest = await api.get('/v2/ci/app/manifests/latest', aliceToken);
    assert.equal(manifest.status, 200);
    assert.equal(manifest.body.toString(), MANIFEST);
    assert.ok(backend.requests.some((request) => request.url === '/v2/ci/app/tags/list'));
  });

  it('the gateway JWKS verifies the token, and nothing altered', async () => {
    const response = await api.get('/.well-known/jwks.json');
    assert.equal(response.status, 200);
    const keys = createLocalJWKSet(json<JSONWebKeySet>(response));
    const { payload, protectedHeader } = await jwtVerify(aliceToken, keys, { issuer: gateway.url, audience: gateway.host, algorithms: ['ES256'] });
    assert.equal(payload.sub, 'alice');
    assert.equal(protectedHeader.kid, decodeJwt(aliceToken).header.kid);

    // The same header and signature over a payload that grants more must not verify.
    const [head, , signature] = aliceToken.split('.');
    const forged = { ...decodeJwt(aliceToken).payload, access: [{ type: 'repository', name: 'other/app', actions: ['pull'] }] };
    const tampered = `${head}.${Buffer.from(JSON.stringify(forged)).toString('base64url')}.${signature}`;
    await assert.rejects(jwtVerify(tampered, keys, { algorithms: ['ES256'] }));
    // And the gateway does not take it either: no identity, so a challenge.
    assert.equal((await api.get('/v2/other/app/tags/list', tampered)).status, 401);
  });

  it('a namespace the user may not get: empty actions in the token, and 404 NAME_UNKNOWN exactly like a missing repository', async () => {
    const denied = await api.login(ALICE_TOKEN, 'repository:other/app:pull');
    assert.equal(denied.status, 200, denied.body.toString());
    const deniedToken = json<TokenBody>(denied).token;
    assert.deepEqual(decodeJwt(deniedToken).payload.access, [{ type: 'repository', name: 'other/app', actions: [] }]);
    assert.deepEqual(sarsFor(fake, 'other', 'app').at(-1)?.status, { allowed: false });

    backend.requests.length = 0;
    const hidden = await api.get('/v2/other/app/tags/list', deniedToken);
    const missing = await api.get('/v2/ci/missing/tags/list', deniedToken);
    assert.equal(hidden.status, 404);
    assert.equal(errorCode(hidden), 'NAME_UNKNOWN');
    assert.equal(missing.status, 404, missing.body.toString());
    assert.equal(hidden.body.toString(), missing.body.toString());
    assert.equal(hidden.headers['content-type'], missing.headers['content-type']);
    // The denied repository never reached the backend.
    assert.equal(backend.requests.some((request) => request.url.startsWith('/v2/other/')), false);
  });

  it('another authenticated user without a rule gets 404 for the repository alice may pull', async () => {
    const bobToken = await api.tokenFor(BOB_TOKEN);
    assert.equal(decodeJwt(bobToken).payload.sub, 'bob');
    assert.deepEqual(decodeJwt(bobToken).payload.access, [{ type: 'repository', name: 'ci/app', actions: [] }]);
    const response = await api.get('/v2/ci/app/tags/list', bobToken);
    assert.equal(response.status, 404);
    assert.equal(errorCode(response), 'NAME_UNKNOWN');
  });

  it('a rule for a group the TokenReview reported grants the group member', async () => {
    const carolToken = await api.tokenFor(CAROL_TOKEN, 'repository:release/tool:pull');
    assert.deepEqual(decodeJwt(carolToken).payload.access, [{ type: 'repository', name: 'release/tool', actions: ['pull'] }]);
    assert.equal((await api.get('/v2/release/tool/tags/list', carolToken)).status, 200);
    assert.equal((await api.get('/v2/release/tool/tags/list', aliceToken)).status, 404);
  });

  it('push and delete are reviews of their own verbs (update, delete): the group may push but not delete', async () => {
    const carolToken = await api.tokenFor(CAROL_TOKEN, 'repository:release/tool:pull,push,delete');
    assert.deepEqual(decodeJwt(carolToken).payload.access, [{ type: 'repository', name: 'release/tool', actions: ['pull', 'push'] }]);
    const asked = sarsFor(fake, 'release', 'tool').map((review) => review.spec.resourceAttributes?.verb);
    assert.ok(asked.includes('update') && asked.includes('delete'), asked.join(','));
    const refused = await api.request('DELETE', `/v2/release/tool/manifests/sha256:${'a'.repeat(64)}`, carolToken);
    assert.equal(refused.status, 403);
    assert.equal(errorCode(refused), 'DENIED');
  });

  it('a token the cluster does not know is 401 at /v2/token, with no token', async () => {
    const response = await api.login('not-a-cluster-token', 'repository:ci/app:pull', 'mallory');
    assert.equal(response.status, 401);
    assert.equal(errorCode(response), 'UNAUTHORIZED');
    assert.equal(response.body.includes('"token"'), false);
  });

  it('an empty password is 401 at /v2/token, not an API server error', async () => {
    const response = await api.login('', 'repository:ci/app:pull', 'trudy');
    assert.equal(response.status, 401, response.body.toString());
    assert.equal(errorCode(response), 'UNAUTHORIZED');
  });

  it('repeated pulls and logins within cacheSeconds ask the API server nothing new', async () => {
    fake.resetCounts();
    for (let i = 0; i < 3; i += 1) assert.equal((await api.get('/v2/ci/cached/tags/list', aliceToken)).status, 200);
    assert.equal(sarsFor(fake, 'ci', 'cached').length, 1, 'one SAR for three pulls');
    for (let i = 0; i < 3; i += 1) assert.equal((await api.get('/v2/ci/cached/manifests/latest', aliceToken)).status, 200);
    assert.equal(fake.calls.subjectAccessReviews, 1);

    await api.tokenFor(ALICE_TOKEN);
    await api.tokenFor(ALICE_TOKEN);
    assert.equal(fake.calls.tokenReviews, 0, 'the TokenReview of the first login is reused');
    assert.equal(fake.calls.subjectAccessReviews, 1, 'the SAR for ci/app is reused');
  });
});

describe('kubernetes provider: cacheSeconds 0, and the API server going down', () => {
  let scene: Scene;
  let fake: FakeKubernetes;
  let backend: ScriptedBackend;
  let api: ReturnType<typeof client>;
  let aliceToken: string;

  before(async () => {
    scene = await startScene({ users: { [ALICE_TOKEN]: { username: 'alice', groups: [] } }, rules: RULES }, { CG_IDENTITY_KUBERNETES_CACHE_SECONDS: '0' });
    ({ fake, backend, api } = scene);
  });
  after(() => scene?.stop());

  it('every login and every pull asks the API server', async () => {
    fake.resetCounts();
    aliceToken = await api.tokenFor(ALICE_TOKEN);
    await api.tokenFor(ALICE_TOKEN);
    assert.equal(fake.calls.tokenReviews, 2);
    const sarsAfterLogins = fake.calls.subjectAccessReviews;
    assert.equal(sarsAfterLogins, 2);
    assert.equal((await api.get('/v2/ci/app/tags/list', aliceToken)).status, 200);
    assert.equal((await api.get('/v2/ci/app/tags/list', aliceToken)).status, 200);
    assert.equal(fake.calls.subjectAccessReviews, sarsAfterLogins + 2);
  });

  it('a rule removed at the cluster takes effect on the next pull', async () => {
    fake.setRules([]);
    try {
      const response = await api.get('/v2/ci/app/tags/list', aliceToken);
      assert.equal(response.status, 404);
      assert.equal(errorCode(response), 'NAME_UNKNOWN');
    } finally {
      fake.setRules(RULES);
    }
    assert.equal((await api.get('/v2/ci/app/tags/list', aliceToken)).status, 200);
  });

  it('an API server that answers with an error is a 502 at login and at a pull, never a grant', async () => {
    fake.failWith(500);
    try {
      const login = await api.login(ALICE_TOKEN);
      assert.equal(login.status, 502, login.body.toString());
      assert.equal(errorCode(login), 'UPSTREAM_ERROR');
      const pull = await api.get('/v2/ci/app/tags/list', aliceToken);
      assert.equal(pull.status, 502, pull.body.toString());
      assert.equal(errorCode(pull), 'UPSTREAM_ERROR');
    } finally {
      fake.failWith(undefined);
    }
  });

  it('with the API server down: login is 503 UPSTREAM_UNAVAILABLE, and a pull with an issued token is 503, not a grant', async () => {
    await fake.stop();
    backend.requests.length = 0;
    const login = await api.login(ALICE_TOKEN);
    assert.equal(login.status, 503, login.body.toString());
    assert.equal(errorCode(login), 'UPSTREAM_UNAVAILABLE');
    assert.match(json<ErrorBody>(login).errors[0]?.message ?? '', /Kubernetes API server/);
    assert.equal(login.body.includes('"token"'), false);

    for (const path of ['/v2/ci/app/tags/list', '/v2/ci/app/manifests/latest', '/v2/ci/never-asked/tags/list']) {
      const pull = await api.get(path, aliceToken);
      assert.equal(pull.status, 503, `${path}: ${pull.body.toString()}`);
      assert.equal(errorCode(pull), 'UPSTREAM_UNAVAILABLE');
    }
    assert.equal(backend.requests.length, 0, 'nothing reached the backend');
  });
});

describe('kubernetes provider: the API server goes down with answers cached (default cacheSeconds)', () => {
  let scene: Scene;
  let fake: FakeKubernetes;
  let api: ReturnType<typeof client>;

  before(async () => {
    scene = await startScene({
      users: { [ALICE_TOKEN]: { username: 'alice', groups: [] }, [BOB_TOKEN]: { username: 'bob' } },
      rules: RULES,
    });
    ({ fake, api } = scene);
  });
  after(() => scene?.stop());

  it('cached answers keep serving; anything not cached is 503', async () => {
    const aliceToken = await api.tokenFor(ALICE_TOKEN);
    assert.equal((await api.get('/v2/ci/app/tags/list', aliceToken)).status, 200);
    await fake.stop();

    assert.equal((await api.get('/v2/ci/app/tags/list', aliceToken)).status, 200, 'the cached SAR answer still holds');
    const uncached = await api.get('/v2/ci/other/tags/list', aliceToken);
    assert.equal(uncached.status, 503, uncached.body.toString());
    assert.equal(errorCode(uncached), 'UPSTREAM_UNAVAILABLE');

    const newLogin = await api.login(BOB_TOKEN);
    assert.equal(newLogin.status, 503);
    assert.equal(errorCode(newLogin), 'UPSTREAM_UNAVAILABLE');
    // The cached review and SAR answer a repeated login for the same scope.
    assert.equal((await api.login(ALICE_TOKEN)).status, 200);
    // A repeated login for a scope not yet reviewed cannot be answered.
    const newScope = await api.login(ALICE_TOKEN, 'repository:ci/third:pull');
    assert.equal(newScope.status, 503, newScope.body.toString());
    assert.equal(errorCode(newScope), 'UPSTREAM_UNAVAILABLE');
  });
});

describe('kubernetes provider: reaching the API server', () => {
  let workDir: string;
  let backend: ScriptedBackend;
  before(async () => {
    workDir = mkdtempSync(join(tmpdir(), 'cg-kube-'));
    backend = await startBackend();
  });
  after(async () => {
    await backend?.close();
    rmSync(workDir, { recursive: true, force: true });
  });

  it('an API server that is not there: login is 503 UPSTREAM_UNAVAILABLE', async () => {
    const tokenFile = join(workDir, 'token-closed');
    writeFileSync(tokenFile, SA_TOKEN);
    const gateway = await startKubernetesGateway(backend, `http://127.0.0.1:${await findFreePort()}`, tokenFile);
    try {
      const response = await client(gateway).login(ALICE_TOKEN);
      assert.equal(response.status, 503, response.body.toString());
      assert.equal(errorCode(response), 'UPSTREAM_UNAVAILABLE');
    } finally {
      await gateway.stop();
    }
  });

  it('the gateway presents the token in its token file; the wrong one is an API server error (502), not a wrong password', async () => {
    const fake = await startFakeKubernetes({ serviceAccountToken: SA_TOKEN, users: { [ALICE_TOKEN]: { username: 'alice' } }, rules: RULES });
    const tokenFile = join(workDir, 'token-wrong');
    writeFileSync(tokenFile, 'not-the-service-account-token\n');
    const gateway = await startKubernetesGateway(backend, fake.url, tokenFile);
    try {
      const response = await client(gateway).login(ALICE_TOKEN);
      assert.equal(response.status, 502, response.body.toString());
      assert.equal(errorCode(response), 'UPSTREAM_ERROR');
      assert.ok(fake.calls.unauthorized >= 1);
      assert.equal(fake.calls.tokenReviews, 0);
    } finally {
      await gateway.stop();
      await fake.stop();
    }
  });
});

describe('kubernetes provider: scoped tokens and audiences', () => {
  const SCOPED_TOKEN = 'alice-scoped-token';
  const OTHER_AUDIENCE_TOKEN = 'alice-token-for-another-audience';
  const SCOPES = { 'scopes.authorization.openshift.io': ['user:info'] };
  let scene: Scene;
  let fake: FakeKubernetes;
  let api: ReturnType<typeof client>;

  before(async () => {
    scene = await startScene({
      apiAudiences: ['https://kubernetes.default.svc', 'container-gateway'],
      users: {
        [SCOPED_TOKEN]: { username: 'alice', groups: ['system:authenticated'], extra: SCOPES },
        [OTHER_AUDIENCE_TOKEN]: { username: 'alice', groups: ['system:authenticated'], audiences: ['https://kubernetes.default.svc'] },
      },
      rules: RULES,
    }, { CG_IDENTITY_KUBERNETES_AUDIENCES: 'container-gateway' });
    ({ fake, api } = scene);
  });
  after(() => scene?.stop());

  it("a scoped token's user.extra reaches every SubjectAccessReview, also for pulls with the gateway's JWT", async () => {
    const token = await api.tokenFor(SCOPED_TOKEN, 'repository:ci/app:pull');
    assert.deepEqual(decodeJwt(token).payload.ext, SCOPES);
    fake.resetCounts();
    assert.equal((await api.get('/v2/ci/other/tags/list', token)).status, 200);
    const reviews = sarsFor(fake, 'ci', 'other');
    assert.equal(reviews.length, 1);
    assert.deepEqual(reviews[0]?.spec.extra, SCOPES);
  });

  it('a token for another audience is refused at login', async () => {
    assert.equal((await api.login(OTHER_AUDIENCE_TOKEN)).status, 401);
    assert.deepEqual(fake.tokenReviews.at(-1)?.spec.audiences, ['container-gateway']);
  });
});

describe('kubernetes provider: a fixed namespace (authorization.namespace)', () => {
  let scene: Scene;
  before(async () => {
    scene = await startScene(
      { users: { [ALICE_TOKEN]: { username: 'alice', groups: [] } }, rules: [{ user: 'alice', namespace: 'ocp', verbs: ['get'], apiGroups: ['image.openshift.io'], resources: ['imagestreams/layers'] }] },
      { CG_IDENTITY_KUBERNETES_AUTHORIZATION_NAMESPACE: 'ocp' },
    );
  });
  after(() => scene?.stop());

  it('one SubjectAccessReview in that namespace answers for every repository', async () => {
    const token = await scene.api.tokenFor(ALICE_TOKEN, 'repository:ci/app:pull');
    for (const repository of ['ci/other', 'release/tool', 'single']) {
      assert.equal((await scene.api.get(`/v2/${repository}/tags/list`, token)).status, 200, repository);
    }
    assert.equal(scene.fake.subjectAccessReviews.length, 1);
    assert.deepEqual(scene.fake.subjectAccessReviews[0]?.spec.resourceAttributes, { namespace: 'ocp', verb: 'get', group: 'image.openshift.io', resource: 'imagestreams', subresource: 'layers' });
  });
});
