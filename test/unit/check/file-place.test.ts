/** Where the gateway would keep a file, decided from what the file system shows; nothing is created. */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { DATABASE_SECRETS, inspectFilePlace, realFileProbe, type FileProbe } from '../../../src/check/file-place.js';
import type { NotPrivate } from '../../../src/store/file-permissions.js';

/** A file system of a few paths: their kinds, and which of them the process may not write. */
function probeOf(kinds: Record<string, 'file' | 'directory'>, denied: Record<string, string> = {}, notPrivate: Record<string, NotPrivate> = {}): FileProbe {
  return {
    kindOf: (path) => kinds[path] ?? (path === '/' ? 'directory' : undefined),
    denied: (path) => denied[path],
    cannotMakePrivate: (path) => notPrivate[path],
    runningAs: 'uid 998 (container-gateway)',
  };
}

const database = { extraFilesBeside: true, setting: 'database.url', secret: DATABASE_SECRETS };
const auditLog = { extraFilesBeside: false, setting: 'audit.destination' };

describe('inspectFilePlace', () => {
  it('an existing, writable file in a writable directory is usable', () => {
    assert.deepEqual(inspectFilePlace('/var/lib/cg/gateway.db', database, probeOf({ '/var/lib/cg': 'directory', '/var/lib/cg/gateway.db': 'file' })), { kind: 'exists', file: '/var/lib/cg/gateway.db' });
  });

  it('a missing file under a writable directory will be created there (a misspelt path shows as the place it would go)', () => {
    const place = inspectFilePlace('/var/lib/cg/data/gateway.db', database, probeOf({ '/var/lib/cg': 'directory' }));
    assert.deepEqual(place, { kind: 'missing', file: '/var/lib/cg/data/gateway.db', createdUnder: '/var/lib/cg' });
  });

  it('a file the user may not write is blocked, with chown of that file as the fix', () => {
    const place = inspectFilePlace('/data/gateway.db', database, probeOf({ '/data': 'directory', '/data/gateway.db': 'file' }, { '/data/gateway.db': 'EACCES' }));
    assert.equal(place.kind, 'blocked');
    assert.match(place.kind === 'blocked' ? place.problem : '', /^\/data\/gateway\.db is not writable by uid 998 \(container-gateway\) \(EACCES\)$/);
    assert.match(place.kind === 'blocked' ? place.fix : '', /chown 998 \/data\/gateway\.db/);
  });

  it('SQLite also needs its directory writable (-wal, -shm); an audit log does not', () => {
    const kinds = { '/data': 'directory', '/data/f': 'file' } as const;
    const place = inspectFilePlace('/data/f', database, probeOf(kinds, { '/data': 'EROFS' }));
    assert.match(place.kind === 'blocked' ? place.problem : '', /directory \/data is not writable .*\(EROFS\); SQLite keeps its -wal and -shm files there/);
    assert.equal(inspectFilePlace('/data/f', auditLog, probeOf(kinds, { '/data': 'EROFS' })).kind, 'exists');
  });

  it('a missing file under a directory the user may not write is blocked, naming the directory to create and give away', () => {
    const place = inspectFilePlace('/data/sub/gateway.db', database, probeOf({ '/data': 'directory' }, { '/data': 'EACCES' }));
    assert.equal(place.kind, 'blocked');
    if (place.kind !== 'blocked') return;
    assert.equal(place.problem, '/data/sub/gateway.db does not exist and cannot be created: /data is not writable by uid 998 (container-gateway) (EACCES)');
    assert.equal(place.fix, 'create /data/sub for the gateway\'s user (mkdir -p /data/sub && chown 998 /data/sub), or set database.url to a writable place');
  });

  it('a directory where the file should be, or a file where a directory should be, is blocked', () => {
    assert.match(JSON.stringify(inspectFilePlace('/data', database, probeOf({ '/data': 'directory' }))), /is a directory, not a file/);
    assert.match(JSON.stringify(inspectFilePlace('/etc/hosts/gateway.db', database, probeOf({ '/etc': 'directory', '/etc/hosts': 'file' }))), /cannot be created: \/etc\/hosts is not a directory/);
  });

  it('a database others may read and the gateway may not chmod (another user owns it, or its directory) is blocked; an audit log is not', () => {
    const kinds = { '/data': 'directory', '/data/gateway.db': 'file' } as const;
    const file = inspectFilePlace('/data/gateway.db', database, probeOf(kinds, {}, { '/data/gateway.db': { path: '/data/gateway.db', mode: 0o644, wanted: 0o600, owner: 0 } }));
    assert.equal(file.kind, 'blocked');
    if (file.kind !== 'blocked') return;
    assert.equal(file.problem, `/data/gateway.db may be read by other local users (mode 644, owned by uid 0) and only its owner may change that; /data/gateway.db holds ${DATABASE_SECRETS}`);
    assert.equal(file.fix, "give it to the gateway's user (chown 998 /data/gateway.db) or make it private (chmod 600 /data/gateway.db)");
    const directory = inspectFilePlace('/data/gateway.db', database, probeOf(kinds, {}, { '/data/gateway.db': { path: '/data', mode: 0o770, wanted: 0o700, owner: 0 } }));
    assert.equal(directory.kind === 'blocked' ? directory.fix : '', "give it to the gateway's user (chown 998 /data) or make it private (chmod 700 /data)");
    assert.equal(inspectFilePlace('/data/gateway.db', auditLog, probeOf(kinds, {}, { '/data/gateway.db': { path: '/data/gateway.db', mode: 0o644, wanted: 0o600, owner: 0 } })).kind, 'exists');
  });

  it('the real probe: a file of the process\'s own, however open, can be made private', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'cg-file-place-')), 'gateway.db');
    writeFileSync(file, '', { mode: 0o644 });
    chmodSync(file, 0o644);
    try {
      assert.equal(realFileProbe().cannotMakePrivate(file), undefined);
    } finally {
      rmSync(dirname(file), { recursive: true, force: true });
    }
  });

  it('a relative path is reported absolute, as it would be resolved', () => {
    const place = inspectFilePlace('data/gateway.db', auditLog, probeOf({ [process.cwd()]: 'directory', '/': 'directory' }));
    assert.equal(place.file, `${process.cwd()}/data/gateway.db`);
  });
});
