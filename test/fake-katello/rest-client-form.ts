/**
 * encodeRestClientForm: the body rest-client 2.1 sends for a Ruby Hash payload, which is how
 * every Katello → smart proxy push travels (Foreman's ProxyAPI::Resource#put hands the Hash to
 * RestClient::Resource#put; RestClient::Payload.generate picks UrlEncoded for a Hash without
 * files). Written from rest-client's lib/restclient/utils.rb:
 *  - `flatten_params`: nested keys as `parent[key]`, array items as `parent[]`; an empty array or
 *    hash below the top level becomes `[parent_key, nil]`; every hash key is escaped on its own
 *    (the brackets around it are not);
 *  - `encode_query_string`: `key=value`, or the bare key when the value is nil;
 *  - `escape`: Ruby's URI.encode_www_form_component (all bytes but `*-.0-9A-Z_a-z` as %XX in upper
 *    case, space as `+`).
 * Ruby's `to_s` turns true/false/numbers into their text; Ruby symbols are written as strings here.
 */
export type RubyValue = string | number | boolean | null | readonly RubyValue[] | { readonly [key: string]: RubyValue };

export function encodeRestClientForm(payload: { readonly [key: string]: RubyValue }): string {
  return flattenParams(payload, undefined)
    .map(([key, value]) => (value === null ? key : `${key}=${value}`))
    .join('&');
}

function flattenParams(object: RubyValue, parentKey: string | undefined): Array<[string, string | null]> {
  const isArray = Array.isArray(object);
  if (object === null || typeof object !== 'object') throw new Error('flatten_params expects a Hash or, below the top, an Array');
  const entries: Array<[string | undefined, RubyValue]> = isArray ? (object as readonly RubyValue[]).map((item) => [undefined, item]) : Object.entries(object);
  if (entries.length === 0 && parentKey !== undefined) return [[parentKey, null]];
  const result: Array<[string, string | null]> = [];
  for (const [key, value] of entries) {
    const escapedKey = key === undefined ? '' : escape(key);
    const processedKey = parentKey === undefined ? escapedKey : `${parentKey}[${escapedKey}]`;
    if (value !== null && typeof value === 'object') for (const pair of flattenParams(value, processedKey)) result.push(pair);
    else result.push([processedKey, value === null ? null : escape(String(value))]);
  }
  return result;
}

/** Ruby's URI.encode_www_form_component. */
export function escape(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const char = String.fromCharCode(byte);
    if (/[*\-.0-9A-Z_a-z]/.test(char)) out += char;
    else if (char === ' ') out += '+';
    else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
