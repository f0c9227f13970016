/**
 * The bodies Katello pushes, as zod schemas that read the JSON form and the Rack form
 * (rack-form.ts) alike, with smart_proxy_container_gateway's tolerance rules
 * (container_gateway_api.rb, container_gateway_main.rb):
 *  - a missing list, or one sent as a bare key (rest-client's encoding of [] and nil), is empty;
 *  - host UUIDs that are nil, empty or blank, and host entries without one, are skipped;
 *  - `auth_required` is true for `true`/`"true"` in any case and false for `false`/`"false"`.
 * Stricter where KCG would store garbage or fail halfway: a repository-list entry without a
 * recognisable `auth_required` is refused rather than made public, and a bad repository name is
 * refused rather than stored. Every problem is named by its path (`repositories[3].repository:
 * ...`); a body with any problem changes nothing.
 */
import { z } from 'zod';
import { isValidRepositoryName } from '../registry/grammar.js';

const repositoryName = z.string().refine(isValidRepositoryName, { message: 'not a valid repository name (OCI distribution-spec grammar, at most 255 characters)' });

const authFlag = z.union([z.boolean(), z.string().regex(/^(?:true|false)$/i, 'must be true or false')], { error: 'must be true or false' }).transform((value) => value === true || (typeof value === 'string' && value.toLowerCase() === 'true'));

/** Absent, JSON null and a Rack bare key all mean "none". */
const listOf = <T extends z.ZodType>(item: T) =>
  z
    .array(item)
    .nullish()
    .transform((items) => items ?? []);

const repositoryEntry = z.object({ repository: repositoryName, auth_required: authFlag }).loose();

/** In mappings the flag is optional; an entry marked public is not a mapping (KCG keeps only "true" ones). */
const mappingEntry = z.object({ repository: repositoryName, auth_required: authFlag.optional() }).loose();

const userName = z.string().min(1).max(255).refine((name) => !/[\u0000-\u001f\u007f]/.test(name), { message: 'contains control characters' });

/** Candlepin consumer UUIDs; other non-blank values are skipped and counted, never stored. */
const HOST_UUID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export const repositoryListBody = z.object({ repositories: listOf(repositoryEntry) }).loose();

export const userMappingBody = z.object({ users: listOf(z.record(userName, listOf(mappingEntry))) }).loose();

export const hostListBody = z.object({ hosts: listOf(z.object({ uuid: z.string().nullish() }).loose()) }).loose();

export const hostMappingBody = z.object({ hosts: listOf(z.record(z.string(), listOf(mappingEntry))) }).loose();

/** `path: problem` lines for the error detail, the first one for the message. */
export function describeIssues(error: z.ZodError): string[] {
  return error.issues.slice(0, 20).map((issue) => {
    const path = issue.path.reduce<string>((text, key) => (typeof key === 'number' ? `${text}[${key}]` : text === '' ? String(key) : `${text}.${String(key)}`), '');
    return `${path === '' ? '(body)' : path}: ${issue.message}`;
  });
}

export interface HostSelection {
  readonly uuids: ReadonlySet<string>;
  /** Non-blank values that are not host UUIDs. */
  readonly skipped: number;
}

/** The hosts of an update_hosts push: blank and missing UUIDs skipped as KCG does. */
export function hostsOf(entries: ReadonlyArray<{ uuid?: string | null | undefined }>): HostSelection {
  const uuids = new Set<string>();
  let skipped = 0;
  for (const { uuid } of entries) {
    const trimmed = uuid?.trim() ?? '';
    if (trimmed === '') continue;
    if (HOST_UUID.test(trimmed)) uuids.add(trimmed);
    else skipped += 1;
  }
  return { uuids, skipped };
}

export interface MappingSelection {
  readonly mappings: ReadonlyMap<string, string[]>;
  /** Subjects left out: non-blank host keys that are not host UUIDs. */
  readonly skipped: number;
}

type MappingEntries = ReadonlyArray<Record<string, ReadonlyArray<{ repository: string; auth_required?: boolean | undefined }>>>;

/**
 * Flattens `[{subject: [entries]}, ...]` into one map; a subject named twice gets the union.
 * With `hostKeys`, blank keys are skipped and keys that are not host UUIDs skipped and counted.
 */
export function mappingsOf(entries: MappingEntries, options: { hostKeys: boolean }): MappingSelection {
  const mappings = new Map<string, string[]>();
  let skipped = 0;
  for (const entry of entries) {
    for (const [rawSubject, repositories] of Object.entries(entry)) {
      const subject = options.hostKeys ? rawSubject.trim() : rawSubject;
      if (options.hostKeys && subject === '') continue;
      if (options.hostKeys && !HOST_UUID.test(subject)) {
        skipped += 1;
        continue;
      }
      const list = mappings.get(subject) ?? [];
      for (const repository of repositories) if (repository.auth_required !== false) list.push(repository.repository);
      mappings.set(subject, list);
    }
  }
  return { mappings, skipped };
}
