/**
 * The identity hook: resolves the caller once per request, before routing reaches a handler,
 * and exposes it as `request.identity`. Handlers read only that, never credentials.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Identity } from '../access/identity.js';

declare module 'fastify' {
  interface FastifyRequest {
    identity: Identity;
  }
}

export type IdentityResolver = (request: FastifyRequest) => Identity | Promise<Identity>;

const identityPlugin: FastifyPluginAsync<{ resolveIdentity: IdentityResolver }> = async (app, options) => {
  app.decorateRequest('identity', null as never);
  // A callback hook, not an async one: most requests resolve synchronously from the caches.
  app.addHook('onRequest', (request, _reply, done) => {
    let resolved: Identity | Promise<Identity>;
    try {
      resolved = options.resolveIdentity(request);
    } catch (error) {
      done(error as Error);
      return;
    }
    if (resolved instanceof Promise) {
      resolved.then(
        (identity) => {
          request.identity = identity;
          done();
        },
        (error: Error) => done(error),
      );
      return;
    }
    request.identity = resolved;
    done();
  });
};

export default fp(identityPlugin, { name: 'identity', fastify: '5.x' });
