/**
 * What a request needs, derived from the route alone (Distribution's appendAccessRecords).
 * Pull is the only action the client-facing API grants; push paths never get this far.
 */
export type RequiredAccess =
  | { readonly type: 'registry'; readonly name: 'base' | 'catalog' }
  | { readonly type: 'repository'; readonly name: string; readonly actions: readonly ['pull'] };

export function repositoryPull(name: string): RequiredAccess {
  if (name === '') throw new Error('a repository access needs a repository name');
  return { type: 'repository', name, actions: ['pull'] };
}
