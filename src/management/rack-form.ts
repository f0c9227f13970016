/**
 * parseRackForm: an `application/x-www-form-urlencoded` body read the way Rack reads it
 * (rack/lib/rack/query_parser.rb `parse_nested_query`), because that is the only reading
 * Katello's pushes were ever written for.
 *
 * Katello's ProxyAPI::ContainerGateway hands a Ruby Hash to rest-client 2.1, whose
 * `Utils.flatten_params` turns it into Rack-style nested keys: `repositories[][repository]=a%2Fb&
 * repositories[][auth_required]=true`, with an empty array or nil below the top level sent as a
 * bare key (`users[][bob]`, `hosts[][uuid]`, `repositories`). smart_proxy_container_gateway
 * (Sinatra on Rack) then sees `{"repositories" => [{"repository" => "a/b", ...}]}`. The one rule that
 * matters most: `x[][k]=…` adds `k` to the array's last hash unless that hash already has `k`, in
 * which case it starts a new hash.
 *
 * Stricter than Rack where Rack would guess: an invalid percent escape, invalid UTF-8, an overlong
 * key or value, nesting deeper than Rack's limit, a key used as two different types, brackets that
 * do not pair up (`a[b`, `a]`, `a[[b]]`, which Rack reads as odd names) and a list or hash given
 * again as a plain value (`users[][a]=x&users`, which Rack lets wipe the list) are all
 * FormBodyInvalid (a 400 at the edge), never a partial result. rest-client never writes any of
 * these. Hashes have no prototype, so a key such as `__proto__` is only a key.
 */

export type FormValue = string | null | FormValue[] | FormHash;
export interface FormHash {
  [key: string]: FormValue;
}

export class FormBodyInvalid extends Error {}

/** Rack 3's default `param_depth_limit`. */
const DEPTH_LIMIT = 32;
/** No key Katello sends comes near this (a 255-character name inside a few brackets). */
export const MAX_KEY_LENGTH = 2_048;
/** Repository names and host UUIDs are short; anything longer is not a Katello push. */
export const MAX_VALUE_LENGTH = 8_192;
/** A name, then any number of `[...]` groups without brackets inside. */
const BALANCED_KEY = /^[^[\]]+(?:\[[^[\]]*\])*$/;

export function parseRackForm(body: string): FormHash {
  const params = newHash();
  for (const pair of pairsOf(body)) addPair(params, pair);
  return params;
}

/** Pairs read between two turns of the event loop. */
const PAIRS_PER_SLICE = 5_000;

/** parseRackForm for big bodies (a sync push of every repository): the event loop runs between slices. */
export async function parseRackFormInSlices(body: string): Promise<FormHash> {
  const params = newHash();
  const pairs = pairsOf(body);
  for (let start = 0; start < pairs.length; start += PAIRS_PER_SLICE) {
    if (start > 0) await new Promise((resolve) => setImmediate(resolve));
    for (const pair of pairs.slice(start, start + PAIRS_PER_SLICE)) addPair(params, pair);
  }
  return params;
}

/** Rack splits on `&` and the spaces after it (its DEFAULT_SEP). */
function pairsOf(body: string): string[] {
  return body.split(/& */).filter((pair) => pair !== '');
}

function addPair(params: FormHash, pair: string): void {
  const mark = pair.indexOf('=');
  const rawKey = mark === -1 ? pair : pair.slice(0, mark);
  if (rawKey.length > MAX_KEY_LENGTH * 3) throw new FormBodyInvalid(`a key is longer than ${MAX_KEY_LENGTH} characters`);
  const key = unescapeComponent(rawKey);
  if (key.length > MAX_KEY_LENGTH) throw new FormBodyInvalid(`a key is longer than ${MAX_KEY_LENGTH} characters`);
  if (!BALANCED_KEY.test(key)) throw new FormBodyInvalid(`the brackets of the key "${preview(key)}" do not pair up`);
  let value: string | null = null;
  if (mark !== -1) {
    const rawValue = pair.slice(mark + 1);
    if (rawValue.length > MAX_VALUE_LENGTH * 3) throw new FormBodyInvalid(`the value of "${preview(key)}" is longer than ${MAX_VALUE_LENGTH} characters`);
    value = unescapeComponent(rawValue);
    if (value.length > MAX_VALUE_LENGTH) throw new FormBodyInvalid(`the value of "${preview(key)}" is longer than ${MAX_VALUE_LENGTH} characters`);
  }
  normalize(params, key, value, 0);
}

