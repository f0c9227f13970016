/**
 * IdentityProvider: one way of proving who a user is at `/v2/token`, and of saying what that
 * user may do. `identity.providers` lists them in order; a login tries each until one accepts.
 *
 * - `katello` answers with the management server's own token (what Katello's proxies do).
 * - `static` and `kubernetes` answer with a JWT the gateway signs (token/gateway-tokens.ts).
 */
import type { HasCaches } from '../caches/bounded-cache.js';
import type { ProviderName, Identity, UserIdentity } from '../access/identity.js';
import type { RepositoryAction } from '../access/required-access.js';
import type { GatewayConfig } from '../config/compiled.js';
import type { BasicCredentials } from '../token/basic-credentials.js';
import type { TokenAnswer } from '../token/login.js';

export interface LoginRequest {
  readonly scopes: readonly string[];
  readonly service?: string;
}

export type LoginOutcome =
  /** The provider answered the client itself (Katello's token). */
  | { readonly kind: 'answered'; readonly identity: UserIdentity; readonly answer: TokenAnswer }
  /** The provider vouched for the user; the gateway issues its own token. */
  | { readonly kind: 'accepted'; readonly identity: UserIdentity }
  /** The provider answered with a token for anonymous access (Katello's "unauthenticated"); nobody was verified. */
  | { readonly kind: 'anonymous'; readonly answer: TokenAnswer }
  /** `counted: false`: not a failed password as far as the login throttle goes (Katello's "unauthorized" placeholder). */
  | { readonly kind: 'rejected'; readonly counted?: boolean };

export interface IdentityProvider {
  readonly name: ProviderName;
  /** Throws UpstreamUnavailable / UpstreamFailed when the provider's server cannot answer. */
  login(credentials: BasicCredentials, request: LoginRequest): Promise<LoginOutcome>;
  /**
   * Of `wanted`, the actions this provider grants `identity` on `repository` (beyond the
   * repository list's public and mapped repositories, which apply to everyone).
   */
  actionsFor(identity: Identity, repository: string, wanted: readonly RepositoryAction[]): readonly RepositoryAction[] | Promise<readonly RepositoryAction[]>;
  /**
   * Whether a token for `identity` may carry `registry:catalog:*`, which lets a registry that
   * trusts the gateway's tokens list everything it holds. Only machine accounts: the gateway's own
   * catalog is filtered per caller, a registry's is not.
   */
  listsWholeCatalog?(identity: UserIdentity): boolean;
  /** Its bounded caches (review answers), for the metrics and the sweep. */
  readonly caches?: HasCaches['caches'];
  /** SIGHUP: take users and rules from a reloaded configuration (htpasswd edited, a rule added). */
  reload?(config: GatewayConfig['identity']): void;
}
