/**
 * Reading the bodies Katello pushes — the JSON form and the Rack form (rack-form.ts) alike — into
 * what the store writes, with smart_proxy_container_gateway's tolerance rules
 * (container_gateway_api.rb, container_gateway_main.rb):
 *  - a missing list, or one sent as a bare key (rest-client's encoding of [] and nil), is empty;
 *  - host UUIDs that are nil, empty or blank, and host entries without one, are skipped;
 *  - `auth_required` is true for `true`/`"true"` in any case and false for `false`/`"false"`.
 * Stricter where KCG would store garbage or fail halfway: a repository-list entry without a
 * recognisable `auth_required` is refused rather than made public, a repository listed as public
 * and private at once is refused, and a bad repository name is refused rather than stored.
 *
 * Every problem is named by its path (`repositories[3].repository: ...`, at most 20 of them); a
 * body with any problem changes nothing (BodyProblems, a 400 at the edge). A sync push can hold
 * hundreds of thousands of entries, so entries are checked a slice at a time with the event loop
 * served in between: pulls do not wait for a big push to be read.
 */
import { z } from 'zod';
import { isValidRepositoryName } from '../registry/grammar.js';

const repositoryName = z.string().refine(isValidRepositoryName, { message: 'not a valid repository name (OCI distribution-spec grammar, at most 255 characters)' });

const authFlag = z.union([z.boolean(), z.string().regex(/^(?:true|false)$/i, 'must be true or false')], { error: 'must be true or false' }).transform((value) => value === true || (typeof value === 'string' && value.toLowerCase() === 'true'));

const repositoryEntry = z.object({ repository: repositoryName, auth_required: authFlag }).loose();

/** In mappings the flag is optional; an entry marked public is not a mapping (KCG keeps only "true" ones). */
const mappingEntry = z.object({ repository: repositoryName, auth_required: authFlag.optional() }).loose();

const userName = z.string().min(1).max(255).refine((name) => !/[\u0000-\u001f\u007f]/.test(name), { message: 'contains control characters' });

/** Candlepin consumer UUIDs; other non-blank values are skipped and counted, never stored. */
const HOST_UUID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

const MAX_PROBLEMS = 20;
/** Entries checked between two turns of the event loop (a few milliseconds of work). */
const ENTRIES_PER_SLICE = 2_000;

/** What is wrong with a body, as `path: problem` lines. */
export class BodyProblems extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems[0] ?? 'request body invalid');
  }
}

class ProblemList {
  readonly lines: string[] = [];
  add(path: string, message: string): void {
    if (this.lines.length < MAX_PROBLEMS) this.lines.push(`${path}: ${message}`);
  }
  addIssues(path: string, error: z.ZodError): void {
    for (const issue of error.issues) this.add(issue.path.reduce<string>((text, key) => (typeof key === 'number' ? `${text}[${key}]` : `${text}.${String(key)}`), path), issue.message);
  }
  get full(): boolean {
    return this.lines.length >= MAX_PROBLEMS;
  }
  throwIfAny(): void {
    if (this.lines.length > 0) throw new BodyProblems(this.lines);
  }
}

/** Counts entries and lets the event loop run after every slice of them. */
class Slicer {
  private done = 0;
  async next(): Promise<void> {
    this.done += 1;
    if (this.done % ENTRIES_PER_SLICE === 0) await new Promise((resolve) => setImmediate(resolve));
  }
}

function isHash(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function rootOf(body: unknown): Record<string, unknown> {
  if (!isHash(body)) throw new BodyProblems(['(body): expected a form-encoded (application/x-www-form-urlencoded) or JSON object body']);
  return body;
}

/** Absent, JSON null and a Rack bare key all mean "none". */
function listAt(value: unknown, path: string, problems: ProblemList): readonly unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    problems.add(path, 'expected a list');
    return [];
  }
  return value;
}

