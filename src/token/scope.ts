/**
 * parseScope: the `scope` parameter of the Docker token protocol, `type:name:actions`, by the
 * grammar rather than by splitting on ':' — a repository name may carry a `host:port/` prefix,
 * and `scope` may repeat. Pure.
 */
const resourceType = /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\([a-z0-9]+\))?$/;
const actions = /^(?:\*|[a-z]+(?:,[a-z]+)*)$/;
const resourceName = /^(?:[A-Za-z0-9.-]+(?::\d{1,5})?\/)?[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;

export interface ResourceScope {
  readonly type: string;
  readonly name: string;
  readonly actions: readonly string[];
}

/**
 * Bounds on what a client may ask for at once. Real clients ask for one to three scopes (a push
 * with a cross-repository mount); a repository scope with a host prefix and the longest name fits
 * in the length. Beyond them the request is refused, so a client can never build an upstream call
 * too long for the management server (or its front proxy) to take.
 */
export const MAX_SCOPES = 16;
export const MAX_SCOPE_LENGTH = 512;

export function parseScope(scope: string): ResourceScope | undefined {
  if (scope.length > MAX_SCOPE_LENGTH) return undefined;
  const firstColon = scope.indexOf(':');
  const lastColon = scope.lastIndexOf(':');
  if (firstColon <= 0 || lastColon === firstColon) return undefined;
  const type = scope.slice(0, firstColon);
  const name = scope.slice(firstColon + 1, lastColon);
  const actionList = scope.slice(lastColon + 1);
  if (!resourceType.test(type) || !actions.test(actionList)) return undefined;
  if (type === 'registry' ? name !== 'catalog' && !resourceName.test(name) : !resourceName.test(name)) return undefined;
  return { type, name, actions: actionList.split(',') };
}

/**
 * Scopes may also arrive space-separated in one parameter (OAuth2 form). More than MAX_SCOPES
 * is `tooMany`; a scope longer than MAX_SCOPE_LENGTH is invalid.
 */
export function parseScopes(values: readonly string[]): { scopes: ResourceScope[]; invalid: string[]; tooMany: boolean } {
  const scopes: ResourceScope[] = [];
  const invalid: string[] = [];
  const given = values.flatMap((v) => v.split(' ')).filter((v) => v !== '');
  if (given.length > MAX_SCOPES) return { scopes, invalid, tooMany: true };
  for (const value of given) {
    const parsed = parseScope(value);
    if (parsed === undefined) invalid.push(value);
    else scopes.push(parsed);
  }
  return { scopes, invalid, tooMany: false };
}

export function formatScope(scope: ResourceScope): string {
  return `${scope.type}:${scope.name}:${scope.actions.join(',')}`;
}
