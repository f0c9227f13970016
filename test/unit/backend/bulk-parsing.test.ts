/** The bulk client's parsers (src/backend/bulk/): response heads and chunked bodies, strict where laxness smuggles. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ChunkedDecoder } from '../../../src/backend/bulk/chunked-decoder.js';
import { MalformedResponse, parseResponseHead } from '../../../src/backend/bulk/response-head.js';

const head = (text: string) => Buffer.from(text.replace(/\n/g, '\r\n'), 'latin1');

describe('parseResponseHead', () => {
  it('a complete head: status, lower-case fields, repeated fields as lists, its length', () => {
    const bytes = Buffer.concat([head('HTTP/1.1 200 OK\nContent-Length: 5\nDocker-Content-Digest: sha256:x\nX-Twice: a\nx-twice: b\n\n'), Buffer.from('hello')]);
    const parsed = parseResponseHead(bytes, 'GET');
    assert.ok(parsed !== undefined);
    assert.equal(parsed.head.status, 200);
    assert.equal(parsed.head.headers['docker-content-digest'], 'sha256:x');
    assert.deepEqual(parsed.head.headers['x-twice'], ['a', 'b']);
    assert.deepEqual(parsed.head.framing, { kind: 'length', length: 5 });
    assert.equal(parsed.head.keepAlive, true);
    assert.equal(bytes.subarray(parsed.length).toString(), 'hello');
  });

  it('an incomplete head is undefined until its blank line arrives', () => {
    assert.equal(parseResponseHead(head('HTTP/1.1 200 OK\nContent-Length: 5\n'), 'GET'), undefined);
  });

  const framings: Array<[string, string, string, unknown]> = [
    ['chunked', 'HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n', 'GET', { kind: 'chunked' }],
    ['no length: until the connection closes', 'HTTP/1.1 200 OK\n\n', 'GET', { kind: 'until-close' }],
    ['HEAD has no body whatever the length says', 'HTTP/1.1 200 OK\nContent-Length: 99\n\n', 'HEAD', { kind: 'length', length: 0 }],
    ['304 has no body', 'HTTP/1.1 304 Not Modified\nContent-Length: 99\n\n', 'GET', { kind: 'length', length: 0 }],
    ['204 has no body', 'HTTP/1.1 204 No Content\n\n', 'GET', { kind: 'length', length: 0 }],
  ];
  for (const [rule, text, method, framing] of framings) {
    it(rule, () => assert.deepEqual(parseResponseHead(head(text), method)?.head.framing, framing));
  }

  it('Connection: close, and HTTP/1.0 without keep-alive, end the connection', () => {
    assert.equal(parseResponseHead(head('HTTP/1.1 200 OK\nConnection: close\nContent-Length: 0\n\n'), 'GET')?.head.keepAlive, false);
    assert.equal(parseResponseHead(head('HTTP/1.0 200 OK\nContent-Length: 0\n\n'), 'GET')?.head.keepAlive, false);
    assert.equal(parseResponseHead(head('HTTP/1.0 200 OK\nConnection: keep-alive\nContent-Length: 0\n\n'), 'GET')?.head.keepAlive, true);
  });

  const refused: Array<[string, string]> = [
    ['both Transfer-Encoding and Content-Length (a smuggling vector)', 'HTTP/1.1 200 OK\nTransfer-Encoding: chunked\nContent-Length: 5\n\n'],
    ['two Content-Lengths', 'HTTP/1.1 200 OK\nContent-Length: 5\nContent-Length: 6\n\n'],
    ['a Content-Length that is not a number', 'HTTP/1.1 200 OK\nContent-Length: 5x\n\n'],
    ['a negative Content-Length', 'HTTP/1.1 200 OK\nContent-Length: -1\n\n'],
    ['not HTTP/1.x', 'HTTP/2 200\n\n'],
    ['a field without a colon', 'HTTP/1.1 200 OK\nbroken field\n\n'],
    ['a space before the colon', 'HTTP/1.1 200 OK\nContent-Length : 5\n\n'],
  ];
  for (const [rule, text] of refused) {
    it(`refused: ${rule}`, () => assert.throws(() => parseResponseHead(head(text), 'GET'), MalformedResponse));
  }

  it('refused: a head longer than 64 KiB', () => {
    assert.throws(() => parseResponseHead(Buffer.concat([head('HTTP/1.1 200 OK\n'), Buffer.alloc(70_000, 0x61)]), 'GET'), MalformedResponse);
  });
});

function encodeChunked(parts: Buffer[], extension = ''): Buffer {
  const pieces: Buffer[] = [];
  for (const part of parts) if (part.length > 0) pieces.push(Buffer.from(`${part.length.toString(16)}${extension}\r\n`), part, Buffer.from('\r\n'));
  pieces.push(Buffer.from('0\r\nX-Trailer: yes\r\n\r\n'));
  return Buffer.concat(pieces);
}

describe('ChunkedDecoder', () => {
  it('any split of any chunked body decodes to the same bytes, and stops at its end', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        fc.boolean(),
        (parts, cuts, withExtension) => {
          const body = parts.map((part) => Buffer.from(part));
          const encoded = Buffer.concat([encodeChunked(body, withExtension ? ';name=value' : ''), Buffer.from('NEXT')]);
          const points = [...new Set(cuts.map((cut) => cut % (encoded.length + 1)))].sort((a, b) => a - b);
          const decoder = new ChunkedDecoder();
          const out: Buffer[] = [];
          let start = 0;
          let leftover = 0;
          for (const end of [...points, encoded.length]) {
            if (end < start) continue;
            const slice = encoded.subarray(start, end);
            if (!decoder.done) {
              const { data, consumed } = decoder.push(slice);
              out.push(...data);
              leftover += slice.length - consumed;
            } else {
              leftover += slice.length;
            }
            start = end;
          }
          assert.ok(decoder.done);
          assert.deepEqual(Buffer.concat(out), Buffer.concat(body));
          assert.equal(leftover, 4, 'the bytes after the body are not consumed');
        },
      ),
    );
  });

  for (const [rule, text] of [
    ['a chunk longer than its size', '3\r\nabcd\r\n0\r\n\r\n'],
    ['a size that is not hex', 'zz\r\nab\r\n'],
    ['a size line without a size', '\r\n'],
    ['a chunk larger than the gateway accepts', 'ffffffffffffff\r\n'],
  ] as const) {
    it(`refused: ${rule}`, () => assert.throws(() => new ChunkedDecoder().push(Buffer.from(text)), MalformedResponse));
  }
});
