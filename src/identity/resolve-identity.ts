/**
 * resolveIdentity: the caller of a registry request, from verified credentials only.
 * A Bearer token is either the gateway's anonymous token or a user token recorded at login.
 * Anything else (no header, Basic, an unknown, expired or malformed token) is the anonymous
 * caller without a token: public pulls keep working and private ones get the login challenge.
 * Query parameters such as `account=` or `user=` are never identity.
 */
import type { FastifyRequest } from 'fastify';
import { ANONYMOUS, ANONYMOUS_WITH_TOKEN, type Identity } from '../access/identity.js';
import { AnonymousTokens } from '../token/anonymous-token.js';
import type { UserTokens } from './user-tokens.js';

/** Longest Authorization header considered; real tokens are far shorter. */
const MAX_TOKEN_LENGTH = 8_192;

export function bearerTokenOf(authorization: string | undefined): string | undefined {
  if (authorization === undefined || authorization.length > MAX_TOKEN_LENGTH) return undefined;
  const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(authorization);
  return match?.[1];
}

export function createIdentityResolver(deps: { anonymousTokens: AnonymousTokens; userTokens: UserTokens; now?: () => number }) {
  const now = deps.now ?? Date.now;
  return async function resolveIdentity(request: FastifyRequest): Promise<Identity> {
    const token = bearerTokenOf(request.headers.authorization);
    if (token === undefined) return ANONYMOUS;
    const at = now();
    if (AnonymousTokens.isAnonymousForm(token)) return deps.anonymousTokens.verify(token, at) ? ANONYMOUS_WITH_TOKEN : ANONYMOUS;
    const username = await deps.userTokens.ownerOf(token, at);
    return username === undefined ? ANONYMOUS : { kind: 'user', username };
  };
}
