/**
 * fake-kubernetes.ts — a small, faithful stand-in for the two Kubernetes API server endpoints
 * the gateway's `kubernetes` provider calls, on 127.0.0.1 only (a free port).
 *
 * Contract (what a real kube-apiserver does, as far as the gateway can tell), written from Kubernetes'
 * own code: pkg/kubeapiserver/authenticator/config.go (the authenticator chain; with anonymous auth on,
 * its default, `union.NewFailOnError(chain, anonymous)`: "don't consider a bad bearer token ...
 * anonymous"), staging/src/k8s.io/apiserver/pkg/authentication/request/bearertoken/bearertoken.go
 * (no `Bearer <token>` header: not this authenticator's request), .../endpoints/filters/
 * authentication.go (a failed authentication is `apierrors.NewUnauthorized("Unauthorized")`),
 * .../endpoints/handlers/responsewriters/errors.go (`Forbidden`, `forbiddenMessage`) and
 * staging/src/k8s.io/apimachinery/pkg/api/errors/errors.go (`NewForbidden`: "<resource>.<group> is
 * forbidden: ..."):
 *  - Only the gateway's own credential, `Authorization: Bearer <serviceAccountToken>`, reaches a
 *    review (its service account is bound to system:auth-delegator). Any other request is refused
 *    before routing, with a Status object, and counted:
 *      - a bearer token nobody holds: 401 (`{"kind":"Status","apiVersion":"v1","metadata":{},
 *        "status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}`), in
 *        `calls.unauthorized`;
 *      - no bearer token at all (none, Basic, an empty one): the anonymous user, and a known user's
 *        token: that user; neither may create reviews, so 403 Forbidden, e.g. `tokenreviews.
 *        authentication.k8s.io is forbidden: User "system:anonymous" cannot create resource
 *        "tokenreviews" in API group "authentication.k8s.io" at the cluster scope` (another path:
 *        `forbidden: User "..." cannot post path "/x"`), in `calls.forbidden`.
 *  - `POST /apis/authentication.k8s.io/v1/tokenreviews` (TokenReview)
 *      body `{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":..., "audiences"?:[...]}}`
 *      → 201 with the object echoed back (`metadata: {creationTimestamp: null}`, the spec as sent) plus
 *        `status`: for a known token `{authenticated: true, user: {username, uid, groups}, audiences}`;
 *        for an unknown token `{user: {}, error: "..."}` (no `authenticated`, as the API server omits false).
 *        With `spec.audiences` the token must be valid for at least one of them (status.audiences is
 *        the intersection); without, for the API server's own (`apiAudiences`).
 *      An empty `spec.token` → 400 BadRequest ("token is required for TokenReview in authentication").
 *  - `POST /apis/authorization.k8s.io/v1/subjectaccessreviews` (SubjectAccessReview)
 *      body `{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{"user","groups","uid"?,
 *      "resourceAttributes":{namespace,verb,group,resource,subresource,name}}}`
 *      → 201 with the object echoed back plus `status`: `{allowed: true, reason: "..."}` when a rule
 *        allows it, `{allowed: false}` otherwise (RBAC gives no reason for a denial).
 *      Neither user nor groups → 422 Invalid; not exactly one of resourceAttributes /
 *      nonResourceAttributes → 422 Invalid. nonResourceAttributes are never allowed here.
 *  - Rules are RBAC in miniature: a subject (user name, or a group the SAR's `spec.groups` holds),
 *    a namespace (omitted: every namespace, like a ClusterRoleBinding), verbs, apiGroups (default
 *    any), resources written as RBAC writes them (`imagestreams/layers` for a subresource, `*`, or
 *    `*\/layers`) and optional resourceNames. Any matching rule allows.
 *  - A body that is not JSON, or of the wrong kind/apiVersion → 400 BadRequest; a Content-Type
 *    other than JSON → 415; a non-POST on a review path → 405; any other path → 404 (all Status objects).
 *  - `failWith(code)` answers every authenticated request with that status (a Status object), e.g.
 *    403 as when the gateway's service account lacks system:auth-delegator; `failWith(undefined)` undoes it.
 *  - `calls` counts reviews that were answered (201) and unauthorized requests; `tokenReviews` and
 *    `subjectAccessReviews` record each answered review's spec and status (never the
 *    Authorization header). `resetCounts()` empties them in place.
 *  - Users and rules are mutable at runtime (`setUser`, `removeUser`, `allow`, `setRules`).
 *  - `stop()` closes the listener and every open connection (the API server is down: connections
 *    are refused from then on); idempotent. There is no restart.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export const TOKEN_REVIEW_PATH = '/apis/authentication.k8s.io/v1/tokenreviews';
export const SUBJECT_ACCESS_REVIEW_PATH = '/apis/authorization.k8s.io/v1/subjectaccessreviews';
const MAX_BODY_BYTES = 3 * 1024 * 1024;
/** The gateway's own service account, as callerOf names it (no user name can be it). */
const GATEWAY = Symbol('the gateway service account');

