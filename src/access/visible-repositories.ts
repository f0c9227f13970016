/**
 * visibleRepositories: what a caller may list — every public repository plus those mapped to it,
 * sorted, without duplicates. Pure; the inputs come from the facts cache.
 */
import { compareCodeUnits } from '../registry/pagination.js';

export function visibleRepositories(publicSorted: readonly string[], mapped: readonly string[]): readonly string[] {
  if (mapped.length === 0) return publicSorted;
  const merged = new Set(publicSorted);
  for (const name of mapped) merged.add(name);
  return [...merged].sort(compareCodeUnits);
}
