/**
 * CG_<PATH> environment overrides (CNCF Distribution's REGISTRY_<PATH> overlay): every leaf key of
 * the schema is settable as CG_ plus its path in upper snake case, e.g. backend.clientUrl is
 * CG_BACKEND_CLIENT_URL. Names are derived from the schema itself, so a new key needs no table.
 */
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';

type LeafKind = 'string' | 'number' | 'boolean' | 'array' | 'other';

interface Leaf {
  readonly path: readonly string[];
  readonly kind: LeafKind;
  readonly nullable: boolean;
}

/** Env variables with the CG_ prefix that are not settings. */
const RESERVED = new Set(['CG_CONFIG']);

interface SchemaDef {
  readonly type: string;
  readonly innerType?: z.ZodType;
  readonly shape?: Record<string, z.ZodType>;
}

function defOf(schema: z.ZodType): SchemaDef {
  return (schema as unknown as { _zod: { def: SchemaDef } })._zod.def;
}

function leavesOf(schema: z.ZodType, path: string[] = [], nullable = false): Leaf[] {
  const def = defOf(schema);
  switch (def.type) {
    case 'object':
      return Object.entries(def.shape ?? {}).flatMap(([key, child]) => leavesOf(child, [...path, key]));
    case 'default':
    case 'prefault':
    case 'optional':
      return def.innerType === undefined ? [] : leavesOf(def.innerType, path, nullable);
    case 'nullable':
      return def.innerType === undefined ? [] : leavesOf(def.innerType, path, true);
    case 'string':
    case 'enum':
      return [{ path, kind: 'string', nullable }];
    case 'number':
      return [{ path, kind: 'number', nullable }];
    case 'boolean':
      return [{ path, kind: 'boolean', nullable }];
    case 'array':
      return [{ path, kind: 'array', nullable }];
    default:
      return [{ path, kind: 'other', nullable }];
  }
}

export function envNameOf(path: readonly string[]): string {
  return `CG_${path.map((segment) => segment.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_')}`;
}

function envValue(raw: string, leaf: Leaf): unknown {
  if (leaf.nullable && (raw === '' || raw === 'null')) return null;
  switch (leaf.kind) {
    case 'string':
      return raw;
    case 'number': {
      const value = Number(raw);
      return raw.trim() !== '' && Number.isFinite(value) ? value : raw;
    }
    case 'boolean':
      return raw === 'true' ? true : raw === 'false' ? false : raw;
    case 'array':
      if (raw.trim().startsWith('[')) return parseYaml(raw) as unknown;
      return raw.split(',').map((item) => item.trim()).filter((item) => item !== '');
    case 'other':
      return parseYaml(raw) as unknown;
  }
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  const last = path[path.length - 1];
  if (last !== undefined) node[last] = value;
}

/**
 * Returns the file settings with environment overrides applied, and one problem line for each
 * CG_ variable that names no setting (a typo would otherwise be silently ignored).
 */
export function overlayEnvironment(
  schema: z.ZodType,
  fileSettings: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
): { settings: Record<string, unknown>; problems: string[] } {
  const settings = structuredClone(fileSettings);
  const leaves = new Map(leavesOf(schema).map((leaf) => [envNameOf(leaf.path), leaf]));
  const problems: string[] = [];
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith('CG_') || RESERVED.has(name) || raw === undefined) continue;
    const leaf = leaves.get(name);
    if (leaf === undefined) {
      problems.push(`${name}: unknown setting (no configuration key has this name)`);
      continue;
    }
    try {
      setPath(settings, leaf.path, envValue(raw, leaf));
    } catch {
      problems.push(`${name}: cannot parse value`);
    }
  }
  return { settings, problems };
}
