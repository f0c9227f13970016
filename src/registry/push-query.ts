/**
 * What a push request may carry to the backend: only values the gateway has checked. CNCF
 * Distribution reads `mount`, `from` and `digest` with Go's `r.FormValue`, which parses a
 * form-encoded (or multipart) body too and prefers its values to the query's, and takes the
 * first of repeated parameters. So a body the backend could read as a form, or a parameter the
 * gateway did not look at, could name another repository than the one the access decision saw
 * (a private blob mounted into the caller's repository). Pure; the registry plugin applies it.
 */
import { RegistryError } from '../errors/registry-error.js';
import { isValidDigest } from './grammar.js';

/** Bodies Go's ParseForm / ParseMultipartForm would read as form values. */
const FORM_MEDIA_TYPES: ReadonlySet<string> = new Set(['application/x-www-form-urlencoded', 'multipart/form-data']);

export type PushRequestKind = 'upload-start' | 'upload-session' | 'manifest';

/** The parameters each kind of push request needs at the backend; everything else stays behind. */
const FORWARDED_PARAMETERS: Readonly<Record<PushRequestKind, readonly string[]>> = {
  // POST /blobs/uploads/: a cross-repository mount, or a monolithic upload's digest.
  'upload-start': ['mount', 'from', 'digest'],
  // PATCH/PUT/GET/DELETE on an upload: Distribution's signed state, and the digest that completes it.
  'upload-session': ['_state', 'digest'],
  manifest: [],
};

const DIGEST_PARAMETERS: ReadonlySet<string> = new Set(['mount', 'digest']);

/** The media type of a Content-Type header as Go's mime.ParseMediaType sees it: before `;`, trimmed, lower case. */
export function mediaTypeOf(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/** Refuses a push body the backend could parse as form values. */
export function refuseFormBody(contentType: string | undefined): void {
  const mediaType = mediaTypeOf(contentType);
  if (FORM_MEDIA_TYPES.has(mediaType)) {
    throw new RegistryError('BAD_REQUEST', {
      message: 'push requests may not carry a form-encoded or multipart body',
      detail: { contentType: mediaType },
    });
  }
}

/**
 * The query to forward, rebuilt from the parameters this kind of request needs, each given at
 * most once and well formed. A repeated parameter is refused (the gateway and the backend could
 * read different copies); a mount without its source (or the reverse) is no mount.
 */
export function checkPushQuery(kind: PushRequestKind, query: URLSearchParams): Map<string, string> {
  const checked = new Map<string, string>();
  for (const name of FORWARDED_PARAMETERS[kind]) {
    const values = query.getAll(name);
    if (values.length === 0) continue;
    if (values.length > 1) throw new RegistryError('BAD_REQUEST', { message: `the parameter "${name}" is given more than once` });
    const value = values[0] ?? '';
    if (DIGEST_PARAMETERS.has(name) && !isValidDigest(value)) {
      throw new RegistryError('DIGEST_INVALID', { message: `the parameter "${name}" is not a valid digest`, detail: { [name]: value.slice(0, 300) } });
    }
    checked.set(name, value);
  }
  if (checked.has('mount') !== checked.has('from')) {
    checked.delete('mount');
    checked.delete('from');
  }
  return checked;
}

/** Which kind of push request a path and method are (the upload endpoint itself, or one upload). */
export function pushRequestKind(path: string, isUpload: boolean): PushRequestKind {
  if (!isUpload) return 'manifest';
  return /\/blobs\/uploads\/?$/.test(path) ? 'upload-start' : 'upload-session';
}
