/**
 * The token endpoint (Docker token authentication, and the OAuth2 password form that docker and
 * containerd POST). With Basic credentials it logs the user in at upstream; without any it hands
 * out the anonymous token without calling upstream.
 *
 * Client quirks this answers for: both `token` and `access_token` (flatpak reads only the first,
 * containerd's POST parser only the second); `expires_in` >= 60 and `issued_at` in RFC 3339;
 * containerd POSTs first and falls back to GET only on 400/401/404/405, so every POST failure the
 * client can cause is one of those, never HTML, 403, 415 or 500.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { UserIdentity } from '../access/identity.js';
import type { RepositoryAction } from '../access/required-access.js';
import { RegistryError } from '../errors/registry-error.js';
import type { AccessPolicy } from '../providers/access-policy.js';
import type { IdentityProvider } from '../providers/provider.js';
import { UpstreamFailed, UpstreamNotConfigured, UpstreamUnavailable } from '../upstream/errors.js';
import type { AnonymousTokens } from './anonymous-token.js';
import { parseBasicAuthorization, type BasicCredentials } from './basic-credentials.js';
import type { AccessEntry, GatewayTokens } from './gateway-tokens.js';
import type { KeyRing } from './key-ring.js';
import type { TokenAnswer } from './login.js';
import type { LoginThrottle } from './login-throttle.js';
import { formatScope, parseScopes, type ResourceScope } from './scope.js';

export const ANONYMOUS_TOKEN_SECONDS = 300;

export interface TokenDependencies {
  /** Tried in order (identity.providers). */
  readonly providers: readonly IdentityProvider[];
  /** Signs tokens for users that static and kubernetes providers vouch for. */
  readonly gatewayTokens: GatewayTokens;
  /** Its keys, published for registries that verify the gateway's tokens themselves. */
  readonly keyRing: KeyRing;
  /** What the access policy grants, for the `access` claim of a gateway token. */
  readonly policy: Pick<AccessPolicy, 'grantedActions' | 'listsWholeCatalog'>;
  readonly anonymousTokens: AnonymousTokens;
  readonly throttle: LoginThrottle;
  readonly now?: () => number;
}

/** Class for "nobody accepted these credentials": the only failure that counts against the throttle. */
class CredentialsRejected extends Error {
  override readonly name = 'CredentialsRejected';
}

declare module 'fastify' {
  interface FastifyRequest {
    /** For the request log: who tried to log in and how it ended (never the password). */
    loginLog?: { user?: string; outcome: string };
  }
}

function listOf(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.filter((item): item is string => typeof item === 'string');
  return [];
}

