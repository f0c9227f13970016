/**
 * smart_proxy_container_gateway's own test suite (3.5.0: test/container_gateway_api_test.rb,
 * test/container_gateway_backend_test.rb, test/integration_test.rb), ported case by case to what a
 * client or Katello can observe, driven over HTTP against the gateway in redirect mode in front of
 * a Pulp-like backend (redirects to a content app) over the real registry, with the fake Katello.
 * Each case names the KCG test it came from. Where the gateway deliberately answers differently,
 * the case says so and asserts the gateway's answer; docs/katello.md lists each difference and why.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { startFakeKatello, type FakeKatello } from '../fake-katello/fake-katello.js';
import { encodeRestClientForm, type RubyValue } from '../fake-katello/rest-client-form.js';
import { MANAGEMENT_TOKEN, startGateway, type RunningGateway } from '../support/gateway.js';
import { generateTestPki, type TestPki } from '../support/pki.js';
import { httpRequest, type HttpResponse } from './harness/http-client.js';
import { startPulpLikeBackend, type PulpLikeBackend } from './harness/pulp-like-backend.js';
import { startRegistry, type RunningRegistry } from './harness/registry.js';
import { seedRegistry, type SeedData } from './harness/seed.js';

const PUBLIC = 'library/alpine-ish';
const PRIVATE = 'org/team/app';
const HOSTS = 'multi/arch';
const OTHER = 'many/tags';
const LOAD_BALANCER = 'http://loadbalancer.example.test:8443';

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const json = <T>(response: HttpResponse): T => JSON.parse(response.body.toString('utf8')) as T;
const errorCode = (response: HttpResponse) => json<{ errors: Array<{ code: string }> }>(response).errors[0]?.code;

describe('smart_proxy_container_gateway\'s test suite, through the gateway', () => {
  let dir: string;
  let pki: TestPki;
  let registry: RunningRegistry;
  let seed: SeedData;
  let pulp: PulpLikeBackend;
  let katello: FakeKatello;
  let gateway: RunningGateway;
  let hostCertificate: string;
  let otherHostCertificate: string;

  const get = (path: string, headers: Record<string, string> = {}, method = 'GET') => httpRequest(`${gateway.url}${path}`, { method, headers });
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  /** A management PUT exactly as Katello's rest-client sends it. */
  const putForm = (route: string, payload: { [key: string]: RubyValue }) =>
    httpRequest(`${gateway.url}/container_gateway/${route}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${MANAGEMENT_TOKEN}`, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: encodeRestClientForm(payload),
    });
  const putOk = async (route: string, payload: { [key: string]: RubyValue }) => {
    const response = await putForm(route, payload);
    assert.equal(response.status, 200, `${route}: ${response.body.toString()}`);
    return json<Record<string, number | string>>(response);
  };
  const repositoryList = (entries: Array<[string, boolean]>) => putOk('repository_list', { repositories: entries.map(([repository, authRequired]) => ({ repository, auth_required: authRequired })) });
  const loginToken = async (user: string, password: string) => {
    const response = await get(`/v2/token?account=${user}`, { authorization: basic(user, password) });
    assert.equal(response.status, 200, response.body.toString());
    return json<{ token: string }>(response).token;
  };
  const asHost = (certificate: string) => ({ 'x-rhsm-ssl-client-cert': encodeURIComponent(certificate) });
  const catalog = async (headers: Record<string, string>) => json<{ repositories: string[] }>(await get('/v2/_catalog', headers)).repositories;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cg-kcg-'));
    pki = await generateTestPki(join(dir, 'pki'));
    registry = await startRegistry();
    seed = await seedRegistry(registry.url, join(dir, 'seed'));
    pulp = await startPulpLikeBackend(registry.url);
    katello = await startFakeKatello({ users: { foreman: { password: 'changeme', repositories: [PRIVATE] }, katello: { password: 'changeme', repositories: [] } }, publicRepositories: [PUBLIC] });
    gateway = await startGateway({
      backendUrl: pulp.url,
      upstreamUrl: katello.url,
      env: { CG_BACKEND_MODE: 'redirect', CG_SERVER_TRUSTED_PROXIES: '127.0.0.1', CG_SERVER_PROXY_CLIENT_CA: pki.ca.cert },
    });
    hostCertificate = await pki.pem(pki.host.cert);
    otherHostCertificate = await pki.pem((await pki.issueClient('other-host', '2c3f0d4e-0000-4000-8000-00000000abcd')).cert);
  });
  beforeEach(async () => {
    await repositoryList([[PUBLIC, false], [PRIVATE, true], [HOSTS, true], [OTHER, true]]);
  });
  after(async () => {
    await gateway?.stop();
    await katello?.stop();
    await pulp?.stop();
    await registry?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  describe('container_gateway_api_test.rb', () => {
    it('test_ping_v1: GET /v1/_ping answers 200', async () => {
      assert.equal((await get('/v1/_ping')).status, 200);
      assert.equal((await get('/container_gateway/v1/_ping')).status, 200);
    });

    it('test_pingv2_unauthorized_token: GET /v2 with "Bearer unauthorized" answers 200 {}', async () => {
      const response = await get('/v2', bearer('unauthorized'));
      assert.equal(response.status, 200);
      assert.deepEqual(json(response), {});
    });

    it('test_pingv2_no_auth: GET /v2 without credentials answers 401 with the Bearer challenge', async () => {
      const response = await get('/v2');
      assert.equal(response.status, 401);
      assert.match(String(response.headers['www-authenticate']), /^Bearer realm="[^"]+\/v2\/token"/);
    });

    it('test_pingv2_user_auth: GET /v2 with a logged-in user\'s token answers 200', async () => {
      assert.equal((await get('/v2', bearer(await loginToken('foreman', 'changeme')))).status, 200);
    });

    it('test_pingv2_bad_token: GET /v2 with a token nobody issued answers 401', async () => {
      assert.equal((await get('/v2', bearer('blahblahblah'))).status, 401);
    });

    it('test_list_tags: the tag list of a visible repository', async () => {
      const response = await get(`/v2/${PUBLIC}/tags/list`);
      assert.equal(response.status, 200);
      assert.deepEqual(json(response), { name: PUBLIC, tags: ['1.0', 'latest'] });
    });

    it('test_list_tags_pagination_link: n and last page the list; the Link names the next page (the gateway\'s own, not the backend\'s)', async () => {
      const first = await get(`/v2/${PUBLIC}/tags/list?n=1`);
      assert.deepEqual(json(first), { name: PUBLIC, tags: ['1.0'] });
      assert.equal(first.headers.link, `</v2/${PUBLIC}/tags/list?n=1&last=1.0>; rel="next"`);
      assert.deepEqual(json(await get(`/v2/${PUBLIC}/tags/list?n=1&last=1.0`)), { name: PUBLIC, tags: ['latest'] });
    });

    for (const [test, kind, reference] of [
      ['test_redirects_manifest_request', 'manifests', '1.0'],
      ['test_redirects_blob_request', 'blobs', ''],
    ] as const) {
      it(`${test}: a redirect to the content app with an empty body (GET and HEAD)`, async () => {
        const target = reference === '' ? seed.images.alpineIsh.config.digest : reference;
        for (const method of ['GET', 'HEAD']) {
          const response = await get(`/v2/${PUBLIC}/${kind}/${target}`, {}, method);
          assert.equal(response.status, 302, method);
          assert.equal(response.body.length, 0);
          assert.equal(response.headers.location, `${pulp.contentUrl}/pulp/container/${PUBLIC}/${kind}/${target}`);
        }
      });
    }

    it('test_redirects_*_with_client_endpoint: backend.clientUrl replaces the Location\'s host', async () => {
      const balanced = await startGateway({ backendUrl: pulp.url, upstreamUrl: katello.url, env: { CG_BACKEND_MODE: 'redirect', CG_BACKEND_CLIENT_URL: LOAD_BALANCER } });
      try {
        await balanced.publish([{ name: PUBLIC }]);
        for (const path of [`/v2/${PUBLIC}/manifests/1.0`, `/v2/${PUBLIC}/blobs/${seed.images.alpineIsh.config.digest}`]) {
          const response = await httpRequest(`${balanced.url}${path}`);
          assert.equal(response.status, 302);
          assert.ok(String(response.headers.location).startsWith(`${LOAD_BALANCER}/pulp/container/`), String(response.headers.location));
        }
      } finally {
        await balanced.stop();
      }
    });

    it('test_unauthorized_for_manifests/_blobs: a repository the caller may not see is 404 NAME_UNKNOWN (an anonymous caller gets the login challenge instead — a difference)', async () => {
      const token = await loginToken('katello', 'changeme');
      for (const path of [`/v2/${PRIVATE}/manifests/v1`, `/v2/${PRIVATE}/blobs/${seed.images.app.config.digest}`, '/v2/test_repo/manifests/test_tag']) {
        const denied = await get(path, bearer(token));
        assert.equal(denied.status, 404, path);
        assert.equal(errorCode(denied), 'NAME_UNKNOWN');
        assert.equal((await get(path)).status, 401, path);
      }
    });

    it('test_put_manifests, test_post/put/patch_blob_uploads: pushing is UNSUPPORTED (405, the spec\'s status, where KCG answers 404)', async () => {
      for (const [method, path] of [
        ['PUT', `/v2/${PUBLIC}/manifests/test_tag`],
        ['POST', `/v2/${PUBLIC}/blobs/uploads/`],
        ['PUT', `/v2/${PUBLIC}/blobs/uploads/test_digest`],
        ['PATCH', `/v2/${PUBLIC}/blobs/uploads/test_digest`],
      ] as const) {
        const response = await get(path, {}, method);
        assert.equal(response.status, 405, `${method} ${path}`);
        assert.equal(errorCode(response), 'UNSUPPORTED');
      }
    });

    it('test_put_repository_list: a form-encoded repository list is taken', async () => {
      assert.equal((await putForm('repository_list', { repositories: [{ repository: 'test_repo', auth_required: 'false' }] })).status, 200);
      assert.deepEqual(await catalog({}), ['test_repo']);
    });

    it('test_v1_search_v2_client: a client announcing registry/2.0 gets 404 (podman then asks _catalog)', async () => {
      assert.equal((await get('/v1/search', { 'docker-distribution-api-version': 'registry/2.0' })).status, 404);
    });

    it('test_v1_search_with_user / test_v1_search_with_no_user: search shows what the caller may see', async () => {
      const results = async (headers: Record<string, string>) => json<{ results: Array<{ name: string }> }>(await get('/v1/search', headers)).results.map((result) => result.name);
      assert.deepEqual(await results({}), [PUBLIC]);
      const token = await loginToken('foreman', 'changeme');
      assert.deepEqual((await results(bearer(token))).sort(), [PRIVATE, PUBLIC].sort());
      // docker search sends Basic credentials: checked with a login, as KCG's v1_foreman_authorized_username does.
      assert.deepEqual((await results({ authorization: basic('foreman', 'changeme') })).sort(), [PRIVATE, PUBLIC].sort());
      assert.equal((await get('/v1/search', { authorization: basic('foreman', 'wrong') })).status, 401);
      assert.deepEqual(await results({ authorization: 'Basic Og==' }), [PUBLIC], 'blank credentials are none');
      // Identity never comes from query parameters (KCG's `?user=` is ignored).
      assert.deepEqual(json<{ results: Array<{ name: string }> }>(await get('/v1/search?user=foreman')).results.map((result) => result.name), [PUBLIC]);
    });

    it('test_catalog_unauthorized_token / test_catalog_unauthenticated_token: Katello\'s placeholder tokens list the public repositories', async () => {
      assert.deepEqual(await catalog({ authorization: 'Basic unauthorized' }), [PUBLIC]);
      assert.deepEqual(await catalog(bearer('unauthenticated')), [PUBLIC]);
      assert.deepEqual(await catalog(bearer('unauthorized')), [PUBLIC]);
    });

    it('test_token_unauthorized: Katello\'s {"token":"unauthorized"} is a 401, never a token', async () => {
      katello.setOptions({ badPasswordStyle: 'unauthorized-token' });
      try {
        const response = await get('/v2/token?account=foreman', { authorization: basic('foreman', 'wrong') });
        assert.equal(response.status, 401);
        assert.equal(errorCode(response), 'UNAUTHORIZED');
      } finally {
        katello.setOptions({ badPasswordStyle: '401' });
      }
    });

    it('test_token_unauthenticated: without credentials a token for anonymous access (the gateway\'s own, issued without asking Katello)', async () => {
      katello.resetCounts();
      const response = await get('/v2/token');
      assert.equal(response.status, 200);
      const { token } = json<{ token: string }>(response);
      assert.equal((await get(`/v2/${PUBLIC}/tags/list`, bearer(token))).status, 200);
      assert.equal((await get(`/v2/${PRIVATE}/tags/list`, bearer(token))).status, 401);
      assert.equal(katello.calls.token, 0);
    });

    it('test_token_basic_auth: Basic credentials get Katello\'s token, and the user\'s repositories are fetched', async () => {
      katello.resetCounts();
      const token = await loginToken('foreman', 'changeme');
      assert.ok(katello.issuedTokens.includes(token) || katello.requests.some((entry) => entry.kind === 'token' && entry.status === 200));
      assert.deepEqual({ ...katello.calls }, { token: 1, catalog: 1, hostCatalog: 0 });
      assert.equal((await get(`/v2/${PRIVATE}/manifests/v1`, bearer(token))).status, 302);
    });

    it('test_handle_client_cert_auth_authorized / _unauthorized / _no_cert: a host pulls what it is mapped to, 404 for the rest', async () => {
      await putOk('update_hosts', { hosts: [{ uuid: pki.host.cn }] });
      await putOk('host_repository_mapping', { hosts: [{ [pki.host.cn]: [{ repository: HOSTS, auth_required: true }] }] });
      assert.equal((await get(`/v2/${HOSTS}/manifests/latest`, asHost(hostCertificate))).status, 302);
      const denied = await get(`/v2/${PRIVATE}/manifests/v1`, asHost(hostCertificate));
      assert.equal(denied.status, 404);
      assert.equal(errorCode(denied), 'NAME_UNKNOWN');
      // No certificate at all: KCG answers 404; the gateway asks an anonymous caller to log in.
      assert.equal((await get(`/v2/${HOSTS}/manifests/latest`)).status, 401);
    });

    it('test_flatpak_static_index_*: errors pass through (covered with a real index in flatpak-index.test.ts)', async () => {
      // The Pulp-like backend has no flatpak index: its 404 reaches the client as it is.
      const response = await get('/index/static?branch=stable&arch=x86_64');
      assert.equal(response.status, 404);
      assert.equal(errorCode(response), 'NOT_FOUND');
    });

    it('test_update_hosts_filters_nil_uuids / _empty_string_uuids / _handles_missing_uuid_key / _with_all_invalid_uuids / _with_empty_array', async () => {
      const bodies: Array<[string, string, number]> = [
        ['nil', 'hosts[][uuid]=host-uuid-1&hosts[][uuid]&hosts[][uuid]=host-uuid-2', 2],
        ['empty string', 'hosts[][uuid]=host-uuid-1&hosts[][uuid]=&hosts[][uuid]=host-uuid-2', 2],
        ['missing key', 'hosts[][uuid]=host-uuid-1&hosts[][name]=host-without-uuid&hosts[][uuid]=host-uuid-2', 2],
        ['all invalid', 'hosts[][uuid]&hosts[][uuid]=&hosts[][name]=no-uuid', 0],
        ['empty array', 'hosts', 0],
      ];
      for (const [what, body, total] of bodies) {
        const response = await httpRequest(`${gateway.url}/container_gateway/update_hosts`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${MANAGEMENT_TOKEN}`, 'content-type': 'application/x-www-form-urlencoded' },
          body,
        });
        assert.equal(response.status, 200, `${what}: ${response.body.toString()}`);
        assert.equal(json<{ total: number }>(response).total, total, what);
      }
    });
  });

  describe('container_gateway_backend_test.rb', () => {
    it('test_update_repository_list: the list is replaced; mappings of repositories that stay are kept (KCG drops them all — a difference)', async () => {
      const token = await loginToken('foreman', 'changeme');
      assert.equal((await get(`/v2/${PRIVATE}/tags/list`, bearer(token))).status, 200);
      await repositoryList([['test_repo1', true], ['test_repo2', false], [PRIVATE, true]]);
      assert.deepEqual(await catalog({}), ['test_repo2']);
      assert.equal((await get(`/v2/${PRIVATE}/tags/list`, bearer(token))).status, 200, 'still mapped: no lockout until the next mapping push');
      await repositoryList([['test_repo1', true]]);
      assert.equal((await get(`/v2/${PRIVATE}/tags/list`, bearer(token))).status, 404, 'gone with its repository');
    });

    it('test_v1_search_with_user / _with_no_user / test_v1_item_limit: search by user, anonymous, and n', async () => {
      const names = async (query: string, headers: Record<string, string> = {}) => json<{ results: Array<{ name: string }> }>(await get(`/v1/search${query}`, headers)).results.map((result) => result.name);
      await repositoryList([['test_repo1', false], ['test_repo2', false], ['test_repo3', false]]);
      assert.deepEqual(await names('?n=1'), ['test_repo1']);
      assert.deepEqual(await names(''), ['test_repo1', 'test_repo2', 'test_repo3']);
    });

    it('test_catalog_user / test_catalog_no_user: the catalog of a mapped user and of nobody', async () => {
      await repositoryList([['test_repo1', false], ['test_repo2', true], ['test_repo3', true]]);
      const token = await loginToken('katello', 'changeme');
      await putOk('user_repository_mapping', { users: [{ katello: [{ repository: 'test_repo2', auth_required: 'true' }] }] });
      assert.deepEqual(await catalog({}), ['test_repo1']);
      assert.deepEqual(await catalog(bearer(token)), ['test_repo1', 'test_repo2']);
    });

    it('test_authorized_for_repo_auth / _no_auth / test_authorized_for_nonexistent_repo', async () => {
      await repositoryList([[PUBLIC, false], [PRIVATE, true], [OTHER, false]]);
      const token = await loginToken('katello', 'changeme');
      await putOk('user_repository_mapping', { users: [{ katello: [{ repository: PRIVATE, auth_required: 'true' }] }] });
      const status = async (name: string, headers: Record<string, string> = {}) => (await get(`/v2/${name}/tags/list`, headers)).status;
      assert.equal(await status(PUBLIC), 200, 'public, anonymous');
      assert.equal(await status(OTHER, bearer(token)), 200, 'public, logged in');
      assert.equal(await status(PRIVATE), 401, 'private, anonymous');
      assert.equal(await status(PRIVATE, bearer(token)), 200, 'private, mapped');
      assert.equal(await status('test', bearer(token)), 404, 'nonexistent');
    });

    it('test_insert_token / test_bad_valid_token: a token from a login is valid; one nobody issued is not', async () => {
      const token = await loginToken('foreman', 'changeme');
      assert.equal((await get('/v2/', bearer(token))).status, 200);
      assert.equal((await get('/v2/', bearer('notmytoken'))).status, 401);
    });

    it('test_update_user_repo_mapping: every user gets exactly the repositories of the push', async () => {
      await repositoryList([['test_repo1', true], ['test_repo2', true], ['test_repo3', true]]);
      const foreman = await loginToken('foreman', 'changeme');
      const katelloUser = await loginToken('katello', 'changeme');
      await putOk('user_repository_mapping', {
        users: [
          { foreman: [{ repository: 'test_repo1', auth_required: true }, { repository: 'test_repo2', auth_required: true }] },
          { katello: [{ repository: 'test_repo2', auth_required: true }, { repository: 'test_repo3', auth_required: true }] },
        ],
      });
      assert.deepEqual(await catalog(bearer(foreman)), ['test_repo1', 'test_repo2']);
      assert.deepEqual(await catalog(bearer(katelloUser)), ['test_repo2', 'test_repo3']);
    });

    it('test_update_user_repositories: a login maps the user to the repositories Katello lists for them', async () => {
      await repositoryList([[PRIVATE, true], [OTHER, true]]);
      const token = await loginToken('foreman', 'changeme');
      assert.deepEqual(await catalog(bearer(token)), [PRIVATE]);
    });

    it('updates_host_repositories_correctly / clears_existing_host_repositories_before_update: update_host_repositories replaces one host\'s mapping', async () => {
      await repositoryList([['test_repo1', true], ['test_repo2', true]]);
      await putOk('update_hosts', { hosts: [{ uuid: pki.host.cn }] });
      await putOk('update_host_repositories', { hosts: [{ [pki.host.cn]: [{ repository: 'test_repo1', auth_required: true }] }] });
      assert.deepEqual(await catalog(asHost(hostCertificate)), ['test_repo1']);
      await putOk('update_host_repositories', { hosts: [{ [pki.host.cn]: [{ repository: 'test_repo2', auth_required: true }] }] });
      assert.deepEqual(await catalog(asHost(hostCertificate)), ['test_repo2']);
    });

    it('updates_host_repo_mapping_correctly / clears_existing_host_repo_mapping_before_update: host_repository_mapping replaces every host\'s mapping', async () => {
      const other = '2c3f0d4e-0000-4000-8000-00000000abcd';
      await repositoryList([['test_repo1', true], ['test_repo2', true]]);
      await putOk('update_hosts', { hosts: [{ uuid: pki.host.cn }, { uuid: other }] });
      await putOk('host_repository_mapping', { hosts: [{ [pki.host.cn]: [{ repository: 'test_repo1', auth_required: true }] }, { [other]: [{ repository: 'test_repo2', auth_required: true }] }] });
      assert.deepEqual(await catalog(asHost(hostCertificate)), ['test_repo1']);
      assert.deepEqual(await catalog(asHost(otherHostCertificate)), ['test_repo2']);
      await putOk('host_repository_mapping', { hosts: [{ [pki.host.cn]: [{ repository: 'test_repo2', auth_required: true }] }] });
      assert.deepEqual(await catalog(asHost(hostCertificate)), ['test_repo2']);
      assert.deepEqual(await catalog(asHost(otherHostCertificate)), []);
    });

    it('test_build_host_repository_mapping_with_nil_hosts / _empty_hosts / _nonexistent_host / _nil_repos / _empty_repos / _handles_mixed_scenarios', async () => {
      await repositoryList([['test_repo1', true]]);
      await putOk('update_hosts', { hosts: [{ uuid: pki.host.cn }] });
      for (const body of ['hosts', `hosts[][${pki.host.cn}]`, 'hosts[][nonexistent-uuid][][repository]=test_repo1&hosts[][nonexistent-uuid][][auth_required]=true']) {
        const response = await httpRequest(`${gateway.url}/container_gateway/host_repository_mapping`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${MANAGEMENT_TOKEN}`, 'content-type': 'application/x-www-form-urlencoded' },
          body,
        });
        assert.equal(response.status, 200, body);
        assert.equal(json<{ mappings: number }>(response).mappings, 0, body);
      }
      const mixed = await putOk('host_repository_mapping', {
        hosts: [
          { [pki.host.cn]: [{ repository: 'test_repo1', auth_required: true }] },
          { 'invalid-host': [{ repository: 'test_repo1', auth_required: true }] },
          { 'empty-repos-host': [] },
        ],
      });
      assert.equal(mixed.mappings, 1);
      assert.deepEqual(await catalog(asHost(hostCertificate)), ['test_repo1']);
    });

    it('test_build_host_repository_mapping_filters_non_auth_required_repos: entries marked public are not mappings', async () => {
      await repositoryList([['public_repo', false], ['private_repo', true]]);
      await putOk('update_hosts', { hosts: [{ uuid: pki.host.cn }] });
      const answer = await putOk('host_repository_mapping', { hosts: [{ [pki.host.cn]: [{ repository: 'public_repo', auth_required: false }, { repository: 'private_repo', auth_required: true }] }] });
      assert.equal(answer.mappings, 1);
    });

    it('test_update_host_repositories_with_nil_uuid / _empty_string_uuid / test_build_host_entries_*: no host is created', async () => {
      await repositoryList([['test_repo1', true]]);
      await putOk('update_hosts', { hosts: [] });
      for (const body of ['hosts[][][][repository]=test_repo1&hosts[][][][auth_required]=true', 'hosts[][%20][][repository]=test_repo1&hosts[][%20][][auth_required]=true']) {
        const response = await httpRequest(`${gateway.url}/container_gateway/update_host_repositories`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${MANAGEMENT_TOKEN}`, 'content-type': 'application/x-www-form-urlencoded' },
          body,
        });
        assert.equal(response.status, 200, body);
        assert.equal(json<{ subjects: number }>(response).subjects, 0, body);
      }
    });
  });

  describe('integration_test.rb', () => {
    it('test_features: /v2/features shows container_gateway running, with no capabilities and no settings', async () => {
      const response = await get('/v2/features', { authorization: `Bearer ${MANAGEMENT_TOKEN}` });
      assert.equal(response.status, 200);
      const feature = json<Record<string, { state: string; capabilities: unknown[]; settings: object }>>(response).container_gateway;
      assert.equal(feature?.state, 'running');
      assert.deepEqual(feature?.capabilities, []);
      assert.deepEqual(feature?.settings, {});
    });
  });
});
