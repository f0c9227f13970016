/** The checked query of push requests (src/registry/push-query.ts), as rules. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkPushQuery, pushRequestKind, refuseFormBody } from '../../../src/registry/push-query.js';
import { RegistryError } from '../../../src/errors/registry-error.js';

const D = `sha256:${'a'.repeat(64)}`;
const query = (text: string) => new URLSearchParams(text);
const codeOf = (work: () => unknown) => {
  try {
    work();
    return 'none';
  } catch (error) {
    return error instanceof RegistryError ? error.code : 'other';
  }
};

describe('checkPushQuery', () => {
  const cases: Array<[string, Parameters<typeof checkPushQuery>[0], string, Record<string, string> | string]> = [
    ['an upload start keeps a mount and its source', 'upload-start', `mount=${D}&from=a/b`, { mount: D, from: 'a/b' }],
    ['an upload start keeps a monolithic digest', 'upload-start', `digest=${D}`, { digest: D }],
    ['unknown parameters are dropped', 'upload-start', `mount=${D}&from=a/b&extra=1&_state=x`, { mount: D, from: 'a/b' }],
    ['a mount without its source is no mount', 'upload-start', `mount=${D}`, {}],
    ['a source without a mount is no mount', 'upload-start', 'from=a/b', {}],
    ['a repeated from is refused', 'upload-start', `mount=${D}&from=a/b&from=c/d`, 'BAD_REQUEST'],
    ['a repeated mount is refused', 'upload-start', `mount=${D}&mount=${D}&from=a/b`, 'BAD_REQUEST'],
    ['a malformed mount digest is refused', 'upload-start', 'mount=sha256:zz&from=a/b', 'DIGEST_INVALID'],
    ['an upload session keeps its state and digest', 'upload-session', `_state=abc&digest=${D}`, { _state: 'abc', digest: D }],
    ['an upload session never forwards a mount', 'upload-session', `_state=abc&mount=${D}&from=a/b`, { _state: 'abc' }],
    ['a repeated digest on an upload session is refused', 'upload-session', `digest=${D}&digest=${D}`, 'BAD_REQUEST'],
    ['a manifest PUT forwards no query', 'manifest', `digest=${D}&tag=x`, {}],
  ];
  for (const [rule, kind, text, expected] of cases) {
    it(rule, () => {
      if (typeof expected === 'string') assert.equal(codeOf(() => checkPushQuery(kind, query(text))), expected);
      else assert.deepEqual(Object.fromEntries(checkPushQuery(kind, query(text))), expected);
    });
  }
});

describe('refuseFormBody and pushRequestKind', () => {
  it('form and multipart bodies are refused in any spelling; others pass', () => {
    for (const type of ['application/x-www-form-urlencoded', 'Application/X-WWW-Form-URLEncoded ; charset=utf-8', 'multipart/form-data; boundary=x']) assert.equal(codeOf(() => refuseFormBody(type)), 'BAD_REQUEST', type);
    for (const type of [undefined, '', 'application/octet-stream', 'application/vnd.oci.image.manifest.v1+json', 'multipart/mixed']) assert.equal(codeOf(() => refuseFormBody(type)), 'none', String(type));
  });
  it('the upload endpoint itself is an upload start; one upload is a session', () => {
    assert.equal(pushRequestKind('/v2/a/b/blobs/uploads/', true), 'upload-start');
    assert.equal(pushRequestKind('/v2/a/b/blobs/uploads/0f1e-uuid', true), 'upload-session');
    assert.equal(pushRequestKind('/v2/a/b/manifests/v1', false), 'manifest');
  });
});
