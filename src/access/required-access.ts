/**
 * What a request needs, derived from the route alone (Distribution's appendAccessRecords):
 * reads need pull; uploads and manifest PUTs need pull and push; deletes need pull and delete
 * (pull too: a caller who may not see a repository learns nothing about it, not even by deleting).
 */
export type RepositoryAction = 'pull' | 'push' | 'delete';

export const REPOSITORY_ACTIONS: readonly RepositoryAction[] = Object.freeze(['pull', 'push', 'delete']);

export function isRepositoryAction(value: string): value is RepositoryAction {
  return (REPOSITORY_ACTIONS as readonly string[]).includes(value);
}

export interface RepositoryAccess {
  readonly type: 'repository';
  readonly name: string;
  readonly actions: readonly RepositoryAction[];
}

export type RequiredAccess = { readonly type: 'registry'; readonly name: 'base' | 'catalog' } | RepositoryAccess;

const PULL: readonly RepositoryAction[] = Object.freeze(['pull']);
const PULL_PUSH: readonly RepositoryAction[] = Object.freeze(['pull', 'push']);
const PULL_DELETE: readonly RepositoryAction[] = Object.freeze(['pull', 'delete']);

export function repositoryPull(name: string): RepositoryAccess {
  return repositoryAccess(name, PULL);
}

export function repositoryPush(name: string): RepositoryAccess {
  return repositoryAccess(name, PULL_PUSH);
}

export function repositoryDelete(name: string): RepositoryAccess {
  return repositoryAccess(name, PULL_DELETE);
}

function repositoryAccess(name: string, actions: readonly RepositoryAction[]): RepositoryAccess {
  if (name === '') throw new Error('a repository access needs a repository name');
  return { type: 'repository', name, actions };
}
