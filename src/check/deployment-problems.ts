/**
 * deploymentProblems: what stops the gateway before it starts — a database file or audit log it
 * cannot write — each as one sentence naming the path and the fix. `serve` and `migrate` refuse
 * with these instead of a bare EACCES from deep inside SQLite; `check` reports the same places.
 */
import type { GatewayConfig } from '../config/compiled.js';
import { sqliteFileOf } from '../store/connect.js';
import { inspectFilePlace } from './file-place.js';

export function deploymentProblems(config: GatewayConfig): string[] {
  const problems: string[] = [];
  const database = sqliteFileOf(config.database.url);
  if (database !== undefined && database !== ':memory:') {
    const place = inspectFilePlace(database, { extraFilesBeside: true, setting: 'database.url' });
    if (place.kind === 'blocked') problems.push(`database: ${place.problem}. Fix: ${place.fix}`);
  }
  const audit = config.audit.destination;
  if (audit !== 'stdout' && audit !== 'off') {
    const place = inspectFilePlace(audit, { extraFilesBeside: false, setting: 'audit.destination' });
    if (place.kind === 'blocked') problems.push(`audit log: ${place.problem}. Fix: ${place.fix}`);
  }
  return problems;
}
