/**
 * The `static` provider's access rules, as a pure function: who (subjects) may do what
 * (actions) where (repository globs). Actions of every matching rule add up; nothing matches,
 * nothing is granted.
 *
 * Subjects: a user or robot name (users the static provider vouched for), `group:NAME` (members
 * listed in the config, or a group a Kubernetes review reported), `authenticated` (any caller
 * that is not anonymous: users of every provider, and hosts), `anonymous` (everyone).
 */
import picomatch from 'picomatch';
import type { Identity } from './identity.js';
import type { RepositoryAction } from './required-access.js';

export interface StaticRule {
  readonly subjects: readonly string[];
  readonly repositories: readonly string[];
  readonly actions: readonly RepositoryAction[];
}

export interface CompiledRules {
  actionsFor(identity: Identity, repository: string): readonly RepositoryAction[];
}

const NOTHING: readonly RepositoryAction[] = Object.freeze([]);

export function compileRules(rules: readonly StaticRule[], groups: Readonly<Record<string, readonly string[]>>): CompiledRules {
  const compiled = rules.map((rule) => ({
    subjects: new Set(rule.subjects),
    matches: picomatch([...rule.repositories], { dot: true }),
    actions: rule.actions,
  }));
  const groupsOfUser = new Map<string, string[]>();
  for (const [group, members] of Object.entries(groups)) {
    for (const member of members) groupsOfUser.set(member, [...(groupsOfUser.get(member) ?? []), group]);
  }

  function subjectsOf(identity: Identity): string[] {
    switch (identity.kind) {
      case 'anonymous':
        return ['anonymous'];
      case 'host':
        return ['anonymous', 'authenticated'];
      case 'user': {
        const names = ['anonymous', 'authenticated', ...(identity.groups ?? []).map((group) => `group:${group}`)];
        if (identity.provider === 'static') {
          names.push(identity.username, ...(groupsOfUser.get(identity.username) ?? []).map((group) => `group:${group}`));
        }
        return names;
      }
    }
  }

  return {
    actionsFor(identity, repository) {
      if (compiled.length === 0) return NOTHING;
      const subjects = subjectsOf(identity);
      const granted = new Set<RepositoryAction>();
      for (const rule of compiled) {
        if (subjects.some((subject) => rule.subjects.has(subject)) && rule.matches(repository)) for (const action of rule.actions) granted.add(action);
      }
      return granted.size === 0 ? NOTHING : [...granted];
    },
  };
}