const tokenPlugin: FastifyPluginAsync<TokenDependencies> = async (app, deps) => {
  const now = deps.now ?? Date.now;

  // Any body type reaches the handler as text, so a wrong content type is our 400, not fastify's 415.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: 64 * 1024 }, (_request, body, done) => done(null, body));

  async function answer(request: FastifyRequest, credentials: BasicCredentials | undefined, scopeValues: string[], service: string | undefined): Promise<TokenAnswer> {
    const { scopes, invalid } = parseScopes(scopeValues);
    if (invalid.length > 0) throw new RegistryError('BAD_REQUEST', { message: 'invalid scope', detail: { scope: invalid[0]?.slice(0, 200) } });
    if (credentials === undefined) {
      request.loginLog = { outcome: 'anonymous' };
      const issued = now();
      const token = deps.anonymousTokens.issue(Math.floor(issued / 1000) + ANONYMOUS_TOKEN_SECONDS);
      return { token, access_token: token, expires_in: ANONYMOUS_TOKEN_SECONDS, issued_at: new Date(issued).toISOString() };
    }
    const address = request.ip;
    const verdict = deps.throttle.check(credentials.username, address, now());
    if (!verdict.allowed) {
      request.loginLog = { user: credentials.username, outcome: 'throttled' };
      throw new RegistryError('TOOMANYREQUESTS', {
        message: 'too many failed logins; try again later',
        headers: { 'retry-after': String(verdict.retryAfterSeconds) },
      });
    }
    try {
      const result = await logIn(credentials, scopes, service);
      deps.throttle.recordSuccess(credentials.username);
      request.loginLog = { user: credentials.username, outcome: 'success' };
      return result;
    } catch (error) {
      request.loginLog = { user: credentials.username, outcome: error instanceof CredentialsRejected ? 'rejected' : error instanceof Error ? error.name : 'error' };
      if (error instanceof CredentialsRejected) {
        // Slow down guessing: each failure past the free ones waits before it is answered.
        const delay = deps.throttle.recordFailure(credentials.username, address, now());
        if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
      }
      throw loginError(error);
    }
  }

  /**
   * Each provider in turn; the first that accepts wins. A provider that cannot be asked (its
   * server is down) does not stop the others; if none accepts, its failure is the answer.
   */
  async function logIn(credentials: BasicCredentials, scopes: readonly ResourceScope[], service: string | undefined): Promise<TokenAnswer> {
    const audience = service ?? deps.gatewayTokens.settings.services[0];
    let unavailable: unknown;
    for (const provider of deps.providers) {
      let outcome;
      try {
        outcome = await provider.login(credentials, { scopes: scopes.map(formatScope), ...(service === undefined ? {} : { service }) });
      } catch (error) {
        if (!(error instanceof UpstreamUnavailable || error instanceof UpstreamFailed)) throw error;
        unavailable ??= error;
        continue;
      }
      if (outcome.kind === 'answered') return outcome.answer;
      if (outcome.kind === 'rejected') continue;
      // Any registry that trusts the gateway's key may name itself here (its own challenge's `service`);
      // the claims are the same policy's either way. The gateway itself accepts only tokens.services.
      if (audience === undefined || !/^[\x21-\x7e]{1,255}$/.test(audience)) {
        throw new RegistryError('BAD_REQUEST', { message: 'service must be 1 to 255 printable characters', detail: { service: String(service).slice(0, 200) } });
      }
      const access = await accessClaim(outcome.identity, scopes);
      const issued = await deps.gatewayTokens.issue(outcome.identity, access, audience, now());
      return { token: issued.token, access_token: issued.token, expires_in: issued.expiresIn, issued_at: issued.issuedAt.toISOString() };
    }
    throw unavailable ?? new CredentialsRejected();
  }

  /** The requested scopes, narrowed to what the policy grants (Distribution's token server does the same). */
  async function accessClaim(identity: UserIdentity, scopes: readonly ResourceScope[]): Promise<AccessEntry[]> {
    const entries: AccessEntry[] = [];
    for (const scope of scopes) {
      if (scope.type === 'registry' && scope.name === 'catalog') {
        entries.push({ type: 'registry', name: 'catalog', actions: deps.policy.listsWholeCatalog(identity) ? ['*'] : [] });
        continue;
      }
      if (scope.type !== 'repository') continue;
      const wanted = scope.actions.filter((action): action is RepositoryAction => action === 'pull' || action === 'push');
      if (wanted.length === 0) continue;
      const granted = await deps.policy.grantedActions(identity, scope.name, wanted);
      entries.push({ type: 'repository', name: scope.name, actions: [...granted] });
    }
    return entries;
  }

  // The keys that verify the gateway's tokens: JWKS for JOSE libraries, PEM certificates for a
  // CNCF Distribution `auth.token.rootcertbundle` (which trusts certificates, not JWKS).
  app.get('/.well-known/jwks.json', async (_request, reply) => {
    reply.header('cache-control', 'max-age=60');
    return deps.keyRing.jwks();
  });
  app.get('/.well-known/registry-token-certificates.pem', async (_request, reply) => {
    reply.header('cache-control', 'max-age=60').type('application/x-pem-file');
    return deps.keyRing.certificateBundle();
  });

  app.get('/v2/token', async (request) => {
    const query = request.query as Record<string, unknown>;
    const basic = parseBasicAuthorization(request.headers.authorization);
    if (basic.kind === 'invalid') throw new RegistryError('BAD_REQUEST', { message: basic.reason });
    const service = typeof query.service === 'string' ? query.service : undefined;
    return answer(request, basic.kind === 'valid' ? basic.credentials : undefined, listOf(query.scope), service);
  });

  app.post('/v2/token', async (request) => {
    const contentType = String(request.headers['content-type'] ?? '');
    if (!contentType.toLowerCase().startsWith('application/x-www-form-urlencoded') || typeof request.body !== 'string') {
      throw new RegistryError('BAD_REQUEST', { message: 'expected an application/x-www-form-urlencoded body' });
    }
    const form = new URLSearchParams(request.body);
    const grantType = form.get('grant_type');
    if (grantType !== 'password') {
      throw new RegistryError('BAD_REQUEST', { message: `unsupported grant_type "${String(grantType).slice(0, 40)}": use grant_type=password or GET /v2/token` });
    }
    const username = form.get('username') ?? '';
    const password = form.get('password') ?? '';
    if (username === '') throw new RegistryError('BAD_REQUEST', { message: 'grant_type=password needs a username' });
    return answer(request, { username, password }, form.getAll('scope'), form.get('service') ?? undefined);
  });
};

function loginError(error: unknown): unknown {
  if (error instanceof CredentialsRejected) return new RegistryError('UNAUTHORIZED', { message: 'invalid username or password' });
  if (error instanceof UpstreamNotConfigured) return new RegistryError('UPSTREAM_UNAVAILABLE', { message: 'cannot log in: not configured (the gateway has no upstream.url for Katello logins)' });
  if (error instanceof UpstreamUnavailable) return new RegistryError('UPSTREAM_UNAVAILABLE', { message: `cannot log in: ${error.service} is unreachable` });
  if (error instanceof UpstreamFailed) return new RegistryError('UPSTREAM_ERROR', { message: `cannot log in: ${error.service} answered with an error` });
  return error;
}

export default tokenPlugin;
