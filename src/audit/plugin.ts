/**
 * The audit log: every access decision that denies a repository, every login (success or failure,
 * who and from where, never the password), every manifest or blob deleted (who, which, by what
 * reference) and every management update (who, which endpoint, what changed as counts). One JSON
 * line each with `audit: true`, to stdout or a file (audit.destination), separate from the request
 * log so it can be kept longer.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import pino, { type Logger } from 'pino';
import type { Identity } from '../access/identity.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the management API after a write: the endpoint and what changed. */
    managementChange?: Record<string, unknown>;
  }
}

export function createAuditLogger(destination: string, stream?: NodeJS.WritableStream): Logger | undefined {
  if (destination === 'off') return undefined;
  const target = stream ?? (destination === 'stdout' ? pino.destination(1) : pino.destination({ dest: destination, mkdir: true, sync: false }));
  return pino({ base: { audit: true }, timestamp: pino.stdTimeFunctions.isoTime, messageKey: 'event' }, target);
}

function who(identity: Identity | undefined): Record<string, string> {
  if (identity === undefined) return { identity: 'unresolved' };
  switch (identity.kind) {
    case 'user':
      return { identity: 'user', user: identity.username };
    case 'host':
      return { identity: 'host', host: identity.uuid };
    case 'anonymous':
      return { identity: 'anonymous' };
  }
}

function pathOf(request: FastifyRequest): string {
  const url = request.raw.url ?? '';
  const mark = url.indexOf('?');
  return mark === -1 ? url : url.slice(0, mark);
}

const auditPlugin: FastifyPluginAsync<{ audit: Logger }> = async (app, { audit }) => {
  app.addHook('onResponse', (request, reply, done) => {
    // The 401 on `GET /v2/` is how every client starts its token dance, not a refusal worth auditing.
    if (request.accessLog?.decision === 'deny' && request.accessLog.repository !== undefined) {
      audit.info({ ...who(request.identity), repository: request.accessLog.repository, reason: request.accessLog.reason, method: request.method, path: pathOf(request), status: reply.statusCode, address: request.ip }, 'access denied');
    }
    if (request.loginLog !== undefined && request.loginLog.outcome !== 'anonymous') {
      audit.info({ user: request.loginLog.user, outcome: request.loginLog.outcome, status: reply.statusCode, address: request.ip }, 'login');
    }
    if (request.deletion !== undefined) {
      audit.info({ ...who(request.identity), repository: request.deletion.repository, reference: request.deletion.reference, status: reply.statusCode, address: request.ip }, 'deleted');
    }
    if (request.managementChange !== undefined) {
      audit.info({ by: request.managementCaller?.name, address: request.ip, ...request.managementChange }, 'management update');
    }
    done();
  });
};

export default fp(auditPlugin, { name: 'audit', fastify: '5.x' });
