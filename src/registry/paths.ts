/**
 * parseRegistryPath: the client-facing URL space, as one pure function.
 *
 * Repository names contain slashes, so the router hands us the raw path and we match the
 * endpoint suffix from the right, exactly as CNCF Distribution's route regexes do. Anything that
 * could make the gateway and the backend disagree about which repository a path names
 * (percent-encoding, `.`/`..` segments, empty segments) is refused before matching, so a path
 * trick can never reach the backend under a name the access decision did not see.
 */
import { RegistryError } from '../errors/registry-error.js';
import { isValidDigest, isValidRepositoryName, isValidTag } from './grammar.js';

export type RegistryPath =
  | { readonly kind: 'base' }
  | { readonly kind: 'catalog' }
  | { readonly kind: 'manifest'; readonly name: string; readonly reference: string; readonly byDigest: boolean }
  | { readonly kind: 'blob'; readonly name: string; readonly digest: string }
  | { readonly kind: 'tags'; readonly name: string }
  | { readonly kind: 'referrers'; readonly name: string; readonly digest: string }
  | { readonly kind: 'upload'; readonly name: string };

/** Longest path accepted: a 255-character name plus the longest endpoint suffix fits easily. */
const MAX_PATH_LENGTH = 1024;

const endpointPatterns: ReadonlyArray<{ kind: 'manifest' | 'blob' | 'tags' | 'referrers' | 'upload'; regex: RegExp }> = [
  { kind: 'upload', regex: /^\/v2\/(.+)\/blobs\/uploads(?:\/[^/]*)?$/ },
  { kind: 'manifest', regex: /^\/v2\/(.+)\/manifests\/([^/]+)$/ },
  { kind: 'blob', regex: /^\/v2\/(.+)\/blobs\/([^/]+)$/ },
  { kind: 'tags', regex: /^\/v2\/(.+)\/tags\/list$/ },
  { kind: 'referrers', regex: /^\/v2\/(.+)\/referrers\/([^/]+)$/ },
];

/**
 * Splits a raw request target into its path and query string, without decoding either. The
 * absolute form (`GET http://host/v2/... HTTP/1.1`, RFC 9112 §3.2.2) is reduced to its path.
 */
export function splitUrl(rawUrl: string): { path: string; query: string } {
  const target = rawUrl.startsWith('/') ? rawUrl : originFormOf(rawUrl);
  const mark = target.indexOf('?');
  return mark === -1 ? { path: target, query: '' } : { path: target.slice(0, mark), query: target.slice(mark + 1) };
}

function originFormOf(absolute: string): string {
  const match = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*(.*)$/.exec(absolute);
  const rest = match?.[1] ?? absolute;
  return rest.startsWith('/') ? rest : `/${rest}`;
}

export function parseRegistryPath(path: string): RegistryPath {
  if (path === '/v2/' || path === '/v2') return { kind: 'base' };
  if (path === '/v2/_catalog') return { kind: 'catalog' };
  rejectPathTricks(path);

  for (const { kind, regex } of endpointPatterns) {
    const match = regex.exec(path);
    if (match === null) continue;
    const name = match[1] ?? '';
    if (!isValidRepositoryName(name)) {
      throw new RegistryError('NAME_INVALID', { detail: { name: name.slice(0, 300) } });
    }
    const last = match[2] ?? '';
    switch (kind) {
      case 'upload':
        return { kind, name };
      case 'tags':
        return { kind, name };
      case 'manifest':
        const byDigest = isValidDigest(last);
        if (!byDigest && !isValidTag(last)) {
          // No manifest can have this reference, so it is unknown (the spec's code for a bad reference).
          throw new RegistryError('MANIFEST_UNKNOWN', {
            message: 'invalid manifest reference: neither a tag nor a digest',
            detail: { reference: last.slice(0, 300) },
          });
        }
        return { kind, name, reference: last, byDigest };
      case 'blob':
      case 'referrers':
        if (!isValidDigest(last)) throw new RegistryError('DIGEST_INVALID', { message: 'invalid digest', detail: { digest: last.slice(0, 300) } });
        return { kind, name, digest: last };
    }
  }
  throw new RegistryError('NOT_FOUND');
}

/**
 * Percent-escapes and backslashes (no legitimate name, tag or digest contains either), and empty,
 * "." or ".." segments. The upload endpoint is the one path the spec writes with a trailing slash.
 */
const PATH_TRICK = /%|\\|\/\/|\/\.\.?(?:\/|$)|\/$/;

function rejectPathTricks(path: string): void {
  if (path.length > MAX_PATH_LENGTH) {
    throw new RegistryError('NAME_INVALID', { message: 'path too long' });
  }
  const checked = path.endsWith('/blobs/uploads/') ? path.slice(0, -1) : path;
  if (!PATH_TRICK.test(checked)) return;
  if (path.includes('%') || path.includes('\\')) {
    throw new RegistryError('NAME_INVALID', { message: 'percent-encoded or escaped characters are not allowed in repository paths' });
  }
  throw new RegistryError('NAME_INVALID', { message: 'empty, "." or ".." path segments are not allowed' });
}