export interface FakeKubernetesUser {
  readonly username: string;
  readonly uid?: string;
  readonly groups?: readonly string[];
  /** Audiences the token is valid for; default: the API server's own (`apiAudiences`). */
  readonly audiences?: readonly string[];
  /** `user.extra`, e.g. OpenShift's `scopes.authorization.openshift.io`. */
  readonly extra?: Readonly<Record<string, readonly string[]>>;
}

export interface FakeKubernetesRule {
  /** Exactly one of user and group. */
  readonly user?: string;
  readonly group?: string;
  /** Omitted: every namespace (a ClusterRoleBinding). */
  readonly namespace?: string;
  /** `*` for any. */
  readonly verbs: readonly string[];
  /** Default `['*']`. Use `''` for the core group. */
  readonly apiGroups?: readonly string[];
  /** `imagestreams/layers`, `imagestreams`, `*`, `*\/layers`. */
  readonly resources: readonly string[];
  /** Empty or omitted: every name. */
  readonly resourceNames?: readonly string[];
}

export interface FakeKubernetesOptions {
  /** The gateway's own bearer token (its service account's). */
  readonly serviceAccountToken: string;
  /** Cluster bearer token → the user it belongs to. */
  readonly users?: Readonly<Record<string, FakeKubernetesUser>>;
  readonly rules?: readonly FakeKubernetesRule[];
  /** The API server's own audiences. Default `['https://kubernetes.default.svc']`. */
  readonly apiAudiences?: readonly string[];
}

export interface ResourceAttributesSeen {
  namespace?: string;
  verb?: string;
  group?: string;
  version?: string;
  resource?: string;
  subresource?: string;
  name?: string;
}

export interface TokenReviewSeen {
  readonly spec: { token: string; audiences?: string[] };
  readonly status: Record<string, unknown>;
}

export interface SubjectAccessReviewSeen {
  readonly spec: { user?: string; groups?: string[]; uid?: string; extra?: unknown; resourceAttributes?: ResourceAttributesSeen; nonResourceAttributes?: unknown };
  readonly status: { allowed: boolean; reason?: string };
}

export interface FakeKubernetesCalls {
  tokenReviews: number;
  subjectAccessReviews: number;
  /** Requests refused for a bearer token nobody holds (401). */
  unauthorized: number;
  /** Requests refused because their caller, anonymous or a cluster user, may not create reviews (403). */
  forbidden: number;
}

export interface FakeKubernetes {
  /** http://127.0.0.1:PORT, no trailing slash. */
  readonly url: string;
  readonly port: number;
  /** Live object, zeroed in place by resetCounts(). */
  readonly calls: FakeKubernetesCalls;
  /** Live arrays, emptied in place by resetCounts(). */
  readonly tokenReviews: TokenReviewSeen[];
  readonly subjectAccessReviews: SubjectAccessReviewSeen[];
  setUser(token: string, user: FakeKubernetesUser): void;
  removeUser(token: string): void;
  allow(rule: FakeKubernetesRule): void;
  setRules(rules: readonly FakeKubernetesRule[]): void;
  failWith(code: number | undefined): void;
  resetCounts(): void;
  stop(): Promise<void>;
}

const REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  413: 'RequestEntityTooLarge',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
};

function statusObject(code: number, message: string): Record<string, unknown> {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: REASONS[code] ?? 'Unknown', code };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringOr(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

/** RBAC's ResourceMatches: `*`, the combined `resource/subresource`, or `*\/subresource`. */
function resourceMatches(rule: FakeKubernetesRule, resource: string, subresource: string): boolean {
  const combined = subresource === '' ? resource : `${resource}/${subresource}`;
  return rule.resources.some((candidate) => candidate === '*' || candidate === combined || (subresource !== '' && candidate === `*/${subresource}`));
}

function ruleAllows(rule: FakeKubernetesRule, user: string, groups: readonly string[], attributes: ResourceAttributesSeen): boolean {
  const subject = rule.user !== undefined ? rule.user === user : rule.group !== undefined && groups.includes(rule.group);
  if (!subject) return false;
  if (rule.namespace !== undefined && rule.namespace !== (attributes.namespace ?? '')) return false;
  const verb = attributes.verb ?? '';
  if (!rule.verbs.includes('*') && !rule.verbs.includes(verb)) return false;
  const apiGroups = rule.apiGroups ?? ['*'];
  if (!apiGroups.includes('*') && !apiGroups.includes(attributes.group ?? '')) return false;
  if (!resourceMatches(rule, attributes.resource ?? '', attributes.subresource ?? '')) return false;
  const names = rule.resourceNames ?? [];
  return names.length === 0 || (attributes.name !== undefined && names.includes(attributes.name));
}

function describeRule(rule: FakeKubernetesRule, index: number): string {
  const subject = rule.user !== undefined ? `User "${rule.user}"` : `Group "${String(rule.group)}"`;
  const where = rule.namespace === undefined ? 'cluster-wide' : `in namespace "${rule.namespace}"`;
  return `RBAC: allowed by fake rule #${index} ${where} to ${subject}`;
}

function validateRule(rule: FakeKubernetesRule): void {
  if ((rule.user === undefined) === (rule.group === undefined)) throw new Error('a fake Kubernetes rule names exactly one of user and group');
  if (rule.verbs.length === 0 || rule.resources.length === 0) throw new Error('a fake Kubernetes rule needs verbs and resources');
}

export async function startFakeKubernetes(options: FakeKubernetesOptions): Promise<FakeKubernetes> {
  if (options.serviceAccountToken === '') throw new Error('serviceAccountToken must not be empty');
  const serviceAccountToken = options.serviceAccountToken;
  const apiAudiences = [...(options.apiAudiences ?? ['https://kubernetes.default.svc'])];
  const users = new Map<string, FakeKubernetesUser>(Object.entries(options.users ?? {}));
  for (const rule of options.rules ?? []) validateRule(rule);
  let rules: FakeKubernetesRule[] = [...(options.rules ?? [])];
  let failure: number | undefined;

  const calls: FakeKubernetesCalls = { tokenReviews: 0, subjectAccessReviews: 0, unauthorized: 0, forbidden: 0 };
  const tokenReviews: TokenReviewSeen[] = [];
  const subjectAccessReviews: SubjectAccessReviewSeen[] = [];
  const sockets = new Set<Socket>();

  const send = (res: http.ServerResponse, code: number, body: unknown): void => {
    const text = JSON.stringify(body);
    res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-cache, private' });
    res.end(text);
  };
  const fail = (res: http.ServerResponse, code: number, message: string): void => send(res, code, statusObject(code, message));

  /**
   * Who a request is, as the authenticator chain sees it: the gateway, a cluster user's name,
   * `system:anonymous` when no bearer token was presented, undefined for a bearer token nobody
   * holds (401). Read as bearertoken.go reads the header.
   */
  const callerOf = (authorization: string | undefined): string | typeof GATEWAY | undefined => {
    const parts = (authorization ?? '').trim().split(' ');
    const token = parts.length >= 2 && parts[0]?.toLowerCase() === 'bearer' ? (parts[1] ?? '') : '';
    if (token === '') return 'system:anonymous';
    if (token === serviceAccountToken) return GATEWAY;
    return users.get(token)?.username;
  };

  /** RBAC's refusal of a caller that may not create reviews (or call anything else here). */
  const forbid = (res: http.ServerResponse, username: string, method: string, path: string): void => {
    const resource = path === TOKEN_REVIEW_PATH ? { group: 'authentication.k8s.io', resource: 'tokenreviews' } : path === SUBJECT_ACCESS_REVIEW_PATH ? { group: 'authorization.k8s.io', resource: 'subjectaccessreviews' } : undefined;
    // requestinfo.go: a request on the collection (these paths name no object) is create, list or deletecollection.
    const verb = ({ POST: 'create', GET: 'list', DELETE: 'deletecollection' } as Record<string, string>)[method] ?? method.toLowerCase();
    if (resource === undefined) {
      send(res, 403, { ...statusObject(403, `forbidden: User ${JSON.stringify(username)} cannot ${method.toLowerCase()} path ${JSON.stringify(path)}`), details: {} });
      return;
    }
    const message = `${resource.resource}.${resource.group} is forbidden: User ${JSON.stringify(username)} cannot ${verb} resource ${JSON.stringify(resource.resource)} in API group ${JSON.stringify(resource.group)} at the cluster scope`;
    send(res, 403, { ...statusObject(403, message), details: { group: resource.group, kind: resource.resource } });
  };

  const reviewToken = (review: Record<string, unknown>, spec: Record<string, unknown>, res: http.ServerResponse): void => {
    const token = stringOr(spec.token) ?? '';
    if (token === '') return fail(res, 400, 'token is required for TokenReview in authentication');
    const requested = strings(spec.audiences);
    const user = users.get(token);
    let status: Record<string, unknown>;
    if (user === undefined) {
      status = { user: {}, error: '[invalid bearer token, token lookup failed]' };
    } else {
      const valid = user.audiences ?? apiAudiences;
      const audiences = requested.length === 0 ? valid.filter((audience) => apiAudiences.includes(audience)) : requested.filter((audience) => valid.includes(audience));
      status =
        audiences.length === 0
          ? { user: {}, error: '[invalid bearer token, token audiences is invalid for the target audiences]' }
          : {
              authenticated: true,
              user: { username: user.username, ...(user.uid === undefined ? {} : { uid: user.uid }), groups: [...(user.groups ?? [])], ...(user.extra === undefined ? {} : { extra: user.extra }) },
              audiences,
            };
    }
    calls.tokenReviews += 1;
    tokenReviews.push({ spec: { token, ...(spec.audiences === undefined ? {} : { audiences: requested }) }, status });
    send(res, 201, { ...review, metadata: { creationTimestamp: null }, status });
  };

  const reviewAccess = (review: Record<string, unknown>, spec: Record<string, unknown>, res: http.ServerResponse): void => {
    const user = stringOr(spec.user) ?? '';
    const groups = strings(spec.groups);
    const resourceAttributes = isObject(spec.resourceAttributes) ? spec.resourceAttributes : undefined;
    const nonResource = spec.nonResourceAttributes;
    const problems: string[] = [];
    if ((resourceAttributes === undefined) === (nonResource === undefined || nonResource === null)) {
      problems.push('spec.resourceAttributes: Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes must be specified');
    }
    if (user === '' && groups.length === 0) problems.push('spec.user: Invalid value: "": at least one of user or group must be specified');
    if (problems.length > 0) return fail(res, 422, `SubjectAccessReview.authorization.k8s.io "" is invalid: ${problems.join(', ')}`);
    const attributes: ResourceAttributesSeen = {};
    if (resourceAttributes !== undefined) {
      for (const key of ['namespace', 'verb', 'group', 'version', 'resource', 'subresource', 'name'] as const) {
        const value = stringOr(resourceAttributes[key]);
        if (value !== undefined) attributes[key] = value;
      }
    }
    const index = resourceAttributes === undefined ? -1 : rules.findIndex((rule) => ruleAllows(rule, user, groups, attributes));
    const status: SubjectAccessReviewSeen['status'] = index === -1 ? { allowed: false } : { allowed: true, reason: describeRule(rules[index] as FakeKubernetesRule, index) };
    calls.subjectAccessReviews += 1;
    subjectAccessReviews.push({
      spec: {
        ...(user === '' ? {} : { user }),
        groups,
        ...(typeof spec.uid === 'string' ? { uid: spec.uid } : {}),
        ...(spec.extra === undefined ? {} : { extra: spec.extra }),
        ...(resourceAttributes === undefined ? { nonResourceAttributes: nonResource } : { resourceAttributes: attributes }),
      },
      status,
    });
    send(res, 201, { ...review, metadata: { creationTimestamp: null }, status });
  };

  const handle = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): void => {
    const path = new URL(req.url ?? '/', 'http://fake-kubernetes.invalid').pathname;
    const caller = callerOf(req.headers.authorization);
    if (caller === undefined) {
      calls.unauthorized += 1;
      return fail(res, 401, 'Unauthorized');
    }
    if (caller !== GATEWAY) {
      calls.forbidden += 1;
      return forbid(res, caller, req.method ?? 'GET', path);
    }
    if (failure !== undefined) return fail(res, failure, `fake Kubernetes: told to fail with ${failure}`);
    const kind = path === TOKEN_REVIEW_PATH ? 'TokenReview' : path === SUBJECT_ACCESS_REVIEW_PATH ? 'SubjectAccessReview' : undefined;
    if (kind === undefined) return fail(res, 404, 'the server could not find the requested resource');
    if (req.method !== 'POST') return fail(res, 405, `the server does not allow this method on the requested resource`);
    const contentType = String(req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (contentType !== 'application/json') return fail(res, 415, `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf`);
    let review: unknown;
    try {
      review = JSON.parse(body.toString('utf8'));
    } catch (error) {
      return fail(res, 400, `the object provided is unrecognized (must be of type ${kind}): ${(error as Error).message}`);
    }
    const apiVersion = kind === 'TokenReview' ? 'authentication.k8s.io/v1' : 'authorization.k8s.io/v1';
    if (!isObject(review) || review.kind !== kind || review.apiVersion !== apiVersion) {
      return fail(res, 400, `the API version in the data does not match the expected API version (expected ${apiVersion} ${kind})`);
    }
    const spec = isObject(review.spec) ? review.spec : {};
    if (kind === 'TokenReview') return reviewToken(review, spec, res);
    return reviewAccess(review, spec, res);
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => {
      try {
        if (tooLarge) fail(res, 413, 'Request entity too large');
        else handle(req, res, Buffer.concat(chunks));
      } catch (error) {
        if (!res.headersSent) fail(res, 500, `fake Kubernetes: ${String(error)}`);
        else res.destroy();
      }
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.removeListener('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });

  let stopping: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    calls,
    tokenReviews,
    subjectAccessReviews,
    setUser(token, user) {
      users.set(token, user);
    },
    removeUser(token) {
      users.delete(token);
    },
    allow(rule) {
      validateRule(rule);
      rules.push(rule);
    },
    setRules(next) {
      for (const rule of next) validateRule(rule);
      rules = [...next];
    },
    failWith(code) {
      failure = code;
    },
    resetCounts() {
      Object.assign(calls, { tokenReviews: 0, subjectAccessReviews: 0, unauthorized: 0, forbidden: 0 });
      tokenReviews.length = 0;
      subjectAccessReviews.length = 0;
    },
    stop() {
      stopping ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      return stopping;
    },
  };
}
