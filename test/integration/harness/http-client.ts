/**
 * http-client.ts — minimal node:http client for the harness (no keep-alive, no redirect following,
 * no content decoding), so tests see exactly what a server sent.
 *
 * Contract:
 *  - `httpRequest(url, opts)` resolves with status, headers and the whole body as a Buffer (use for
 *    small bodies: JSON, manifests). It never follows redirects and never throws on HTTP error statuses;
 *    it rejects only on network errors or after `timeoutMs` (default 10 s).
 *  - `httpDigest(url, opts)` streams the body through sha256 without buffering it and resolves with
 *    status, headers, `digest` ("sha256:<hex>") and `size` (bytes received).
 *  - `headerValue(headers, name)` returns a single header value (first one if repeated) or undefined.
 *  - `sha256Digest(bytes)` returns "sha256:<hex>".
 *  Only http: URLs are supported.
 */
import http from 'node:http';
import { createHash } from 'node:crypto';

export interface HttpRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  timeoutMs?: number;
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface HttpDigestResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  digest: string;
  size: number;
}

export function sha256Digest(bytes: Buffer | Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export function headerValue(headers: http.IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  if (Array.isArray(value)) return value[0];
  return value;
}

function openRequest(
  url: string,
  opts: HttpRequestOptions,
  onResponse: (res: http.IncomingMessage, done: (err?: Error) => void) => void,
): Promise<void> {
  const target = new URL(url);
  if (target.protocol !== 'http:') {
    return Promise.reject(new Error(`httpRequest: only http: URLs are supported, got ${url}`));
  }
  const timeoutMs = opts.timeoutMs ?? 10_000;
  return new Promise<void>((resolve, reject) => {
    let finished = false;
    const done = (err?: Error): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve();
    };
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (opts.body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-length')) {
      headers['Content-Length'] = String(Buffer.byteLength(opts.body));
    }
    const req = http.request(
      {
        protocol: target.protocol,
        hostname: target.hostname,
        port: target.port,
        path: `${target.pathname}${target.search}`,
        method: opts.method ?? 'GET',
        headers,
        agent: false,
      },
      (res) => onResponse(res, done),
    );
    const timer = setTimeout(() => {
      const err = new Error(`${opts.method ?? 'GET'} ${url} timed out after ${timeoutMs} ms`);
      req.destroy(err);
      done(err);
    }, timeoutMs);
    req.on('error', (err) => done(err));
    req.end(opts.body);
  });
}

export async function httpRequest(url: string, opts: HttpRequestOptions = {}): Promise<HttpResponse> {
  let result: HttpResponse | undefined;
  await openRequest(url, opts, (res, done) => {
    const chunks: Buffer[] = [];
    res.on('data', (chunk: Buffer) => chunks.push(chunk));
    res.on('error', (err) => done(err));
    res.on('end', () => {
      result = { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) };
      done();
    });
  });
  if (!result) throw new Error(`no response for ${url}`);
  return result;
}

export async function httpDigest(url: string, opts: HttpRequestOptions = {}): Promise<HttpDigestResponse> {
  let result: HttpDigestResponse | undefined;
  await openRequest(url, { ...opts, timeoutMs: opts.timeoutMs ?? 60_000 }, (res, done) => {
    const hash = createHash('sha256');
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      size += chunk.length;
    });
    res.on('error', (err) => done(err));
    res.on('end', () => {
      result = { status: res.statusCode ?? 0, headers: res.headers, digest: `sha256:${hash.digest('hex')}`, size };
      done();
    });
  });
  if (!result) throw new Error(`no response for ${url}`);
  return result;
}
