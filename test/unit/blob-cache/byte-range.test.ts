/** decideRange (src/blob-cache/byte-range.ts): what a Range header gets from the gateway's own copy of a blob. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decideRange, type RangeDecision } from '../../../src/blob-cache/byte-range.js';

const ETAG = '"sha256:abc"';
const SIZE = 1000;

describe('decideRange', () => {
  const cases: Array<[string, string | undefined, string | undefined, RangeDecision]> = [
    ['no Range: the whole blob', undefined, undefined, { kind: 'whole' }],
    ['a closed range', 'bytes=0-9', undefined, { kind: 'partial', start: 0, end: 9 }],
    ['an open range runs to the end', 'bytes=990-', undefined, { kind: 'partial', start: 990, end: 999 }],
    ['an end beyond the blob is cut to its last byte', 'bytes=500-5000', undefined, { kind: 'partial', start: 500, end: 999 }],
    ['a suffix is the last bytes', 'bytes=-10', undefined, { kind: 'partial', start: 990, end: 999 }],
    ['a suffix longer than the blob is the whole blob as a range', 'bytes=-5000', undefined, { kind: 'partial', start: 0, end: 999 }],
    ['the last byte alone', 'bytes=999-999', undefined, { kind: 'partial', start: 999, end: 999 }],
    ['a start at the size is unsatisfiable', 'bytes=1000-', undefined, { kind: 'unsatisfiable' }],
    ['a start beyond the size is unsatisfiable', 'bytes=5000-6000', undefined, { kind: 'unsatisfiable' }],
    ['an empty suffix is unsatisfiable', 'bytes=-0', undefined, { kind: 'unsatisfiable' }],
    ['several ranges: answered whole', 'bytes=0-1,5-6', undefined, { kind: 'whole' }],
    ['another unit: answered whole', 'items=0-1', undefined, { kind: 'whole' }],
    ['malformed: answered whole', 'bytes=abc', undefined, { kind: 'whole' }],
    ['an end before the start is invalid: answered whole', 'bytes=9-0', undefined, { kind: 'whole' }],
    ['bytes=- is no range at all', 'bytes=-', undefined, { kind: 'whole' }],
    ['If-Range naming this blob honours the range', 'bytes=0-9', ETAG, { kind: 'partial', start: 0, end: 9 }],
    ['If-Range naming something else gets the whole blob', 'bytes=0-9', '"sha256:other"', { kind: 'whole' }],
    ['If-Range with a date (not this blob\'s tag) gets the whole blob', 'bytes=0-9', 'Sun, 06 Dec 2026 03:41:04 GMT', { kind: 'whole' }],
  ];
  for (const [rule, range, ifRange, expected] of cases) {
    it(rule, () => assert.deepEqual(decideRange(range, ifRange, SIZE, ETAG), expected));
  }
  it('nothing of an empty blob can be asked for', () => {
    assert.deepEqual(decideRange('bytes=0-', undefined, 0, ETAG), { kind: 'unsatisfiable' });
    assert.deepEqual(decideRange('bytes=-1', undefined, 0, ETAG), { kind: 'unsatisfiable' });
  });
});
