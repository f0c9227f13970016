/**
 * The configuration reference (docs/configuration.md), generated from the schema itself: every
 * key with its environment variable, type, default and the description the schema carries. A
 * key added without a description shows up in `keysWithoutDescription`, which a test keeps
 * empty; `npm run docs:config` rewrites the file, and a test fails when the committed one is stale.
 */
import { z } from 'zod';
import { envNameOf } from './env-overlay.js';
import { configSchema } from './schema.js';

/** The subset of JSON Schema that zod emits for this schema. */
interface JsonSchema {
  readonly type?: string | readonly string[];
  readonly description?: string;
  readonly default?: unknown;
  readonly properties?: Record<string, JsonSchema>;
  readonly required?: readonly string[];
  readonly items?: JsonSchema;
  readonly anyOf?: readonly JsonSchema[];
  readonly enum?: readonly unknown[];
  readonly minimum?: number;
  readonly maximum?: number;
  readonly exclusiveMinimum?: number;
  readonly additionalProperties?: boolean | JsonSchema;
}

export interface ReferenceEntry {
  /** Dotted path; `[]` marks the fields of each element of a list. */
  readonly path: string;
  /** The CG_* variable that sets it, when one does (not for the fields of list elements). */
  readonly env: string | undefined;
  readonly type: string;
  /** The default as YAML would write it, or undefined when there is none. */
  readonly defaultValue: string | undefined;
  /** Set when the key must be given whenever its parent is. */
  readonly requiredIn: string | undefined;
  readonly description: string | undefined;
}

