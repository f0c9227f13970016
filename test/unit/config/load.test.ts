import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { envNameOf } from '../../../src/config/env-overlay.js';
import { loadConfig, parseListen } from '../../../src/config/load.js';

const dir = mkdtempSync(join(tmpdir(), 'cg-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
function yamlFile(text: string): string {
  const file = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, text);
  return file;
}

function problemsOf(file: string | undefined, env: NodeJS.ProcessEnv = {}): string[] {
  const result = loadConfig({ ...(file === undefined ? {} : { file }), env });
  return result.ok ? [] : result.problems;
}

describe('loadConfig', () => {
  it('built-in defaults are valid: SQLite, redirect mode, loopback listener', () => {
    const result = loadConfig({ file: yamlFile(''), env: {} });
    assert.ok(result.ok);
    assert.equal(result.config.database.url, 'sqlite://./data/gateway.db');
    assert.equal(result.config.backend.mode, 'redirect');
    assert.deepEqual(result.config.server.listen, { host: '127.0.0.1', port: 5050 });
    assert.equal(result.config.server.publicUrl.href, 'http://127.0.0.1:5050/');
  });

  it('CG_ variables override the file, by upper-snake path', () => {
    const file = yamlFile('backend:\n  url: http://127.0.0.1:5000\n  mode: redirect\n');
    const result = loadConfig({
      file,
      env: {
        CG_BACKEND_URL: 'http://127.0.0.1:6000',
        CG_BACKEND_MODE: 'proxy',
        CG_BACKEND_CLIENT_URL: 'https://lb.example.test',
        CG_MANAGEMENT_TOKENS: 'aaaaaaaaaaaaaaaaaaaa,bbbbbbbbbbbbbbbbbbbb',
        CG_BACKEND_TIMEOUTS_CONNECT_MS: '250',
      },
    });
    assert.ok(result.ok, result.ok ? '' : result.problems.join('\n'));
    assert.equal(result.config.backend.url.href, 'http://127.0.0.1:6000/');
    assert.equal(result.config.backend.mode, 'proxy');
    assert.equal(result.config.backend.clientUrl?.host, 'lb.example.test');
    assert.deepEqual(result.config.management.tokens, ['aaaaaaaaaaaaaaaaaaaa', 'bbbbbbbbbbbbbbbbbbbb']);
    assert.equal(result.config.backend.timeouts.connectMs, 250);
  });

  it('the blob cache is off by default; set by file or CG_BACKEND_BLOB_CACHE_*; a cap under 1 MiB or a missing path is a problem', () => {
    const defaults = loadConfig({ file: yamlFile(''), env: {} });
    assert.ok(defaults.ok);
    assert.equal(defaults.config.backend.blobCache, undefined);
    const fromEnv = loadConfig({ file: yamlFile(''), env: { CG_BACKEND_BLOB_CACHE_PATH: '/var/cache/cg-blobs', CG_BACKEND_BLOB_CACHE_MAX_BYTES: '10737418240' } });
    assert.ok(fromEnv.ok, fromEnv.ok ? '' : fromEnv.problems.join('\n'));
    assert.deepEqual(fromEnv.config.backend.blobCache, { path: '/var/cache/cg-blobs', maxBytes: 10737418240 });
    const problems = problemsOf(yamlFile('backend:\n  blobCache:\n    maxBytes: 1000\n'));
    assert.ok(problems.some((p) => p.startsWith('backend.blobCache.maxBytes: ') && p.includes('1 MiB')), problems.join('\n'));
    assert.ok(problems.some((p) => p.startsWith('backend.blobCache.path: ')), problems.join('\n'));
  });

  it('names env variables from camelCase keys', () => {
    assert.equal(envNameOf(['server', 'publicUrl']), 'CG_SERVER_PUBLIC_URL');
    assert.equal(envNameOf(['management', 'clientCertCNs']), 'CG_MANAGEMENT_CLIENT_CERT_CNS');
  });

  it('reports every problem, one line each, naming the key', () => {
    const problems = problemsOf(yamlFile('server:\n  bogus: 1\nbackend:\n  url: ftp://x\n  mode: fast\n'), { CG_BACKEND_URLL: 'x' });
    assert.equal(problems.length, 4, problems.join('\n'));
    assert.ok(problems.some((p) => p.startsWith('server: ') && p.includes('"bogus"')));
    assert.ok(problems.some((p) => p.startsWith('backend.url: ')));
    assert.ok(problems.some((p) => p.startsWith('backend.mode: ')));
    assert.ok(problems.some((p) => p.startsWith('CG_BACKEND_URLL: ')));
  });

  it('an unreadable certificate file is a problem, not a crash', () => {
    const problems = problemsOf(yamlFile('server:\n  tls:\n    cert: /nonexistent/cert.pem\n    key: /nonexistent/key.pem\n'));
    assert.ok(problems.some((p) => p.startsWith('server.tls.cert: cannot read file')));
  });

  it('a file that is not PEM is a problem', () => {
    const notPem = yamlFile('hello');
    assert.ok(problemsOf(yamlFile(`backend:\n  tls:\n    ca: ${notPem}\n`)).some((p) => p.startsWith('backend.tls.ca: ')));
  });

  it('bad listen addresses and trusted proxies are problems', () => {
    assert.ok(problemsOf(undefined, { CG_SERVER_LISTEN: 'nope' }).some((p) => p.startsWith('server.listen: ')));
    assert.ok(problemsOf(yamlFile('server:\n  trustedProxies: ["10.0.0.0/40"]\n')).some((p) => p.startsWith('server.trustedProxies: ')));
  });

  it('invalid YAML and a missing explicit file are one clear line each', () => {
    assert.match(problemsOf(yamlFile('server: [unclosed'))[0] ?? '', /invalid YAML/);
    assert.match(problemsOf(join(dir, 'missing.yaml'))[0] ?? '', /cannot read \(ENOENT\)/);
  });

  it('problems of every phase come in one run: schema, derived forms and files together', () => {
    // A bad listen address is a derived-form problem; a bad mode and a short token are schema problems.
    const problems = problemsOf(yamlFile('server:\n  listen: "no-port-here"\nbackend:\n  mode: sideways\n  tls:\n    ca: /nonexistent/ca.pem\nmanagement:\n  tokens: ["short"]\n'));
    assert.ok(problems.some((p) => p.startsWith('server.listen: ')), problems.join('\n'));
    assert.ok(problems.some((p) => p.startsWith('backend.mode: ')), problems.join('\n'));
    assert.ok(problems.some((p) => p.startsWith('management.tokens.0: ')), problems.join('\n'));
    assert.ok(problems.some((p) => p.startsWith('backend.tls.ca: cannot read file')), problems.join('\n'));
    assert.equal(problems.length, 4, problems.join('\n'));
  });

  it('a port above 65535 is a problem line, never an exception', () => {
    const problems = problemsOf(undefined, { CG_SERVER_LISTEN: '127.0.0.1:70000', CG_METRICS_LISTEN: '127.0.0.1:99999', CG_BACKEND_URL: 'http://127.0.0.1:70000' });
    assert.ok(problems.some((p) => p.startsWith('server.listen: ')), problems.join('\n'));
    assert.ok(problems.some((p) => p.startsWith('metrics.listen: ')), problems.join('\n'));
    assert.ok(problems.some((p) => p.startsWith('backend.url: ')), problems.join('\n'));
    assert.ok(problems.every((p) => /^[A-Za-z_.0-9]+: /.test(p) && !p.includes('\n')), problems.join('\n'));
  });

  it('parses IPv4, IPv6 and name listen addresses', () => {
    assert.deepEqual(parseListen('0.0.0.0:80'), { host: '0.0.0.0', port: 80 });
    assert.deepEqual(parseListen('[::1]:5050'), { host: '::1', port: 5050 });
    assert.deepEqual(parseListen('localhost:5050'), { host: 'localhost', port: 5050 });
    assert.equal(parseListen('127.0.0.1:70000'), undefined);
  });
});
