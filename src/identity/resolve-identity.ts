/**
 * resolveIdentity: the caller of a registry request, from verified credentials only, in this
 * order: a JWT the gateway signed; a user token recorded at a Katello login; a verified client certificate (a host); the gateway's
 * anonymous token; nothing. An unknown, expired or malformed token counts as no token, so public
 * pulls keep working and private ones get the login challenge. Query parameters such as
 * `account=` or `user=` are never identity.
 */
import type { FastifyRequest } from 'fastify';
import { ANONYMOUS, ANONYMOUS_WITH_TOKEN, type Identity } from '../access/identity.js';
import { AnonymousTokens } from '../token/anonymous-token.js';
import { GatewayTokens } from '../token/gateway-tokens.js';
import type { CertificateOutcome } from './client-certificate.js';
import type { KnownHosts } from './known-hosts.js';
import type { UserTokens } from './user-tokens.js';

/** Longest Authorization header considered; real tokens are far shorter. */
const MAX_TOKEN_LENGTH = 8_192;

declare module 'fastify' {
  interface FastifyRequest {
    /** Why a presented client certificate identified nobody, for the request log. */
    certificateIgnored?: string;
  }
}

/**
 * Katello's placeholders (registry_proxies_controller.rb `token`): a client that got
 * `{"token":"unauthenticated"}` sends it back as its bearer token. smart_proxy_container_gateway
 * treats both as an anonymous caller who has done the token dance; so does the gateway.
 */
function isKatelloPlaceholder(token: string): boolean {
  // Compared only with strings of their own length: no hashing of every token presented.
  return token === 'unauthenticated' || token === 'unauthorized';
}

/** token68 (RFC 7235 §2.1) characters, by character code: A–Z a–z 0–9 - . _ ~ + / (then `=` padding). */
const TOKEN68 = new Uint8Array(128);
for (const character of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/') TOKEN68[character.charCodeAt(0)] = 1;
const SPACE = 0x20;
const EQUALS = 0x3d;

/**
 * The token of an `Authorization: Bearer <token68>` header ("Bearer" in any case, spaces around
 * the token allowed), or undefined. A scan rather than a regex: this runs on every request.
 */
export function bearerTokenOf(authorization: string | undefined): string | undefined {
  if (authorization === undefined || authorization.length > MAX_TOKEN_LENGTH || authorization.length < 8) return undefined;
  for (let index = 0; index < 6; index += 1) {
    // Lower-cased by setting bit 0x20: only 'B' and 'b' (and so on) become 'b'.
    if ((authorization.charCodeAt(index) | 0x20) !== 'bearer'.charCodeAt(index)) return undefined;
  }
  // Every read below stays inside the string (past its end V8 would leave optimized code).
  const length = authorization.length;
  let index = 6;
  if (authorization.charCodeAt(index) !== SPACE) return undefined;
  while (index < length && authorization.charCodeAt(index) === SPACE) index += 1;
  const start = index;
  while (index < length && isToken68(authorization.charCodeAt(index))) index += 1;
  if (index === start) return undefined;
  while (index < length && authorization.charCodeAt(index) === EQUALS) index += 1;
  const end = index;
  while (index < length && authorization.charCodeAt(index) === SPACE) index += 1;
  return index === length ? authorization.slice(start, end) : undefined;
}

function isToken68(code: number): boolean {
  return code < 128 && TOKEN68[code] === 1;
}

export interface IdentityDependencies {
  readonly anonymousTokens: AnonymousTokens;
  readonly userTokens: UserTokens;
  readonly gatewayTokens: GatewayTokens;
  readonly readClientCertificate: (request: FastifyRequest, now: Date) => CertificateOutcome;
  readonly knownHosts: KnownHosts;
  readonly now?: () => number;
}

export function createIdentityResolver(deps: IdentityDependencies) {
  const now = deps.now ?? Date.now;

  function afterUserToken(request: FastifyRequest, user: Identity | undefined, token: string | undefined, anonymousForm: boolean, at: number): Identity | Promise<Identity> {
    if (user !== undefined) return user;
    const certificate = deps.readClientCertificate(request, new Date(at));
    if (certificate.kind === 'host') {
      const uuid = certificate.uuid;
      return deps.knownHosts.ensureKnown(uuid).then(() => ({ kind: 'host', uuid }));
    }
    if (certificate.kind === 'ignored') request.certificateIgnored = certificate.reason;
    const anonymousToken = anonymousForm && token !== undefined && (isKatelloPlaceholder(token) || deps.anonymousTokens.verify(token, at));
    return anonymousToken ? ANONYMOUS_WITH_TOKEN : ANONYMOUS;
  }

  /** Synchronous whenever the caches can answer, which is the hot path. */
  return function resolveIdentity(request: FastifyRequest): Identity | Promise<Identity> {
    const at = now();
    const token = bearerTokenOf(request.headers.authorization);
    const anonymousForm = token !== undefined && (AnonymousTokens.isAnonymousForm(token) || isKatelloPlaceholder(token));
    if (token === undefined || anonymousForm) return afterUserToken(request, undefined, token, anonymousForm, at);
    if (GatewayTokens.looksLikeJwt(token)) {
      const verified = deps.gatewayTokens.verify(token, at);
      if (verified instanceof Promise) return verified.then((user) => (user === undefined ? katelloUser(request, token, at) : user));
      if (verified !== undefined) return verified;
    }
    return katelloUser(request, token, at);
  };

  /** A token recorded at a Katello login (which may be a JWT of Katello's own). */
  function katelloUser(request: FastifyRequest, token: string, at: number): Identity | Promise<Identity> {
    const owner = deps.userTokens.ownerOf(token, at);
    const asUser = (username: string | undefined): Identity | undefined => (username === undefined ? undefined : { kind: 'user', username, provider: 'katello' });
    return typeof owner === 'object' ? owner.then((username) => afterUserToken(request, asUser(username), token, false, at)) : afterUserToken(request, asUser(owner), token, false, at);
  }
}
