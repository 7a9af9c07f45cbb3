// The controller's tables, as versioned migrations (append-only: never edit one that shipped).
import { migrate, type SqlDatabase } from '../../lib/sqlite.js';

export const STORE_MODULE = 'controller-store';

export const STORE_MIGRATIONS: readonly string[] = [
  // 1: objects, their audit trail and the store-wide revision (resourceVersion source, like etcd's).
  `CREATE TABLE objects (
     kind TEXT NOT NULL,          -- Kind.group
     namespace TEXT NOT NULL,     -- '' for cluster-scoped kinds
     name TEXT NOT NULL,
     uid TEXT NOT NULL UNIQUE,
     api_version TEXT NOT NULL,
     generation INTEGER NOT NULL,
     resource_version INTEGER NOT NULL,
     created_at TEXT NOT NULL,
     labels TEXT,                 -- JSON or NULL
     annotations TEXT,
     spec TEXT NOT NULL,          -- canonical JSON
     PRIMARY KEY (kind, namespace, name));
   CREATE TABLE audit (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     ts TEXT NOT NULL,
     actor TEXT NOT NULL,
     action TEXT NOT NULL,        -- create | update | delete | credentials
     object TEXT NOT NULL,        -- objectKey() or node name
     uid TEXT,
     generation INTEGER,
     resource_version INTEGER,
     detail TEXT);                -- JSON: the object after the change (before, for delete)
   CREATE TABLE revision (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL);
   INSERT INTO revision (id, value) VALUES (1, 0);`,
  // 2: the node registry: credentials, presence, last report, the desired document published.
  `CREATE TABLE nodes (
     name TEXT PRIMARY KEY,
     secret_hash TEXT,            -- scrypt$salt$hash, NULL: no credentials yet
     created_at TEXT NOT NULL,
     online INTEGER NOT NULL DEFAULT 0,
     agent_version TEXT,
     uptime_seconds REAL,
     last_seen TEXT,
     reported TEXT,               -- last valid NodeReported, JSON
     desired_generation INTEGER NOT NULL DEFAULT 0,
     desired_hash TEXT);`,
];

export async function migrateStore(db: SqlDatabase): Promise<number[]> {
  return migrate(db, STORE_MODULE, STORE_MIGRATIONS);
}
