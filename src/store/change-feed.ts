/**
 * ChangeFeed: how a gateway process learns that another process (a worker on the same SQLite
 * file, or another instance on the same PostgreSQL) changed the data, so its in-process caches
 * drop what is stale within a second. It uses the database itself, not a protocol of our own:
 * PostgreSQL LISTEN/NOTIFY (writers announce inside their transaction, delivered on commit), and
 * SQLite's PRAGMA data_version, which moves when another connection commits.
 */
import type SqliteDatabase from 'better-sqlite3';
import pg from 'pg';
import { CHANGE_CHANNEL } from './bulk-writes.js';
import { ALL_CHANGED } from './gateway-store.js';

export type ChangeListener = (change: string) => void;

export interface ChangeFeed {
  close(): Promise<void>;
}

const SQLITE_POLL_MS = 250;
const RECONNECT_DELAY_MS = 1_000;

export function watchSqlite(sqlite: SqliteDatabase.Database, onChange: ChangeListener): ChangeFeed {
  let version = sqlite.pragma('data_version', { simple: true }) as number;
  const timer = setInterval(() => {
    try {
      const current = sqlite.pragma('data_version', { simple: true }) as number;
      if (current !== version) {
        version = current;
        onChange(ALL_CHANGED);
      }
    } catch {
      // Closed or busy: the next tick tries again.
    }
  }, SQLITE_POLL_MS);
  timer.unref();
  return { close: async () => clearInterval(timer) };
}

/**
 * A dedicated connection LISTENs; if it drops, it reconnects and reports ALL_CHANGED, since
 * notices sent meanwhile are lost.
 */
export async function watchPostgres(url: string, onChange: ChangeListener, onError: (error: Error) => void): Promise<ChangeFeed> {
  let closed = false;
  let client: pg.Client | undefined;
  let retry: NodeJS.Timeout | undefined;

  const connect = async (): Promise<void> => {
    const next = new pg.Client({ connectionString: url });
    next.on('notification', (message) => {
      if (message.channel === CHANGE_CHANNEL) onChange(message.payload ?? ALL_CHANGED);
    });
    next.on('error', (error) => {
      onError(error);
      scheduleReconnect();
    });
    next.on('end', () => scheduleReconnect());
    await next.connect();
    await next.query(`LISTEN ${CHANGE_CHANNEL}`);
    client = next;
  };

  const scheduleReconnect = (): void => {
    if (closed || retry !== undefined) return;
    client = undefined;
    retry = setTimeout(() => {
      retry = undefined;
      connect().then(
        () => onChange(ALL_CHANGED),
        (error: Error) => {
          onError(error);
          scheduleReconnect();
        },
      );
    }, RECONNECT_DELAY_MS);
    retry.unref();
  };

  await connect();
  return {
    async close() {
      closed = true;
      if (retry !== undefined) clearTimeout(retry);
      await client?.end().catch(() => undefined);
    },
  };
}
