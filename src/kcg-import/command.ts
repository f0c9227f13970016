/**
 * `container-gateway import-kcg`: read smart_proxy_container_gateway's settings and database, import
 * what it knew into this gateway's database, and print the configuration that does what it did.
 * Safe to run twice (the import replaces, it does not add up); writes nothing to KCG's database.
 */
import { existsSync, readFileSync } from 'node:fs';
import { stringify } from 'yaml';
import type { GatewayConfig } from '../config/compiled.js';
import { describeDatabaseUrl, openDatabase } from '../store/connect.js';
import { GatewayStore } from '../store/gateway-store.js';
import { readKcgDatabase } from './kcg-database.js';
import { gatewayConfigFor, KcgSettingsInvalid, parseKcgSettings, parseProxySettings, type KcgSettings, type ProxySettings } from './kcg-settings.js';
import { describeImport, importKcg } from './import-kcg.js';

export interface ImportOptions {
  readonly settings: string;
  readonly proxySettings: string;
  readonly database?: string;
}

interface Output {
  write(text: string): unknown;
}

/** Exit status: 0 imported, 1 refused (with one line saying why). */
export async function importFromKcg(config: GatewayConfig, options: ImportOptions, io: { out: Output; err: Output }, now = Date.now()): Promise<number> {
  let proxy: ProxySettings | undefined;
  let settings: KcgSettings | undefined;
  try {
    proxy = existsSync(options.proxySettings) ? parseProxySettings(readFileSync(options.proxySettings, 'utf8')) : undefined;
    settings = existsSync(options.settings) ? parseKcgSettings(readFileSync(options.settings, 'utf8'), proxy) : undefined;
  } catch (error) {
    if (!(error instanceof KcgSettingsInvalid)) throw error;
    io.err.write(`container-gateway: ${error.message}\n`);
    return 1;
  }
  const source = options.database ?? settings?.databaseUrl;
  if (source === undefined) {
    io.err.write(`container-gateway: no smart_proxy_container_gateway database: ${settings === undefined ? `${options.settings} does not exist` : 'its settings name none (db_connection_string or sqlite_db_path)'}; give --database\n`);
    return 1;
  }
  let kcg;
  try {
    kcg = await readKcgDatabase(source);
  } catch (error) {
    io.err.write(`container-gateway: cannot import from ${describeDatabaseUrl(source)}: ${(error as Error).message}\n`);
    return 1;
  }
  const database = await openDatabase(config.database);
  try {
    const imported = await importKcg(new GatewayStore(database.db, database.dialect, database.reads), kcg, now);
    io.out.write(`imported into ${database.location}:\n${describeImport(describeDatabaseUrl(source), kcg, imported)}`);
  } finally {
    await database.close();
  }
  if (settings !== undefined) {
    io.out.write(`\n# What smart_proxy_container_gateway was configured to do, as this gateway's configuration:\n${stringify(gatewayConfigFor(settings, proxy))}`);
  }
  return 0;
}

