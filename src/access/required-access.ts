/**
 * What a request needs, derived from the route alone (Distribution's appendAccessRecords):
 * reads need pull; uploads and manifest PUTs need pull and push.
 */
export type RepositoryAction = 'pull' | 'push';

export type RequiredAccess =
  | { readonly type: 'registry'; readonly name: 'base' | 'catalog' }
  | { readonly type: 'repository'; readonly name: string; readonly actions: readonly RepositoryAction[] };

const PULL: readonly RepositoryAction[] = Object.freeze(['pull']);
const PULL_PUSH: readonly RepositoryAction[] = Object.freeze(['pull', 'push']);

export function repositoryPull(name: string): RequiredAccess {
  return repositoryAccess(name, PULL);
}

export function repositoryPush(name: string): RequiredAccess {
  return repositoryAccess(name, PULL_PUSH);
}

function repositoryAccess(name: string, actions: readonly RepositoryAction[]): RequiredAccess {
  if (name === '') throw new Error('a repository access needs a repository name');
  return { type: 'repository', name, actions };
}
