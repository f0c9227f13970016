/**
 * startRecordingProxy: a small HTTP forwarder on a free loopback port that records every request it
 * passes to `targetUrl`. Tests put it between the gateway and a backend to prove a request never reached
 * the backend, or that the gateway gave up on one (client disconnects); or in front of a content app as
 * the "load balancer" clients reach through `backend.clientUrl`.
 *
 *  - Method, path+query, headers and body are forwarded verbatim (hop-by-hop headers dropped, Host set to
 *    the target); status, headers and body come back streamed, with backpressure.
 *  - `calls` lists every request in arrival order with the status the target answered; `aborted` is set
 *    when the caller closed the connection before the whole answer was sent, `finished` when it was sent
 *    completely.
 *  - `hold` makes matching requests wait before they are forwarded: `ms` milliseconds (a slow backend), or
 *    until the `until` promise settles (a backend the test answers when it is ready: no timing involved).
 *  - `tamper` changes matching answers on their way back (a broken backend): `flip-byte` changes one
 *    byte of the body (same length, another digest), `truncate` ends the connection after half the
 *    announced body.
 *  - `stop()` closes the listener and every open connection.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedCall {
  readonly method: string;
  /** Path and query as received. */
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  /** The target's answer, once it came. */
  status: number | undefined;
  /** The caller went away before the whole answer was sent. */
  aborted: boolean;
  finished: boolean;
}

export interface RecordingProxy {
  readonly url: string;
  readonly port: number;
  readonly calls: RecordedCall[];
  /** When set, a matching request is held this long, or until `until` settles, before it is forwarded. */
  hold: { match: (url: string) => boolean; ms?: number; until?: Promise<unknown> } | undefined;
  /** When set, a matching request's answer is damaged on its way back. */
  tamper: { match: (url: string) => boolean; how: 'flip-byte' | 'truncate' } | undefined;
  stop(): Promise<void>;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'upgrade', 'host']);

function endToEnd(headers: http.IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  }
  return out;
}

export async function startRecordingProxy(targetUrl: string): Promise<RecordingProxy> {
  const target = new URL(targetUrl);
  const calls: RecordedCall[] = [];

  const forward = (req: http.IncomingMessage, res: http.ServerResponse, call: RecordedCall): void => {
    if (call.aborted) return;
    const upstream = http.request(
      {
        hostname: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: { ...endToEnd(req.headers), host: target.host },
        agent: false,
      },
      (upRes) => {
        call.status = upRes.statusCode;
        res.writeHead(upRes.statusCode ?? 502, endToEnd(upRes.headers));
        upRes.on('error', () => res.destroy());
        const tamper = proxy.tamper;
        if (tamper === undefined || !tamper.match(call.url) || upRes.statusCode !== 200) {
          upRes.pipe(res);
          return;
        }
        const announced = Number(upRes.headers['content-length'] ?? 0);
        let passed = 0;
        upRes.on('data', (chunk: Buffer) => {
          if (tamper.how === 'flip-byte' && passed === 0 && chunk.length > 0) {
            chunk = Buffer.from(chunk);
            chunk[0] = (chunk[0] ?? 0) ^ 0xff;
          }
          if (tamper.how === 'truncate' && passed + chunk.length >= announced / 2) {
            res.write(chunk.subarray(0, Math.max(0, Math.floor(announced / 2) - passed)));
            res.destroy();
            upRes.destroy();
            return;
          }
          passed += chunk.length;
          res.write(chunk);
        });
        upRes.on('end', () => res.end());
      },
    );
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  };

  const server = http.createServer((req, res) => {
    const call: RecordedCall = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, status: undefined, aborted: false, finished: false };
    calls.push(call);
    res.on('close', () => {
      if (res.writableFinished) call.finished = true;
      else call.aborted = true;
    });
    const hold = proxy.hold;
    if (hold !== undefined && hold.match(call.url)) {
      if (hold.until !== undefined) {
        const release = () => forward(req, res, call);
        hold.until.then(release, release);
        return;
      }
      const timer = setTimeout(() => forward(req, res, call), hold.ms ?? 0);
      res.on('close', () => clearTimeout(timer));
      return;
    }
    forward(req, res, call);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  let stopping: Promise<void> | undefined;
  const proxy: RecordingProxy = {
    url: `http://127.0.0.1:${port}`,
    port,
    calls,
    hold: undefined,
    tamper: undefined,
    stop() {
      stopping ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return stopping;
    },
  };
  return proxy;
}
