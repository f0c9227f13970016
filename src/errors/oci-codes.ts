/**
 * The one table of error codes the gateway puts on the wire.
 *
 * Spec codes come from the OCI distribution-spec ("Error Codes") and CNCF Distribution's errcode
 * package; the rest are ours and say which part of the chain failed, so an operator reading a
 * client's error knows whether to look at the backend registry, the management server or the
 * gateway. Every error body is `{"errors":[{"code","message","detail"}]}`.
 */
export interface OciErrorDescriptor {
  readonly code: string;
  readonly message: string;
  readonly status: number;
}

function descriptor(code: string, status: number, message: string): OciErrorDescriptor {
  return { code, status, message };
}

export const OciCodes = {
  BLOB_UNKNOWN: descriptor('BLOB_UNKNOWN', 404, 'blob unknown to registry'),
  BLOB_UPLOAD_INVALID: descriptor('BLOB_UPLOAD_INVALID', 400, 'blob upload invalid'),
  BLOB_UPLOAD_UNKNOWN: descriptor('BLOB_UPLOAD_UNKNOWN', 404, 'blob upload unknown to registry'),
  DIGEST_INVALID: descriptor('DIGEST_INVALID', 400, 'provided digest did not match uploaded content'),
  MANIFEST_BLOB_UNKNOWN: descriptor('MANIFEST_BLOB_UNKNOWN', 404, 'manifest references a blob unknown to the registry'),
  MANIFEST_INVALID: descriptor('MANIFEST_INVALID', 400, 'manifest invalid'),
  MANIFEST_UNKNOWN: descriptor('MANIFEST_UNKNOWN', 404, 'manifest unknown to registry'),
  NAME_INVALID: descriptor('NAME_INVALID', 400, 'invalid repository name'),
  NAME_UNKNOWN: descriptor('NAME_UNKNOWN', 404, 'repository name not known to registry'),
  SIZE_INVALID: descriptor('SIZE_INVALID', 400, 'provided length did not match content length'),
  TAG_INVALID: descriptor('TAG_INVALID', 400, 'invalid tag or digest reference'),
  PAGINATION_NUMBER_INVALID: descriptor('PAGINATION_NUMBER_INVALID', 400, 'invalid number of results requested'),
  RANGE_INVALID: descriptor('RANGE_INVALID', 416, 'invalid content range'),
  UNAUTHORIZED: descriptor('UNAUTHORIZED', 401, 'authentication required'),
  DENIED: descriptor('DENIED', 403, 'requested access to the resource is denied'),
  UNSUPPORTED: descriptor('UNSUPPORTED', 405, 'the operation is unsupported'),
  TOOMANYREQUESTS: descriptor('TOOMANYREQUESTS', 429, 'too many requests'),
  UNAVAILABLE: descriptor('UNAVAILABLE', 503, 'service unavailable'),
  UNKNOWN: descriptor('UNKNOWN', 500, 'unknown error'),
  // Ours.
  NOT_FOUND: descriptor('NOT_FOUND', 404, 'no such endpoint'),
  BAD_REQUEST: descriptor('BAD_REQUEST', 400, 'malformed request'),
  BODY_INVALID: descriptor('BODY_INVALID', 400, 'request body invalid'),
  // 400 rather than 413: every bad management body answers 400, whatever was wrong with it.
  BODY_TOO_LARGE: descriptor('BODY_TOO_LARGE', 400, 'request body too large'),
  BACKEND_UNREACHABLE: descriptor('BACKEND_UNREACHABLE', 502, 'the backend registry could not be reached'),
  BACKEND_ERROR: descriptor('BACKEND_ERROR', 502, 'the backend registry answered with an error'),
  BACKEND_TIMEOUT: descriptor('BACKEND_TIMEOUT', 504, 'the backend registry did not answer in time'),
  UPSTREAM_UNAVAILABLE: descriptor('UPSTREAM_UNAVAILABLE', 503, 'the management server could not be reached'),
  UPSTREAM_ERROR: descriptor('UPSTREAM_ERROR', 502, 'the management server answered with an error'),
} as const satisfies Record<string, OciErrorDescriptor>;

export type OciCode = keyof typeof OciCodes;

export function isOciCode(code: string): code is OciCode {
  return Object.hasOwn(OciCodes, code);
}
