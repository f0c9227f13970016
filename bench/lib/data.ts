/**
 * data.ts — the repositories, users and management bodies the bench pushes (the same bodies Katello sends
 * to smart_proxy_container_gateway).
 */

export const REPOS = {
  public: 'bench/public',
  private: 'bench/private',
  big: 'bench/big',
} as const;

/** A static-provider robot (issue 7): its pulls carry a JWT the gateway signed. */
export const JWT_ROBOT = { name: 'bench-robot', password: 'bench-robot-secret' } as const;

export const BENCH_USER = { name: 'bench-user', password: 'bench-user-password' } as const;
export const CATALOG_USER = { name: 'catalog-user', password: 'catalog-user-password' } as const;

export const TAG = '1';

interface RepositoryEntry {
  repository: string;
  auth_required: boolean | 'true' | 'false';
}

/** The three repositories that exist in the registry; `bench/public` needs no authentication. */
export function realRepositories(): RepositoryEntry[] {
  return [
    { repository: REPOS.public, auth_required: false },
    { repository: REPOS.private, auth_required: true },
    { repository: REPOS.big, auth_required: true },
  ];
}

export function smallRepositoryList(): string {
  return JSON.stringify({ repositories: realRepositories() });
}

export function smallUserMapping(): string {
  return JSON.stringify({
    users: [{ [BENCH_USER.name]: [REPOS.private, REPOS.big].map((repository) => ({ repository, auth_required: 'true' })) }],
  });
}

export interface BigData {
  totalRepositories: number;
  /** Names of the synthetic repositories (not in the registry). */
  synthetic: string[];
  /** What catalog-user sees: 10,000 synthetic repositories spread evenly (plus bench/public, which is unauthenticated). */
  catalogUserRepositories: string[];
  repositoryListBody: string;
  userMappingBody: string;
  users: number;
  reposPerUser: number;
}

/**
 * `totalRepositories` repositories (the real three plus synthetic ones, auth_required as the string "true"
 * the way Katello's JSON often has it), `users` users with `reposPerUser` synthetic repositories each, plus
 * bench-user (its real repositories) and catalog-user (`catalogUserRepositories` synthetic ones, spread evenly).
 */
export function bigData(totalRepositories = 100_000, users = 10_000, reposPerUser = 20, catalogUserRepositories = 10_000): BigData {
  const syntheticCount = totalRepositories - realRepositories().length;
  const synthetic = Array.from({ length: syntheticCount }, (_, i) => `bench/synthetic/r${String(i).padStart(6, '0')}`);
  const step = Math.max(1, Math.floor(syntheticCount / catalogUserRepositories));
  const catalogUser = synthetic.filter((_, i) => i % step === 0).slice(0, catalogUserRepositories);
  const repositoryListBody = JSON.stringify({
    repositories: [...realRepositories(), ...synthetic.map((repository) => ({ repository, auth_required: 'true' }))],
  });
  const mapping: Array<Record<string, Array<{ repository: string; auth_required: string }>>> = [];
  const entry = (repository: string): { repository: string; auth_required: string } => ({ repository, auth_required: 'true' });
  mapping.push({ [BENCH_USER.name]: [REPOS.private, REPOS.big].map(entry) });
  mapping.push({ [CATALOG_USER.name]: catalogUser.map(entry) });
  for (let u = 0; u < users; u++) {
    const repos: Array<{ repository: string; auth_required: string }> = [];
    for (let k = 0; k < reposPerUser; k++) repos.push(entry(synthetic[(u * reposPerUser + k) % syntheticCount] ?? ''));
    mapping.push({ [`user${String(u).padStart(5, '0')}`]: repos });
  }
  return {
    totalRepositories,
    synthetic,
    catalogUserRepositories: catalogUser,
    repositoryListBody,
    userMappingBody: JSON.stringify({ users: mapping }),
    users,
    reposPerUser,
  };
}
