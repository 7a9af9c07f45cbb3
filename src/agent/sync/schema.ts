// The sync module's tables in the agent's SQLite (append-only migrations).
import { migrate, type Database } from '../../lib/sqlite.js';

export const SYNC_MIGRATIONS: readonly string[] = [
  `CREATE TABLE sync_desired (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     generation INTEGER NOT NULL,
     document TEXT NOT NULL,      -- the last valid NodeDesired, JSON
     received_at TEXT NOT NULL);
   CREATE TABLE sync_outbox (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     topic TEXT NOT NULL,
     payload TEXT NOT NULL,
     retain INTEGER NOT NULL,
     created_at TEXT NOT NULL);
   CREATE TABLE sync_counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);`,
  // 2: controller stores this box followed before the current one: their documents are stale.
  `CREATE TABLE sync_retired_stores (store_id TEXT PRIMARY KEY, retired_at TEXT NOT NULL);`,
  // 3: each message's payload size, so the outbox can be bounded in bytes without reading payloads.
  `ALTER TABLE sync_outbox ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0;
   UPDATE sync_outbox SET bytes = LENGTH(CAST(payload AS BLOB));`,
  // 4: one state message (the report) per topic, so a new one replaces its predecessor in one
  // statement (INSERT OR REPLACE). The outbox never kept two; the newest stays if it did.
  `DELETE FROM sync_outbox WHERE retain = 1 AND id NOT IN (SELECT MAX(id) FROM sync_outbox WHERE retain = 1 GROUP BY topic);
   CREATE UNIQUE INDEX sync_outbox_state ON sync_outbox (topic) WHERE retain = 1;`,
];

export function migrateSync(db: Database): Promise<number[]> {
  return migrate(db, 'agent-sync', SYNC_MIGRATIONS);
}
