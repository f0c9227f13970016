/**
 * startNginx: Debian's nginx-light (/usr/sbin/nginx) as a TLS-terminating proxy in front of a
 * gateway, on a free loopback port, for a test. Everything it writes (config, pid, logs, temp
 * files) lives in a fresh temp dir, removed by stop(). `locationDirectives` go inside
 * `location / { ... }` after `proxy_pass`, e.g. `proxy_set_header SSL_CLIENT_CERT $ssl_client_escaped_cert;`.
 *
 *  - TLS with `ssl_verify_client optional` against `clientCa`, so a client may come with or
 *    without a certificate, as subscription-manager hosts and anonymous pullers do.
 *  - Resolves once the port accepts connections; rejects with nginx's error log otherwise.
 *  - `stop()` sends SIGQUIT, then SIGKILL, and removes the temp dir. Idempotent.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findFreePort, waitForExit } from '../integration/harness/registry.js';

export const NGINX_BINARY = '/usr/sbin/nginx';

export interface NginxOptions {
  /** Where requests go, e.g. http://127.0.0.1:5050 */
  readonly upstream: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCa: string;
  readonly locationDirectives: readonly string[];
  /** Extra directives at the server level (timeouts). */
  readonly serverDirectives?: readonly string[];
}

export interface RunningNginx {
  /** https://127.0.0.1:PORT */
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

export async function startNginx(options: NginxOptions): Promise<RunningNginx> {
  const dir = mkdtempSync(join(tmpdir(), 'cg-nginx-'));
  const port = await findFreePort();
  const runAsRoot = process.getuid?.() === 0;
  const config = [
    ...(runAsRoot ? ['user root;'] : []),
    'worker_processes 1;',
    'daemon off;',
    `pid ${join(dir, 'nginx.pid')};`,
    `error_log ${join(dir, 'error.log')} warn;`,
    'events { worker_connections 64; }',
    'http {',
    `  access_log off;`,
    `  client_body_temp_path ${join(dir, 'client_body')};`,
    `  proxy_temp_path ${join(dir, 'proxy')};`,
    `  fastcgi_temp_path ${join(dir, 'fastcgi')};`,
    `  uwsgi_temp_path ${join(dir, 'uwsgi')};`,
    `  scgi_temp_path ${join(dir, 'scgi')};`,
    '  server {',
    `    listen 127.0.0.1:${port} ssl;`,
    `    ssl_certificate ${options.serverCert};`,
    `    ssl_certificate_key ${options.serverKey};`,
    `    ssl_client_certificate ${options.clientCa};`,
    '    ssl_verify_client optional;',
    ...(options.serverDirectives ?? []).map((line) => `    ${line}`),
    '    location / {',
    `      proxy_pass ${options.upstream};`,
    ...options.locationDirectives.map((line) => `      ${line}`),
    '    }',
    '  }',
    '}',
    '',
  ].join('\n');
  const configFile = join(dir, 'nginx.conf');
  writeFileSync(configFile, config);
  const child: ChildProcess = spawn(NGINX_BINARY, ['-p', dir, '-c', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const errorLog = () => {
    try {
      return readFileSync(join(dir, 'error.log'), 'utf8');
    } catch {
      return '';
    }
  };
  const cleanUp = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGQUIT');
      if (!(await waitForExit(child, 2_000))) {
        child.kill('SIGKILL');
        await waitForExit(child, 2_000);
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  for (let attempt = 0; ; attempt += 1) {
    if (child.exitCode !== null) {
      const reason = `${stderr}\n${errorLog()}`;
      await cleanUp();
      throw new Error(`nginx exited early (${child.exitCode}):\n${reason}`);
    }
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (open) break;
    if (attempt > 100) {
      const reason = `${stderr}\n${errorLog()}`;
      await cleanUp();
      throw new Error(`nginx did not listen on 127.0.0.1:${port}:\n${reason}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  let stopping: Promise<void> | undefined;
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    stop: () => (stopping ??= cleanUp()),
  };
}
