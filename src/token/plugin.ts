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
import { RegistryError } from '../errors/registry-error.js';
import type { AnonymousTokens } from './anonymous-token.js';
import { parseBasicAuthorization, type BasicCredentials } from './basic-credentials.js';
import type { KeyRing } from './key-ring.js';
import type { TokenAnswer } from './login.js';
import type { LoginService } from './login-service.js';
import { MAX_SCOPE_LENGTH, MAX_SCOPES, parseScopes } from './scope.js';

export const ANONYMOUS_TOKEN_SECONDS = 300;

export interface TokenDependencies {
  /** A login with Basic credentials: throttle, providers, the token to answer. */
  readonly logIn: LoginService;
  /** Its keys, published for registries that verify the gateway's tokens themselves. */
  readonly keyRing: KeyRing;
  readonly anonymousTokens: AnonymousTokens;
  readonly now?: () => number;
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
    return (await deps.logIn(request, credentials, scopes, service)).answer;
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

export default tokenPlugin;
