import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rewriteLocation } from '../../../src/backend/content.js';

describe('rewriteLocation (redirect mode, backend.clientUrl)', () => {
  const target = new URL('http://pulp-content:24816/pulp/container/org/app/blobs/sha256:ab?validate=1');
  it('keeps the Location as it is without clientUrl', () => assert.equal(rewriteLocation(target, null), target.href));
  it('replaces scheme, host and port', () => {
    assert.equal(rewriteLocation(target, new URL('https://lb.example.test')), 'https://lb.example.test/pulp/container/org/app/blobs/sha256:ab?validate=1');
  });
  it('puts a clientUrl path in front', () => {
    assert.equal(rewriteLocation(target, new URL('https://lb.example.test:8443/content/')), 'https://lb.example.test:8443/content/pulp/container/org/app/blobs/sha256:ab?validate=1');
  });
});