/**
 * Ruby's URI.decode_www_form_component, failing on what it fails on (a `%` without two hex
 * digits) and, unlike it, on bytes that are not UTF-8: such a body is not text Katello wrote.
 */
function unescapeComponent(text: string): string {
  if (!text.includes('%') && !text.includes('+')) return text;
  if (/%(?![0-9A-Fa-f]{2})/.test(text)) throw new FormBodyInvalid(`invalid percent-encoding in "${preview(text)}"`);
  try {
    return decodeURIComponent(text.replaceAll('+', ' '));
  } catch {
    throw new FormBodyInvalid(`percent-encoded bytes that are not UTF-8 in "${preview(text)}"`);
  }
}

function preview(text: string): string {
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}

function newHash(): FormHash {
  return Object.create(null) as FormHash;
}

function isHash(value: FormValue | undefined): value is FormHash {
  return value !== null && value !== undefined && typeof value === 'object' && !Array.isArray(value);
}

/** Ruby's `params[k] ||= default`: nil counts as absent. */
function orDefault(params: FormHash, key: string, fresh: () => FormValue): FormValue {
  const current = params[key];
  if (current === null || current === undefined) {
    const created = fresh();
    params[key] = created;
    return created;
  }
  return current;
}

function expectArray(value: FormValue, key: string): FormValue[] {
  if (!Array.isArray(value)) throw new FormBodyInvalid(`expected a list for "${preview(key)}", got ${kindOf(value)}`);
  return value;
}

function kindOf(value: FormValue): string {
  return value === null ? 'nothing' : typeof value === 'string' ? 'a string' : Array.isArray(value) ? 'a list' : 'a hash';
}

/**
 * Rack's `_normalize_params`, step for step (same names, same branches), returning what Ruby
 * returns: the params hash, an array for a trailing `[]` below the top, or null where Ruby's
 * method returns nil (an empty key).
 */
function normalize(params: FormHash, name: string, value: string | null, depth: number): FormValue {
  if (depth >= DEPTH_LIMIT) throw new FormBodyInvalid(`keys nest deeper than ${DEPTH_LIMIT} levels`);
  let key: string;
  let after: string;
  if (depth === 0) {
    // At the start a leading `[` is part of the name.
    const start = name.indexOf('[', 1);
    if (start !== -1) {
      key = name.slice(0, start);
      after = name.slice(start);
    } else {
      key = name;
      after = '';
    }
  } else if (name.startsWith('[]')) {
    key = '[]';
    after = name.slice(2);
  } else if (name.startsWith('[') && name.indexOf(']', 1) !== -1) {
    const end = name.indexOf(']', 1);
    key = name.slice(1, end);
    after = name.slice(end + 1);
  } else {
    key = name;
    after = '';
  }
  if (key === '') return null;

  if (after === '') {
    if (key === '[]' && depth !== 0) return [value];
    const current = params[key];
    if (current !== undefined && current !== null && typeof current === 'object') throw new FormBodyInvalid(`"${preview(key)}" is given as a list or hash and again as a value`);
    params[key] = value;
  } else if (after === '[') {
    params[name] = value;
  } else if (after === '[]') {
    expectArray(orDefault(params, key, () => []), key).push(value);
  } else if (after.startsWith('[]')) {
    // `x[][y]`: a hash inside an array; anything else after `[]` nests as written.
    const inner = after.slice(3, after.length - 1);
    const childKey = after[2] === '[' && after.endsWith(']') && inner !== '' && !inner.includes('[') && !inner.includes(']') ? inner : after.slice(2);
    const list = expectArray(orDefault(params, key, () => []), key);
    const last = list[list.length - 1];
    if (isHash(last) && !hashHasKey(last, childKey)) normalize(last, childKey, value, depth + 1);
    else list.push(normalize(newHash(), childKey, value, depth + 1));
  } else {
    const child = orDefault(params, key, newHash);
    if (!isHash(child)) throw new FormBodyInvalid(`expected a hash for "${preview(key)}", got ${kindOf(child)}`);
    params[key] = normalize(child, after, value, depth + 1);
  }
  return params;
}

/** Rack's `params_hash_has_key?`: does the hash already hold this (possibly nested) key? */
function hashHasKey(hash: FormHash, key: string): boolean {
  if (key.includes('[]')) return false;
  let current: FormValue = hash;
  for (const part of key.split(/[[\]]+/)) {
    if (part === '') continue;
    if (!isHash(current) || !Object.hasOwn(current, part)) return false;
    current = current[part] as FormValue;
  }
  return true;
}
