/**
 * deploymentProblems: what stops the gateway before it starts — a database file, audit log or
 * blob cache directory it cannot write — each as one sentence naming the path and the fix. `serve` and `migrate` refuse
 * with these instead of a bare EACCES from deep inside SQLite; `check` reports the same places.
 */
import type { GatewayConfig } from '../config/compiled.js';
import { join } from 'node:path';
import { sharedDirectoryProblem } from '../blob-cache/blob-store.js';
import { sqliteFileOf } from '../store/connect.js';
import { DATABASE_SECRETS, inspectFilePlace } from './file-place.js';

export function deploymentProblems(config: GatewayConfig): string[] {
  const problems: string[] = [];
  const database = sqliteFileOf(config.database.url);
  if (database !== undefined && database !== ':memory:') {
    const place = inspectFilePlace(database, { extraFilesBeside: true, setting: 'database.url', secret: DATABASE_SECRETS });
    if (place.kind === 'blocked') problems.push(`database: ${place.problem}. Fix: ${place.fix}`);
  }
  const audit = config.audit.destination;
  if (audit !== 'stdout' && audit !== 'off') {
    const place = inspectFilePlace(audit, { extraFilesBeside: false, setting: 'audit.destination' });
    if (place.kind === 'blocked') problems.push(`audit log: ${place.problem}. Fix: ${place.fix}`);
  }
  const blobCache = blobCacheProblem(config);
  if (blobCache !== undefined) problems.push(`blob cache: ${blobCache}`);
  return problems;
}

/** Why the blob cache could not keep its files at backend.blobCache.path, if it could not. */
export function blobCacheProblem(config: GatewayConfig): string | undefined {
  const path = config.backend.blobCache?.path;
  if (path === undefined) return undefined;
  // Downloads are written under partial/ first, then moved beside it: the same directory tree.
  const place = inspectFilePlace(join(path, 'partial', 'download'), { extraFilesBeside: true, setting: 'backend.blobCache.path' });
  if (place.kind === 'blocked') return `${place.problem}. Fix: ${place.fix}`;
  try {
    return sharedDirectoryProblem(path);
  } catch (error) {
    return `${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}). Fix: give it to the gateway's user, or set backend.blobCache.path to a directory of its own`;
  }
}
