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
import { isRepositoryAction } from '../access/required-access.js';
import { RegistryError } from '../errors/registry-error.js';
import type { AccessPolicy } from '../providers/access-policy.js';
import { PasswordChecksBusy } from '../providers/password-checks.js';
import type { IdentityProvider } from '../providers/provider.js';
import { UpstreamFailed, UpstreamUnavailable } from '../upstream/errors.js';
import type { AnonymousTokens } from './anonymous-token.js';
import { parseBasicAuthorization, type BasicCredentials } from './basic-credentials.js';
import type { AccessEntry, GatewayTokens } from './gateway-tokens.js';
import type { KeyRing } from './key-ring.js';
import type { TokenAnswer } from './login.js';
import type { LoginThrottle } from './login-throttle.js';
import { formatScope, MAX_SCOPE_LENGTH, MAX_SCOPES, parseScopes, type ResourceScope } from './scope.js';

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

/**
 * "Nobody accepted these credentials". It counts against the throttle unless every refusal was
 * one the gateway did not see happen (Katello's "unauthorized" placeholder).
 */
class CredentialsRejected extends Error {
  override readonly name = 'CredentialsRejected';
  constructor(readonly counted: boolean) {
    super('credentials rejected');
  }
}

/** A login's answer, and whether anybody was actually verified (not so for Katello's "unauthenticated"). */
interface LoginResult {
  readonly answer: TokenAnswer;
  readonly verified: boolean;
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
    const { scopes, invalid, tooMany } = parseScopes(scopeValues);
    if (tooMany) throw new RegistryError('BAD_REQUEST', { message: `at most ${MAX_SCOPES} scopes may be asked for at once` });
    if (invalid.length > 0) throw new RegistryError('BAD_REQUEST', { message: `invalid scope (type:name:actions, at most ${MAX_SCOPE_LENGTH} characters)`, detail: { scope: invalid[0]?.slice(0, 200) } });
    if (credentials === undefined) {
      request.loginLog = { outcome: 'anonymous' };
      const issued = now();
      const token = deps.anonymousTokens.issue(Math.floor(issued / 1000) + ANONYMOUS_TOKEN_SECONDS);
      return { token, access_token: token, expires_in: ANONYMOUS_TOKEN_SECONDS, issued_at: new Date(issued).toISOString() };
    }
    const address = request.ip;
    const verdict = await deps.throttle.reserve(credentials.username, address, now);
    if (!verdict.allowed) {
      request.loginLog = { user: credentials.username, outcome: 'throttled' };
      throw new RegistryError('TOOMANYREQUESTS', {
        message: 'too many failed logins; try again later',
        headers: { 'retry-after': String(verdict.retryAfterSeconds) },
      });
    }
    const { attempt } = verdict;
    try {
      const result = await logIn(credentials, scopes, service);
      // Katello's "unauthenticated" verified nobody: the attempt neither succeeded nor failed.
      if (result.verified) attempt.succeeded();
      else attempt.abandoned();
      request.loginLog = { user: credentials.username, outcome: result.verified ? 'success' : 'unauthenticated' };
      return result.answer;
    } catch (error) {
      request.loginLog = { user: credentials.username, outcome: error instanceof CredentialsRejected ? 'rejected' : error instanceof Error ? error.name : 'error' };
      if (error instanceof CredentialsRejected && error.counted) {
        // Slow down guessing: each failure past the free ones waits before it is answered.
        const delay = attempt.failed();
        if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
      } else {
        attempt.abandoned();
      }
      throw loginError(error);
    }
  }

  /**
   * Each provider in turn; the first that accepts wins. A provider that cannot be asked (its
   * server is down) does not stop the others; if none accepts, its failure is the answer.
   */
  async function logIn(credentials: BasicCredentials, scopes: readonly ResourceScope[], service: string | undefined): Promise<LoginResult> {
    const audience = service ?? deps.gatewayTokens.settings.services[0];
    let unavailable: unknown;
    let counted = false;
    for (const provider of deps.providers) {
      let outcome;
      try {
        outcome = await provider.login(credentials, { scopes: scopes.map(formatScope), ...(service === undefined ? {} : { service }) });
      } catch (error) {
        if (!(error instanceof UpstreamUnavailable || error instanceof UpstreamFailed)) throw error;
        unavailable ??= error;
        continue;
      }
      if (outcome.kind === 'answered') return { answer: outcome.answer, verified: true };
      if (outcome.kind === 'anonymous') return { answer: outcome.answer, verified: false };
      if (outcome.kind === 'rejected') {
        counted ||= outcome.counted !== false;
        continue;
      }
      // Any registry that trusts the gateway's key may name itself here (its own challenge's `service`);
      // the claims are the same policy's either way. The gateway itself accepts only tokens.services.
      if (audience === undefined || !/^[\x21-\x7e]{1,255}$/.test(audience)) {
        throw new RegistryError('BAD_REQUEST', { message: 'service must be 1 to 255 printable characters', detail: { service: String(service).slice(0, 200) } });
      }
      const access = await accessClaim(outcome.identity, scopes);
      const issued = await deps.gatewayTokens.issue(outcome.identity, access, audience, now());
      return { answer: { token: issued.token, access_token: issued.token, expires_in: issued.expiresIn, issued_at: issued.issuedAt.toISOString() }, verified: true };
    }
    throw unavailable ?? new CredentialsRejected(counted);
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
      const wanted = scope.actions.filter(isRepositoryAction);
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
  if (error instanceof PasswordChecksBusy) return new RegistryError('UNAVAILABLE', { message: 'too many logins are being checked; try again in a moment', headers: { 'retry-after': '1' } });
  if (error instanceof UpstreamUnavailable) return new RegistryError('UPSTREAM_UNAVAILABLE', { message: `cannot log in: ${error.service} is unreachable` });
  if (error instanceof UpstreamFailed) return new RegistryError('UPSTREAM_ERROR', { message: `cannot log in: ${error.service} answered with an error` });
  return error;
}

export default tokenPlugin;
