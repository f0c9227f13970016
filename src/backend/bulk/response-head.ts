/**
 * The head of an HTTP/1.1 response (status line and header fields, RFC 9112 §4–5), parsed from
 * the bytes the bulk client read: how long the body is (Content-Length, chunked, or until the
 * connection closes) and whether the connection can carry another request afterwards. Strict
 * where a lax parse would let a backend smuggle a second response into a body: one
 * Content-Length, and none beside chunked.
 */
export type BodyFraming = { readonly kind: 'length'; readonly length: number } | { readonly kind: 'chunked' } | { readonly kind: 'until-close' };

export interface ResponseHead {
  readonly status: number;
  /** Lower-case names; a repeated field is an array, as undici and node:http give them. */
  readonly headers: Record<string, string | string[]>;
  readonly framing: BodyFraming;
  /** The connection may be reused once the body has been read. */
  readonly keepAlive: boolean;
}

/** Larger heads are refused (undici's default limit is 16 KiB of headers). */
export const MAX_HEAD_BYTES = 64 * 1024;

const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: [^\r\n]*)?$/;
const FIELD = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$/;

export class MalformedResponse extends Error {
  override readonly name = 'MalformedResponse';
}

/**
 * The head at the start of `bytes`, with its length in bytes (body bytes follow), or undefined
 * when the head is not complete yet. Throws MalformedResponse.
 */
export function parseResponseHead(bytes: Buffer, method: string): { head: ResponseHead; length: number } | undefined {
  const end = bytes.indexOf('\r\n\r\n');
  if (end === -1) {
    if (bytes.length > MAX_HEAD_BYTES) throw new MalformedResponse(`a response head longer than ${MAX_HEAD_BYTES} bytes`);
    return undefined;
  }
  const [statusLine = '', ...fieldLines] = bytes.subarray(0, end).toString('latin1').split('\r\n');
  const status = STATUS_LINE.exec(statusLine);
  if (status === null) throw new MalformedResponse(`not an HTTP/1.x status line: ${JSON.stringify(statusLine.slice(0, 60))}`);
  const headers: Record<string, string | string[]> = {};
  for (const line of fieldLines) {
    const field = FIELD.exec(line);
    if (field === null) throw new MalformedResponse(`a malformed header field: ${JSON.stringify(line.slice(0, 60))}`);
    const name = (field[1] as string).toLowerCase();
    const value = field[2] as string;
    const existing = headers[name];
    headers[name] = existing === undefined ? value : Array.isArray(existing) ? [...existing, value] : [existing, value];
  }
  const statusCode = Number(status[2]);
  const http10 = status[1] === '0';
  const connection = tokens(headers.connection);
  const keepAlive = http10 ? connection.includes('keep-alive') : !connection.includes('close');
  return { head: { status: statusCode, headers, framing: framingOf(statusCode, method, headers), keepAlive }, length: end + 4 };
}

function framingOf(status: number, method: string, headers: Record<string, string | string[]>): BodyFraming {
  // RFC 9112 §6.3: these never have a body, whatever their headers say.
  if (method === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200)) return { kind: 'length', length: 0 };
  const encoding = tokens(headers['transfer-encoding']);
  const length = headers['content-length'];
  if (encoding.length > 0) {
    if (length !== undefined) throw new MalformedResponse('both Transfer-Encoding and Content-Length');
    if (encoding.at(-1) !== 'chunked') return { kind: 'until-close' };
    return { kind: 'chunked' };
  }
  if (length === undefined) return { kind: 'until-close' };
  if (Array.isArray(length) || !/^\d{1,15}$/.test(length)) throw new MalformedResponse(`an invalid Content-Length: ${JSON.stringify(String(length)).slice(0, 40)}`);
  return { kind: 'length', length: Number(length) };
}

function tokens(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value.join(',') : value)
    .split(',')
    .map((token) => token.trim().toLowerCase())
    .filter((token) => token !== '');
}