/** PUT /repository_list: every repository and whether it needs a login. */
export async function readRepositoryList(body: unknown): Promise<Map<string, boolean>> {
  const problems = new ProblemList();
  const slicer = new Slicer();
  const entries = new Map<string, boolean>();
  for (const [index, item] of listAt(rootOf(body).repositories, 'repositories', problems).entries()) {
    const parsed = repositoryEntry.safeParse(item);
    if (!parsed.success) problems.addIssues(`repositories[${index}]`, parsed.error);
    // Fail closed: a repository both public and private in one push is a broken push, not a coin toss.
    else if (entries.get(parsed.data.repository) === !parsed.data.auth_required) problems.add(`repositories[${index}].auth_required`, `contradicts an earlier entry for ${parsed.data.repository}`);
    else entries.set(parsed.data.repository, parsed.data.auth_required);
    if (problems.full) break;
    await slicer.next();
  }
  problems.throwIfAny();
  return entries;
}

export interface HostSelection {
  readonly uuids: ReadonlySet<string>;
  /** Non-blank values that are not host UUIDs. */
  readonly skipped: number;
}

/** PUT /update_hosts: blank and missing UUIDs skipped as KCG does. */
export async function readHosts(body: unknown): Promise<HostSelection> {
  const problems = new ProblemList();
  const slicer = new Slicer();
  const uuids = new Set<string>();
  let skipped = 0;
  for (const [index, host] of listAt(rootOf(body).hosts, 'hosts', problems).entries()) {
    const uuid = isHash(host) ? host.uuid : undefined;
    if (!isHash(host)) problems.add(`hosts[${index}]`, 'expected a hash such as {"uuid": "..."}');
    else if (uuid !== undefined && uuid !== null && typeof uuid !== 'string') problems.add(`hosts[${index}].uuid`, 'expected a string');
    else {
      const trimmed = uuid?.trim() ?? '';
      if (trimmed !== '' && HOST_UUID.test(trimmed)) uuids.add(trimmed);
      else if (trimmed !== '') skipped += 1;
    }
    if (problems.full) break;
    await slicer.next();
  }
  problems.throwIfAny();
  return { uuids, skipped };
}

export interface MappingSelection {
  readonly mappings: ReadonlyMap<string, string[]>;
  /** Subjects left out: non-blank host keys that are not host UUIDs. */
  readonly skipped: number;
}

/** PUT /user_repository_mapping: `{"users":[{"<user>":[entries]}]}`; a user named twice gets the union. */
export function readUserMappings(body: unknown): Promise<MappingSelection> {
  return readMappings(rootOf(body).users, 'users', false);
}

/**
 * PUT /host_repository_mapping and /update_host_repositories: `{"hosts":[{"<uuid>":[entries]}]}`;
 * blank host keys are skipped, keys that are not host UUIDs skipped and counted.
 */
export function readHostMappings(body: unknown): Promise<MappingSelection> {
  return readMappings(rootOf(body).hosts, 'hosts', true);
}

async function readMappings(value: unknown, key: 'users' | 'hosts', hostKeys: boolean): Promise<MappingSelection> {
  const problems = new ProblemList();
  const slicer = new Slicer();
  const mappings = new Map<string, string[]>();
  let skipped = 0;
  for (const [index, element] of listAt(value, key, problems).entries()) {
    if (!isHash(element)) {
      problems.add(`${key}[${index}]`, `expected a hash of ${hostKeys ? 'host UUIDs' : 'user names'} to repository lists`);
      continue;
    }
    for (const [rawSubject, repositories] of Object.entries(element)) {
      const path = `${key}[${index}].${rawSubject.slice(0, 100)}`;
      const subject = hostKeys ? rawSubject.trim() : rawSubject;
      if (hostKeys && subject === '') continue;
      if (hostKeys && !HOST_UUID.test(subject)) {
        skipped += 1;
        continue;
      }
      if (!hostKeys) {
        const name = userName.safeParse(subject);
        if (!name.success) problems.addIssues(path, name.error);
      }
      const names = mappings.get(subject) ?? [];
      for (const [position, item] of listAt(repositories, path, problems).entries()) {
        const parsed = mappingEntry.safeParse(item);
        if (!parsed.success) problems.addIssues(`${path}[${position}]`, parsed.error);
        else if (parsed.data.auth_required !== false) names.push(parsed.data.repository);
        if (problems.full) break;
        await slicer.next();
      }
      mappings.set(subject, names);
      if (problems.full) break;
      // Per subject too: a push of many hosts with empty lists has no entries to slice by.
      await slicer.next();
    }
    if (problems.full) break;
  }
  problems.throwIfAny();
  return { mappings, skipped };
}
