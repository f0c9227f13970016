/**
 * syncContainerGateway: what Katello does to a Container Gateway smart proxy when a capsule sync
 * ends, request for request, written from Katello's code:
 *  - app/models/katello/concerns/smart_proxy_extensions.rb `sync_container_gateway`: the proxy
 *    with the Container_Gateway feature (this one or the colocated one) gets, each step on its own
 *    (a failure is logged and the next step runs):
 *      1. PUT repository_list        {repositories: [{repository, auth_required}]}   every repository on the capsule
 *      2. GET users                  → {users: [...]}; the logins Katello knows, in Katello's order;
 *         PUT user_repository_mapping {users: [{login => [{repository, auth_required}]}]}   only if any user is left;
 *         each user's list is readable_docker_catalog_as(user): theirs plus the public ones
 *      3. if the capsule has hosts (subscription facets):
 *         PUT update_hosts           {hosts: [{uuid}]}
 *         PUT host_repository_mapping {hosts: [{uuid => [{repository, auth_required: true}]}]}   build_repo_list:
 *         the host's repositories without the public ones
 *  - lib/proxy_api/container_gateway.rb: every call at `<proxy url>/container_gateway/<route>`;
 *  - Foreman's app/services/proxy_api/resource.rb: rest-client with `Accept: application/json`,
 *    X-Request-Id and X-Session-Id headers, and Foreman's client certificate when the URL is https;
 *  - rest-client 2.1: the Hash payload form-encoded (rest-client-form.ts) with
 *    `Content-Type: application/x-www-form-urlencoded`, and its own User-Agent and Accept-Encoding.
 * Older Katellos also sent facets without a UUID (`hostsWithoutUuid`), which rest-client writes as
 * a bare `hosts[][uuid]` key and a `hosts[][]...` mapping key.
 */
import { randomUUID } from 'node:crypto';
import { Agent, request } from 'undici';
import type { FakeKatello } from './fake-katello.js';
import { encodeRestClientForm, type RubyValue } from './rest-client-form.js';

export interface ProxyTls {
  readonly ca: string | Buffer;
  /** Foreman's client certificate and key (Setting[:ssl_certificate], Setting[:ssl_priv_key]). */
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
}

export interface SyncOptions {
  /** The proxy's URL as registered in Foreman (`https://capsule:9091`). */
  readonly proxyUrl: string;
  readonly tls?: ProxyTls;
  /** Facets that have no UUID yet, as older Katellos sent them. */
  readonly hostsWithoutUuid?: number;
}

export interface SyncCall {
  readonly method: 'GET' | 'PUT';
  readonly path: string;
  /** Exactly what went on the wire (PUTs). */
  readonly body?: string;
  readonly status: number;
  readonly answer: string;
}

const REST_CLIENT_HEADERS = {
  accept: 'application/json',
  'accept-encoding': 'gzip;q=1.0,deflate;q=0.6,identity;q=0.3',
  'user-agent': 'rest-client/2.1.0 (linux x86_64) ruby/3.0.7p220',
} as const;

/** Foreman's ProxyAPI::ContainerGateway: rest-client calls at `<proxy url>/container_gateway/<route>`. */
function proxyApi(options: SyncOptions) {
  const base = `${options.proxyUrl.replace(/\/$/, '')}/container_gateway`;
  const dispatcher = new Agent(options.tls === undefined ? {} : { connect: { ca: options.tls.ca, cert: options.tls.cert, key: options.tls.key } });
  const session = randomUUID();
  return {
    async call(method: 'GET' | 'PUT', route: string, payload?: { [key: string]: RubyValue }): Promise<SyncCall> {
      const body = payload === undefined ? undefined : encodeRestClientForm(payload);
      const response = await request(`${base}/${route}`, {
        method,
        dispatcher,
        headers: {
          ...REST_CLIENT_HEADERS,
          'x-request-id': randomUUID(),
          'x-session-id': session,
          ...(body === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(Buffer.byteLength(body)) }),
        },
        ...(body === undefined ? {} : { body }),
      });
      return { method, path: `/container_gateway/${route}`, ...(body === undefined ? {} : { body }), status: response.statusCode, answer: await response.body.text() };
    },
    close: () => dispatcher.close(),
  };
}

export async function syncContainerGateway(katello: FakeKatello, options: SyncOptions): Promise<SyncCall[]> {
  const api = proxyApi(options);
  const calls: SyncCall[] = [];
  const call = async (method: 'GET' | 'PUT', route: string, payload?: { [key: string]: RubyValue }): Promise<SyncCall> => {
    const made = await api.call(method, route, payload);
    calls.push(made);
    return made;
  };
  const entry = (repository: string): RubyValue => ({ repository, auth_required: !katello.isPublic(repository) });
  try {
    await call('PUT', 'repository_list', { repositories: katello.repositories().map(entry) });

    const listed = await call('GET', 'users');
    const logins = listed.status === 200 ? ((JSON.parse(listed.answer) as { users?: string[] }).users ?? []) : [];
    const known = katello.users().filter((user) => logins.includes(user.name));
    if (known.length > 0) {
      const everyone = katello.repositories();
      const users = known.map((user) => ({ [user.name]: everyone.filter((name) => user.repositories.includes(name) || katello.isPublic(name)).map(entry) }));
      await call('PUT', 'user_repository_mapping', { users });
    }

    const facets: Array<{ uuid: string | null; repositories: string[] }> = [
      ...katello.hosts(),
      ...Array.from({ length: options.hostsWithoutUuid ?? 0 }, () => ({ uuid: null, repositories: katello.repositories() })),
    ];
    if (facets.length > 0) {
      await call('PUT', 'update_hosts', { hosts: facets.map((facet) => ({ uuid: facet.uuid })) });
      // Ruby's `nil.to_s` as a Hash key is ""; rest-client writes it as an empty bracket.
      await call('PUT', 'host_repository_mapping', { hosts: facets.map((facet) => ({ [facet.uuid ?? '']: privateEntries(katello, facet.repositories) })) });
    }
  } finally {
    await api.close();
  }
  return calls;
}

/** build_repo_list: a host's repositories without the public ones, all `auth_required: true`. */
function privateEntries(katello: FakeKatello, repositories: readonly string[]): RubyValue[] {
  return repositories.filter((name) => !katello.isPublic(name)).map((repository) => ({ repository, auth_required: true }));
}

/** `update_host_repositories(host)`: one host's repositories after its content changed (merged, not replaced). */
export async function updateHostRepositories(katello: FakeKatello, options: SyncOptions, uuid: string): Promise<SyncCall> {
  const api = proxyApi(options);
  try {
    const repositories = katello.hosts().find((host) => host.uuid === uuid)?.repositories ?? [];
    return await api.call('PUT', 'update_host_repositories', { hosts: [{ [uuid]: privateEntries(katello, repositories) }] });
  } finally {
    await api.close();
  }
}