export interface ReferenceSection {
  readonly key: string;
  readonly description: string | undefined;
  readonly entries: readonly ReferenceEntry[];
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

export function configurationSections(): ReferenceSection[] {
  const root = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  return Object.entries(root.properties ?? {}).map(([key, section]) => ({
    key,
    description: section.description,
    entries: entriesOf(section, [key], false),
  }));
}

/** Every key (and section) whose schema carries no description: a test keeps this empty. */
export function keysWithoutDescription(): string[] {
  return configurationSections().flatMap((section) => [
    ...(section.description === undefined ? [section.key] : []),
    ...section.entries.filter((entry) => entry.description === undefined).map((entry) => entry.path),
  ]);
}

function entriesOf(schema: JsonSchema, path: readonly string[], inListElement: boolean): ReferenceEntry[] {
  const properties = unwrapNull(schema).inner.properties ?? {};
  const required = new Set(unwrapNull(schema).inner.required ?? []);
  const parent = path.join('.');
  return Object.entries(properties).flatMap(([key, child]) => {
    const childPath = [...path, key];
    const { inner, nullable } = unwrapNull(child);
    const own: ReferenceEntry = {
      path: childPath.join('.').replace('.[]', '[]'),
      env: inListElement || isPlainObject(inner) ? undefined : envNameOf(childPath),
      type: isPlainObject(inner) && child.default === undefined ? 'optional section' : typeOf(inner) + (nullable ? ' or null' : ''),
      defaultValue: child.default === undefined || isPlainObject(inner) ? undefined : JSON.stringify(child.default),
      requiredIn: required.has(key) && child.default === undefined ? parent.replace('.[]', '[]') : undefined,
      description: child.description ?? inner.description,
    };
    if (isPlainObject(inner)) return [own, ...entriesOf(inner, childPath, inListElement)];
    const element = inner.type === 'array' && inner.items !== undefined ? unwrapNull(inner.items).inner : undefined;
    if (element !== undefined && isPlainObject(element)) return [own, ...entriesOf(element, [...childPath, '[]'], true)];
    return [own];
  });
}

function unwrapNull(schema: JsonSchema): { inner: JsonSchema; nullable: boolean } {
  if (Array.isArray(schema.type)) {
    const types = schema.type.filter((type) => type !== 'null');
    const [only] = types;
    if (types.length === 1 && only !== undefined) return { inner: { ...schema, type: only }, nullable: types.length < schema.type.length };
  }
  const options = schema.anyOf;
  if (options === undefined) return { inner: schema, nullable: false };
  const notNull = options.filter((option) => option.type !== 'null');
  const only = notNull[0];
  if (notNull.length === 1 && only !== undefined) return { inner: { ...only, ...(schema.description === undefined ? {} : { description: schema.description }) }, nullable: notNull.length < options.length };
  return { inner: schema, nullable: false };
}

/** An object with named keys (a section), as opposed to a map of any names. */
function isPlainObject(schema: JsonSchema): boolean {
  return schema.type === 'object' && schema.properties !== undefined;
}

function typeOf(schema: JsonSchema): string {
  if (schema.enum !== undefined) return schema.enum.map((value) => `\`${String(value)}\``).join(' \\| ');
  switch (schema.type) {
    case 'string':
      return 'string';
    case 'boolean':
      return 'boolean';
    case 'integer':
    case 'number':
      return `${schema.type === 'integer' ? 'integer' : 'number'}${rangeOf(schema)}`;
    case 'array':
      return `list of ${schema.items === undefined ? 'values' : plural(typeOf(unwrapNull(schema.items).inner))}`;
    case 'object':
      if (schema.properties !== undefined) return 'section';
      if (typeof schema.additionalProperties === 'object') return `map of name → ${typeOf(schema.additionalProperties)}`;
      return 'map';
    default:
      return 'value';
  }
}

function plural(type: string): string {
  if (type === 'section') return 'objects';
  if (type.startsWith('`') || type.startsWith('list')) return type;
  return type.replace(/^(string|integer|number|boolean)/, '$1s');
}

function rangeOf(schema: JsonSchema): string {
  const low = schema.exclusiveMinimum !== undefined ? `> ${schema.exclusiveMinimum}` : schema.minimum !== undefined ? `≥ ${schema.minimum}` : undefined;
  const high = schema.maximum !== undefined && schema.maximum < MAX_SAFE ? `≤ ${schema.maximum}` : undefined;
  const parts = [low, high].filter((part): part is string => part !== undefined);
  return parts.length === 0 ? '' : `, ${parts.join(', ')}`;
}

const PREAMBLE = `# Configuration reference

<!-- Generated from src/config/schema.ts by \`npm run docs:config\`. Edit the descriptions there, not here. -->

The gateway reads one YAML file: the one given with \`--config FILE\`, else the one named by the
\`CG_CONFIG\` environment variable, else \`config/gateway.yaml\` in the working directory if it exists,
else nothing (built-in defaults). \`config/gateway.example.yaml\` is a commented starting point.

Every key can also be set by an environment variable: \`CG_\` followed by the key's path in upper
snake case (\`backend.clientUrl\` is \`CG_BACKEND_CLIENT_URL\`). A variable wins over the file. Lists
are comma-separated (\`CG_MANAGEMENT_TOKENS=secret-one,secret-two\`) or YAML flow style; maps and lists
of objects are YAML flow style
(\`CG_IDENTITY_STATIC_RULES='[{subjects: [anonymous], repositories: ["public/**"], actions: [pull]}]'\`).

Unknown keys and unknown \`CG_\` variables are errors: the gateway exits with code 2 and one line per
problem, naming the key. \`container-gateway check\` shows how the configuration is understood and
whether everything it names answers. SIGHUP re-reads the file and takes the TLS certificates,
management secrets, static users, robots, groups and rules from it; every other key needs a restart.
`;

export function renderConfigurationReference(): string {
  const sections = configurationSections();
  const lines: string[] = [PREAMBLE, '## Sections', ''];
  for (const section of sections) lines.push(`- [\`${section.key}\`](#${section.key}): ${section.description ?? ''}`);
  lines.push('');
  for (const section of sections) {
    lines.push(`## ${section.key}`, '', section.description ?? '', '');
    for (const entry of section.entries) {
      const facts = [
        entry.env === undefined ? undefined : `\`${entry.env}\``,
        entry.type,
        entry.requiredIn === undefined ? undefined : `required in \`${entry.requiredIn}\``,
        entry.defaultValue === undefined ? undefined : `default \`${entry.defaultValue}\``,
      ].filter((fact): fact is string => fact !== undefined);
      lines.push(`### \`${entry.path}\``, '', facts.join(' · '), '', entry.description ?? '', '');
    }
  }
  return `${lines.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd()}\n`;
}
