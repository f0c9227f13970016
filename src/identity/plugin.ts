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
  app.addHook('onRequest', async (request) => {
    request.identity = await options.resolveIdentity(request);
  });
};

export default fp(identityPlugin, { name: 'identity', fastify: '5.x' });
