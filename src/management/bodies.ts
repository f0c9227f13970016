/**
 * The bodies Katello's smart_proxy_container_gateway receives, as zod schemas, so Katello can drive
 * this gateway unchanged. Every problem is named by its JSON path (`repositories[3].repository:
 * ...`); a body with any problem changes nothing.
 */
import { z } from 'zod';
import { isValidRepositoryName } from '../registry/grammar.js';

const repositoryName = z.string().refine(isValidRepositoryName, { message: 'not a valid repository name (OCI distribution-spec grammar, at most 255 characters)' });

/** Katello sends "true"/"false" strings; other clients send booleans. */
const authRequired = z.union([z.boolean(), z.enum(['true', 'false']).transform((value) => value === 'true')]);

const repositoryEntry = z.object({ repository: repositoryName, auth_required: authRequired.optional() }).loose();

const userName = z.string().min(1).max(255).refine((name) => !/[\u0000-\u001f]/.test(name), { message: 'contains control characters' });
const hostUuid = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'not a valid host UUID');

export const repositoryListBody = z.object({ repositories: z.array(repositoryEntry.extend({ auth_required: authRequired })) }).loose();

export const userMappingBody = z.object({ users: z.array(z.record(userName, z.array(repositoryEntry))) }).loose();

export const hostListBody = z.object({ hosts: z.array(z.object({ uuid: hostUuid }).loose()) }).loose();

export const hostMappingBody = z.object({ hosts: z.array(z.record(hostUuid, z.array(repositoryEntry).nullable())) }).loose();

/** `path: problem` lines for the error detail, the first one for the message. */
export function describeIssues(error: z.ZodError): string[] {
  return error.issues.slice(0, 20).map((issue) => {
    const path = issue.path.reduce<string>((text, key) => (typeof key === 'number' ? `${text}[${key}]` : text === '' ? String(key) : `${text}.${String(key)}`), '');
    return `${path === '' ? '(body)' : path}: ${issue.message}`;
  });
}

/** Flattens `[{user: [repos]}, ...]` into one map; a subject named twice gets the union. */
export function mappingsOf(entries: ReadonlyArray<Record<string, ReadonlyArray<{ repository: string }> | null>>): Map<string, string[]> {
  const result = new Map<string, string[]>();
  for (const entry of entries) {
    for (const [subject, repositories] of Object.entries(entry)) {
      const list = result.get(subject) ?? [];
      for (const repository of repositories ?? []) list.push(repository.repository);
      result.set(subject, list);
    }
  }
  return result;
}
