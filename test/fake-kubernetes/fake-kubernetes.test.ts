/**
 * Proves the fake Kubernetes API server's behaviour with plain HTTP (the harness client), so the
 * integration tests that lean on it can be trusted.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { httpRequest, type HttpResponse } from '../integration/harness/http-client.js';
import { startFakeKubernetes, SUBJECT_ACCESS_REVIEW_PATH, TOKEN_REVIEW_PATH, type FakeKubernetes } from './fake-kubernetes.js';

const SA_TOKEN = 'gateway-service-account-token';

function json(response: HttpResponse): Record<string, unknown> {
  return JSON.parse(response.body.toString('utf8')) as Record<string, unknown>;
}

function post(fake: FakeKubernetes, path: string, body: unknown, headers: Record<string, string> = {}): Promise<HttpResponse> {
  return httpRequest(`${fake.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${SA_TOKEN}`, 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    timeoutMs: 5_000,
  });
}

const tokenReview = (token: string, audiences?: string[]) => ({
  apiVersion: 'authentication.k8s.io/v1',
  kind: 'TokenReview',
  spec: { token, ...(audiences === undefined ? {} : { audiences }) },
});

const sar = (user: string, groups: string[], resourceAttributes: Record<string, string>) => ({
  apiVersion: 'authorization.k8s.io/v1',
  kind: 'SubjectAccessReview',
  spec: { user, groups, resourceAttributes },
});

const layers = (namespace: string, name: string, verb = 'get') => ({ namespace, verb, group: 'image.openshift.io', resource: 'imagestreams', subresource: 'layers', name });

describe('fake Kubernetes API server', () => {
  let fake: FakeKubernetes;
  before(async () => {
    fake = await startFakeKubernetes({
      serviceAccountToken: SA_TOKEN,
      users: {
        'alice-token': { username: 'alice', uid: 'uid-alice', groups: ['dev', 'system:authenticated'] },
        'bot-token': { username: 'system:serviceaccount:ci:builder', groups: ['system:serviceaccounts'], audiences: ['other'] },
      },
      rules: [
        { user: 'alice', namespace: 'ci', verbs: ['get'], apiGroups: ['image.openshift.io'], resources: ['imagestreams/layers'] },
        { group: 'dev', namespace: 'shared', verbs: ['get', 'update'], resources: ['*/layers'], resourceNames: ['tools'] },
      ],
    });
  });
  after(() => fake.stop());

  it('listens on 127.0.0.1', () => {
    assert.match(fake.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(fake.url, `http://127.0.0.1:${fake.port}`);
  });

  it('refuses a bearer token nobody holds with 401, and anyone but the gateway (anonymous, a cluster user) with 403, reviewing nothing', async () => {
    fake.resetCounts();
    const cases: Array<[string | undefined, number, string]> = [
      ['Bearer wrong', 401, 'Unauthorized'],
      [undefined, 403, 'tokenreviews.authentication.k8s.io is forbidden: User "system:anonymous" cannot create resource "tokenreviews" in API group "authentication.k8s.io" at the cluster scope'],
      [`Basic ${Buffer.from(`x:${SA_TOKEN}`).toString('base64')}`, 403, 'tokenreviews.authentication.k8s.io is forbidden: User "system:anonymous" cannot create resource "tokenreviews" in API group "authentication.k8s.io" at the cluster scope'],
      ['Bearer ', 403, 'tokenreviews.authentication.k8s.io is forbidden: User "system:anonymous" cannot create resource "tokenreviews" in API group "authentication.k8s.io" at the cluster scope'],
      ['Bearer alice-token', 403, 'tokenreviews.authentication.k8s.io is forbidden: User "alice" cannot create resource "tokenreviews" in API group "authentication.k8s.io" at the cluster scope'],
    ];
    for (const [authorization, status, message] of cases) {
      const response = await httpRequest(`${fake.url}${TOKEN_REVIEW_PATH}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(authorization === undefined ? {} : { authorization }) },
        body: JSON.stringify(tokenReview('alice-token')),
      });
      assert.equal(response.status, status, String(authorization));
      const reason = status === 401 ? 'Unauthorized' : 'Forbidden';
      const details = status === 401 ? {} : { details: { group: 'authentication.k8s.io', kind: 'tokenreviews' } };
      assert.deepEqual(json(response), { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code: status, ...details });
    }
    assert.deepEqual(fake.calls, { tokenReviews: 0, subjectAccessReviews: 0, unauthorized: 1, forbidden: 4 });
    assert.equal(fake.tokenReviews.length, 0);
  });

  it('authenticates a known token: 201, the review echoed back with the user', async () => {
    fake.resetCounts();
    const response = await post(fake, TOKEN_REVIEW_PATH, tokenReview('alice-token'));
    assert.equal(response.status, 201);
    assert.match(String(response.headers['content-type']), /^application\/json/);
    assert.deepEqual(json(response), {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      metadata: { creationTimestamp: null },
      spec: { token: 'alice-token' },
      status: { authenticated: true, user: { username: 'alice', uid: 'uid-alice', groups: ['dev', 'system:authenticated'] }, audiences: ['https://kubernetes.default.svc'] },
    });
    assert.equal(fake.calls.tokenReviews, 1);
    assert.equal(fake.tokenReviews[0]?.spec.token, 'alice-token');
  });

  it('does not authenticate an unknown token: no `authenticated`, an empty user and an error', async () => {
    const response = await post(fake, TOKEN_REVIEW_PATH, tokenReview('nobody'));
    assert.equal(response.status, 201);
    const status = json(response).status as Record<string, unknown>;
    assert.equal(status.authenticated, undefined);
    assert.deepEqual(status.user, {});
    assert.match(String(status.error), /invalid bearer token/);
  });

  it('checks audiences: a token only for "other" fails the default audience and passes when "other" is asked for', async () => {
    const byDefault = json(await post(fake, TOKEN_REVIEW_PATH, tokenReview('bot-token'))).status as Record<string, unknown>;
    assert.equal(byDefault.authenticated, undefined);
    const asked = json(await post(fake, TOKEN_REVIEW_PATH, tokenReview('bot-token', ['gateway', 'other']))).status as Record<string, unknown>;
    assert.equal(asked.authenticated, true);
    assert.deepEqual(asked.audiences, ['other']);
    const aliceElsewhere = json(await post(fake, TOKEN_REVIEW_PATH, tokenReview('alice-token', ['other']))).status as Record<string, unknown>;
    assert.equal(aliceElsewhere.authenticated, undefined);
  });

  it('answers an empty token with 400, like the API server', async () => {
    const response = await post(fake, TOKEN_REVIEW_PATH, tokenReview(''));
    assert.equal(response.status, 400);
    assert.equal(json(response).reason, 'BadRequest');
  });

  it('allows what a rule allows and echoes the review back', async () => {
    fake.resetCounts();
    const review = sar('alice', ['dev'], layers('ci', 'app'));
    const response = await post(fake, SUBJECT_ACCESS_REVIEW_PATH, review);
    assert.equal(response.status, 201);
    const body = json(response);
    assert.deepEqual(body.spec, review.spec);
    assert.equal(body.kind, 'SubjectAccessReview');
    const status = body.status as Record<string, unknown>;
    assert.equal(status.allowed, true);
    assert.match(String(status.reason), /alice/);
    assert.equal(fake.calls.subjectAccessReviews, 1);
    assert.deepEqual(fake.subjectAccessReviews[0]?.spec.resourceAttributes, layers('ci', 'app'));
  });

  it('denies another namespace, verb, group, resource or subresource', async () => {
    for (const attributes of [
      layers('other', 'app'),
      layers('ci', 'app', 'update'),
      { ...layers('ci', 'app'), group: '' },
      { ...layers('ci', 'app'), resource: 'imagestreamtags' },
      { ...layers('ci', 'app'), subresource: 'secrets' },
    ]) {
      const response = await post(fake, SUBJECT_ACCESS_REVIEW_PATH, sar('alice', [], attributes));
      assert.equal(response.status, 201);
      assert.deepEqual(json(response).status, { allowed: false }, JSON.stringify(attributes));
    }
    const wholeStream = await post(fake, SUBJECT_ACCESS_REVIEW_PATH, sar('alice', [], { namespace: 'ci', verb: 'get', group: 'image.openshift.io', resource: 'imagestreams', name: 'app' }));
    assert.equal((json(wholeStream).status as Record<string, unknown>).allowed, false);
  });

  it('grants through a group the SAR names, within its resourceNames', async () => {
    const allowed = await post(fake, SUBJECT_ACCESS_REVIEW_PATH, sar('bob', ['dev'], layers('shared', 'tools', 'update')));
    assert.equal((json(allowed).status as Record<string, unknown>).allowed, true);
    const otherName = await post(fake, SUBJECT_ACCESS_REVIEW_PATH, sar('bob', ['dev'], layers('shared', 'other')));
    assert.equal((json(otherName).status as Record<string, unknown>).allowed, false);
    const notInGroup = await post(fake, SUBJECT_ACCESS_REVIEW_PATH, sar('bob', ['ops'], layers('shared', 'tools')));
    assert.equal((json(notInGroup).status as Record<string, unknown>).allowed, false);
  });

  it('takes rules and users changed at runtime', async () => {
    fake.allow({ user: 'carol', verbs: ['*'], resources: ['*'] });
    fake.setUser('carol-token', { username: 'carol' });
    try {
      const review = json(await post(fake, TOKEN_REVIEW_PATH, tokenReview('carol-token'))).status as Record<string, unknown>;
      assert.deepEqual(review.user, { username: 'carol', groups: [] });
      const anywhere = json(await post(fake, SUBJECT_ACCESS_REVIEW_PATH, sar('carol', [], layers('anything', 'at-all', 'delete')))).status as Record<string, unknown>;
      assert.equal(anywhere.allowed, true);
      fake.removeUser('carol-token');
      const gone = json(await post(fake, TOKEN_REVIEW_PATH, tokenReview('carol-token'))).status as Record<string, unknown>;
      assert.equal(gone.authenticated, undefined);
    } finally {
      fake.setRules([
        { user: 'alice', namespace: 'ci', verbs: ['get'], apiGroups: ['image.openshift.io'], resources: ['imagestreams/layers'] },
        { group: 'dev', namespace: 'shared', verbs: ['get', 'update'], resources: ['*/layers'], resourceNames: ['tools'] },
      ]);
    }
    const afterReset = json(await post(fake, SUBJECT_ACCESS_REVIEW_PATH, sar('carol', [], layers('anything', 'x')))).status as Record<string, unknown>;
    assert.equal(afterReset.allowed, false);
  });

  it('answers invalid reviews as the API server does: 422, 400, 415, 405, 404', async () => {
    fake.resetCounts();
    const noSubject = await post(fake, SUBJECT_ACCESS_REVIEW_PATH, sar('', [], layers('ci', 'app')));
    assert.equal(noSubject.status, 422);
    assert.equal(json(noSubject).reason, 'Invalid');
    const noAttributes = await post(fake, SUBJECT_ACCESS_REVIEW_PATH, { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec: { user: 'alice' } });
    assert.equal(noAttributes.status, 422);
    const wrongKind = await post(fake, SUBJECT_ACCESS_REVIEW_PATH, tokenReview('alice-token'));
    assert.equal(wrongKind.status, 400);
    assert.equal((await post(fake, TOKEN_REVIEW_PATH, '{not json')).status, 400);
    assert.equal((await post(fake, TOKEN_REVIEW_PATH, tokenReview('alice-token'), { 'content-type': 'text/plain' })).status, 415);
    const get = await httpRequest(`${fake.url}${TOKEN_REVIEW_PATH}`, { headers: { authorization: `Bearer ${SA_TOKEN}` } });
    assert.equal(get.status, 405);
    assert.equal((await post(fake, '/apis/authentication.k8s.io/v1beta1/tokenreviews', tokenReview('alice-token'))).status, 404);
    assert.deepEqual(fake.calls, { tokenReviews: 0, subjectAccessReviews: 0, unauthorized: 0, forbidden: 0 });
  });

  it('failWith answers every authenticated request with that Status until undone', async () => {
    fake.failWith(403);
    try {
      const response = await post(fake, TOKEN_REVIEW_PATH, tokenReview('alice-token'));
      assert.equal(response.status, 403);
      assert.equal(json(response).kind, 'Status');
    } finally {
      fake.failWith(undefined);
    }
    assert.equal((await post(fake, TOKEN_REVIEW_PATH, tokenReview('alice-token'))).status, 201);
  });
});

describe('fake Kubernetes API server: stop', () => {
  it('refuses connections once stopped, and stop is idempotent', async () => {
    const fake = await startFakeKubernetes({ serviceAccountToken: SA_TOKEN });
    assert.equal((await post(fake, TOKEN_REVIEW_PATH, tokenReview('x'))).status, 201);
    await fake.stop();
    await fake.stop();
    await assert.rejects(post(fake, TOKEN_REVIEW_PATH, tokenReview('x')), (error: NodeJS.ErrnoException) => error.code === 'ECONNREFUSED');
  });

  it('refuses a rule naming both or neither of user and group', async () => {
    await assert.rejects(startFakeKubernetes({ serviceAccountToken: SA_TOKEN, rules: [{ verbs: ['get'], resources: ['*'] }] }), /exactly one of user and group/);
    const fake = await startFakeKubernetes({ serviceAccountToken: SA_TOKEN });
    try {
      assert.throws(() => fake.allow({ user: 'a', group: 'b', verbs: ['get'], resources: ['*'] }), /exactly one/);
    } finally {
      await fake.stop();
    }
  });
});
