/**
 * The two Kubernetes API calls the `kubernetes` provider makes, with the gateway's own
 * credential (a service account token): TokenReview (is this bearer token a user, and who?)
 * and SubjectAccessReview (may that user do this verb on this resource?). undici keep-alive
 * pool, a timeout on every call; a dead API server is UpstreamUnavailable, a broken answer
 * UpstreamFailed.
 */
import type { Dispatcher } from 'undici';
import type { GatewayConfig } from '../config/compiled.js';
import { createPeerPool } from '../upstream/peer-pool.js';
import { UpstreamFailed, UpstreamUnavailable } from '../upstream/errors.js';

const SERVICE = 'the Kubernetes API server';
const MAX_BODY_BYTES = 1024 * 1024;

export interface ReviewedUser {
  readonly username: string;
  readonly uid?: string;
  readonly groups: readonly string[];
  /** Authenticator-specific facts, e.g. OpenShift's token scopes; SubjectAccessReviews must carry them. */
  readonly extra?: Readonly<Record<string, readonly string[]>>;
}

export interface ResourceAttributes {
  readonly namespace: string;
  readonly verb: string;
  readonly group: string;
  readonly resource: string;
  readonly subresource?: string;
  readonly name?: string;
}

export interface KubernetesClient {
  /** The user a bearer token belongs to, or undefined when the API server says it is not valid. */
  reviewToken(token: string): Promise<ReviewedUser | undefined>;
  mayAccess(user: ReviewedUser, attributes: ResourceAttributes): Promise<boolean>;
  close(): Promise<void>;
}

export function createKubernetesClient(config: GatewayConfig['identity']['kubernetes']): KubernetesClient {
  const apiServer = config.apiServer;
  if (apiServer === null) throw new Error('identity.kubernetes.apiServer is not configured');
  const pool = createPeerPool(apiServer.origin, { tls: config.tls, timeoutMs: config.timeoutMs, connections: 8 });
  const prefix = apiServer.pathname.replace(/\/$/, '');

  async function create(path: string, body: unknown): Promise<Record<string, unknown>> {
    let response: Dispatcher.ResponseData;
    try {
      response = await pool.request({
        method: 'POST',
        path: `${prefix}${path}`,
        headers: {
          'content-type': 'application/json',
          accept: 'application/json',
          ...(config.bearerToken === undefined ? {} : { authorization: `Bearer ${config.bearerToken}` }),
        },
        body: JSON.stringify(body),
      });
    } catch (error) {
      throw new UpstreamUnavailable(`Kubernetes API server unreachable: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, SERVICE);
    }
    let text: string;
    try {
      text = await response.body.text();
    } catch (error) {
      throw new UpstreamUnavailable(`Kubernetes API server connection failed: ${(error as Error).message}`, SERVICE);
    }
    if (text.length > MAX_BODY_BYTES) throw new UpstreamFailed('Kubernetes API server answered with a body that is too large', SERVICE);
    if (response.statusCode !== 201 && response.statusCode !== 200) throw new UpstreamFailed(`Kubernetes API server answered HTTP ${response.statusCode} to ${path}`, SERVICE);
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed === 'object' && parsed !== null) return parsed as Record<string, unknown>;
    } catch {
      // reported below
    }
    throw new UpstreamFailed(`Kubernetes API server answered ${path} with something that is not a JSON object`, SERVICE);
  }

  return {
    async reviewToken(token) {
      const review = await create('/apis/authentication.k8s.io/v1/tokenreviews', {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenReview',
        spec: { token, ...(config.audiences.length > 0 ? { audiences: config.audiences } : {}) },
      });
      const status = objectAt(review, 'status');
      if (status?.authenticated !== true) return undefined;
      // An audience-aware API server names the audience it validated; without one, the token was not checked for ours.
      if (config.audiences.length > 0 && !strings(status.audiences).some((audience) => config.audiences.includes(audience))) return undefined;
      const user = objectAt(status, 'user');
      const username = user?.username;
      if (typeof username !== 'string' || username === '') throw new UpstreamFailed('TokenReview authenticated a token without a user name', SERVICE);
      const extra = extraOf(objectAt(user, 'extra'));
      return { username, groups: strings(user?.groups), ...(typeof user?.uid === 'string' ? { uid: user.uid } : {}), ...(extra === undefined ? {} : { extra }) };
    },
    async mayAccess(user, attributes) {
      const review = await create('/apis/authorization.k8s.io/v1/subjectaccessreviews', {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: user.username,
          groups: user.groups,
          ...(user.uid === undefined ? {} : { uid: user.uid }),
          ...(user.extra === undefined ? {} : { extra: user.extra }),
          resourceAttributes: attributes,
        },
      });
      return objectAt(review, 'status')?.allowed === true;
    },
    close: () => pool.close(),
  };
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

function extraOf(value: Record<string, unknown> | undefined): Record<string, string[]> | undefined {
  if (value === undefined) return undefined;
  const entries = Object.entries(value).map(([key, list]) => [key, strings(list)] as const);
  return entries.length === 0 ? undefined : Object.fromEntries(entries);
}

function objectAt(value: Record<string, unknown> | undefined, key: string): Record<string, unknown> | undefined {
  const child = value?.[key];
  return typeof child === 'object' && child !== null && !Array.isArray(child) ? (child as Record<string, unknown>) : undefined;
}
