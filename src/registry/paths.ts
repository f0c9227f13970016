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

type EndpointKind = 'manifest' | 'blob' | 'tags' | 'referrers' | 'upload';

const UPLOADS = '/blobs/uploads';
const TAGS_LIST = '/tags/list';

/**
 * The endpoint a path names, read from its right end as Distribution's route regexes match
 * (`^/v2/(.+)/blobs/uploads(/[^/]*)?$`, `^/v2/(.+)/manifests/([^/]+)$`, ... tried in that order,
 * the name as long as it can be): the last segment is the argument, the one before it the
 * endpoint, everything between `/v2/` and that the repository name. One pass over the path
 * instead of up to five regexes with backtracking (a blob path cost 0.9 µs that way).
 */
function matchEndpoint(path: string): { kind: EndpointKind; name: string; last: string } | undefined {
  if (!path.startsWith('/v2/')) return undefined;
  if (path.endsWith(UPLOADS)) return nameBefore(path, path.length - UPLOADS.length, 'upload', '');
  const lastSlash = path.lastIndexOf('/');
  const last = path.slice(lastSlash + 1);
  if (path.startsWith(UPLOADS, lastSlash - UPLOADS.length)) return nameBefore(path, lastSlash - UPLOADS.length, 'upload', last);
  if (last === '') return undefined;
  if (path.endsWith(TAGS_LIST)) return nameBefore(path, path.length - TAGS_LIST.length, 'tags', '');
  const endpointSlash = path.lastIndexOf('/', lastSlash - 1);
  const kind = endpointNamed(path.slice(endpointSlash + 1, lastSlash));
  return kind === undefined ? undefined : nameBefore(path, endpointSlash, kind, last);
}

/** The endpoint whose argument follows this segment. */
function endpointNamed(segment: string): EndpointKind | undefined {
  switch (segment) {
    case 'manifests':
      return 'manifest';
    case 'blobs':
      return 'blob';
    case 'referrers':
      return 'referrers';
    default:
      return undefined;
  }
}

/** The name is `/v2/` up to `end`, and must not be empty. */
function nameBefore(path: string, end: number, kind: EndpointKind, last: string): { kind: EndpointKind; name: string; last: string } | undefined {
  return end > 4 ? { kind, name: path.slice(4, end), last } : undefined;
}

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

  const endpoint = matchEndpoint(path);
  if (endpoint !== undefined) {
    const { kind, name, last } = endpoint;
    if (!isValidRepositoryName(name)) {
      throw new RegistryError('NAME_INVALID', { detail: { name: name.slice(0, 300) } });
    }
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
