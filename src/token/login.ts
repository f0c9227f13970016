/**
 * loginUser: one `podman login` — ask upstream for the user's token and repositories, then
 * record the token's checksum, its expiry and the mapping in one transaction. Nothing is stored
 * unless both upstream calls succeeded.
 */
import type { GatewayStore } from '../store/gateway-store.js';
import type { AccessFactsCache } from '../store/access-facts-cache.js';
import type { UserTokens } from '../identity/user-tokens.js';
import type { UpstreamClient } from '../upstream/katello-client.js';
import { basicAuthorization, type BasicCredentials } from './basic-credentials.js';
import { tokenChecksum } from './checksum.js';

/** Clients refresh tokens that live less than this; shorter upstream lifetimes are raised to it. */
export const MIN_TOKEN_SECONDS = 60;

export interface TokenAnswer {
  readonly token: string;
  readonly access_token: string;
  readonly expires_in: number;
  readonly issued_at: string;
}

export interface LoginDependencies {
  readonly upstream: UpstreamClient;
  readonly store: GatewayStore;
  readonly facts: AccessFactsCache;
  readonly userTokens: UserTokens;
  readonly now?: () => number;
}

/**
 * How a Katello login ended: the user's own token (recorded), Katello's "unauthenticated"
 * placeholder (passed to the client as smart_proxy_container_gateway passes it, recording
 * nothing: the client then pulls what anonymous callers may), or its "unauthorized" one.
 */
export type KatelloLogin = { readonly kind: 'user' | 'unauthenticated'; readonly answer: TokenAnswer } | { readonly kind: 'unauthorized' };

/** Katello's own lifetime for its placeholder (registry_proxies_controller.rb: 3.minutes.from_now). */
const PLACEHOLDER_SECONDS = 180;

export async function loginUser(deps: LoginDependencies, credentials: BasicCredentials): Promise<KatelloLogin> {
  const authorization = basicAuthorization(credentials);
  // The account is the Basic user, never the client's `account` parameter (containerd, crane and flatpak send none).
  const upstreamToken = await deps.upstream.login(authorization, credentials.username);
  const now = (deps.now ?? Date.now)();
  if (upstreamToken.kind === 'unauthorized') return { kind: 'unauthorized' };
  if (upstreamToken.kind === 'unauthenticated') {
    const answer = { token: 'unauthenticated', access_token: 'unauthenticated', expires_in: PLACEHOLDER_SECONDS, issued_at: new Date(now).toISOString() };
    return { kind: 'unauthenticated', answer };
  }
  const repositories = await deps.upstream.catalogForUser(authorization);

  const issuedAt = upstreamToken.issuedAt !== undefined && upstreamToken.issuedAt.getTime() <= now + 60_000 ? upstreamToken.issuedAt.getTime() : now;
  const expiresIn = Math.max(upstreamToken.expiresInSeconds ?? MIN_TOKEN_SECONDS, MIN_TOKEN_SECONDS);
  const expiresAt = Math.max(issuedAt + expiresIn * 1000, now + MIN_TOKEN_SECONDS * 1000);
  const checksum = tokenChecksum(upstreamToken.token);

  await deps.store.recordLogin({ username: credentials.username, tokenChecksum: checksum, expiresAt, repositories });
  deps.userTokens.remember(checksum, { username: credentials.username, expiresAt });
  deps.facts.invalidateCaller({ kind: 'user', username: credentials.username, provider: 'katello' });

  const answeredExpiresIn = Math.max(MIN_TOKEN_SECONDS, Math.floor((expiresAt - now) / 1000));
  return {
    kind: 'user',
    answer: { token: upstreamToken.token, access_token: upstreamToken.token, expires_in: answeredExpiresIn, issued_at: new Date(now).toISOString() },
  };
}
