/**
 * LoginService: one login with Basic credentials, wherever a client presents them (`/v2/token`,
 * and `/v1/search` as smart_proxy_container_gateway accepts there): through the failed-login
 * throttle, then each identity provider in turn until one accepts. Answers the token for the
 * client and the identity it proves; failures are the client-facing errors (401, 429, 503).
 */
import type { FastifyRequest } from 'fastify';
import type { UserIdentity } from '../access/identity.js';
import { isRepositoryAction } from '../access/required-access.js';
import { RegistryError } from '../errors/registry-error.js';
import type { AccessPolicy } from '../providers/access-policy.js';
import { PasswordChecksBusy } from '../providers/password-checks.js';
import type { IdentityProvider } from '../providers/provider.js';
import { UpstreamFailed, UpstreamNotConfigured, UpstreamUnavailable } from '../upstream/errors.js';
import type { BasicCredentials } from './basic-credentials.js';
import type { AccessEntry, GatewayTokens } from './gateway-tokens.js';
import type { TokenAnswer } from './login.js';
import type { LoginThrottle } from './login-throttle.js';
import { formatScope, type ResourceScope } from './scope.js';

export interface LoginServiceDependencies {
  /** Tried in order (identity.providers). */
  readonly providers: readonly IdentityProvider[];
  /** Signs tokens for users that static and kubernetes providers vouch for. */
  readonly gatewayTokens: GatewayTokens;
  /** What the access policy grants, for the `access` claim of a gateway token. */
  readonly policy: Pick<AccessPolicy, 'grantedActions' | 'listsWholeCatalog'>;
  readonly throttle: LoginThrottle;
  readonly now?: () => number;
}

export interface LoginResult {
  readonly answer: TokenAnswer;
  /** Who the credentials proved; undefined when nobody was verified (Katello's "unauthenticated"). */
  readonly identity: UserIdentity | undefined;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** For the request log: who tried to log in and how it ended (never the password). */
    loginLog?: { user?: string; outcome: string };
  }
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

export type LoginService = (request: FastifyRequest, credentials: BasicCredentials, scopes: readonly ResourceScope[], service: string | undefined) => Promise<LoginResult>;

export function createLoginService(deps: LoginServiceDependencies): LoginService {
  const now = deps.now ?? Date.now;

  /**
   * Each provider in turn; the first that accepts wins. A provider that cannot be asked (its
   * server is down) does not stop the others; if none accepts, its failure is the answer.
   */
  async function tryProviders(credentials: BasicCredentials, scopes: readonly ResourceScope[], service: string | undefined): Promise<LoginResult> {
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
      if (outcome.kind === 'answered') return { answer: outcome.answer, identity: outcome.identity };
      if (outcome.kind === 'anonymous') return { answer: outcome.answer, identity: undefined };
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
      return { answer: { token: issued.token, access_token: issued.token, expires_in: issued.expiresIn, issued_at: issued.issuedAt.toISOString() }, identity: outcome.identity };
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

  return async function logIn(request, credentials, scopes, service) {
    const verdict = await deps.throttle.reserve(credentials.username, request.ip, now);
    if (!verdict.allowed) {
      request.loginLog = { user: credentials.username, outcome: 'throttled' };
      throw new RegistryError('TOOMANYREQUESTS', {
        message: 'too many failed logins; try again later',
        headers: { 'retry-after': String(verdict.retryAfterSeconds) },
      });
    }
    const { attempt } = verdict;
    try {
      const result = await tryProviders(credentials, scopes, service);
      // Katello's "unauthenticated" verified nobody: the attempt neither succeeded nor failed.
      if (result.identity !== undefined) attempt.succeeded();
      else attempt.abandoned();
      request.loginLog = { user: credentials.username, outcome: result.identity !== undefined ? 'success' : 'unauthenticated' };
      return result;
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
  };
}

function loginError(error: unknown): unknown {
  if (error instanceof CredentialsRejected) return new RegistryError('UNAUTHORIZED', { message: 'invalid username or password' });
  if (error instanceof PasswordChecksBusy) return new RegistryError('UNAVAILABLE', { message: 'too many logins are being checked; try again in a moment', headers: { 'retry-after': '1' } });
  if (error instanceof UpstreamNotConfigured) return new RegistryError('UPSTREAM_UNAVAILABLE', { message: 'cannot log in: not configured (the gateway has no upstream.url for Katello logins)' });
  if (error instanceof UpstreamUnavailable) return new RegistryError('UPSTREAM_UNAVAILABLE', { message: `cannot log in: ${error.service} is unreachable` });
  if (error instanceof UpstreamFailed) return new RegistryError('UPSTREAM_ERROR', { message: `cannot log in: ${error.service} answered with an error` });
  return error;
}
