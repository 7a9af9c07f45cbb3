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
  // 3: node identity: one-time join tokens (only a hash of the secret), the certificates issued
  // per node by serial (the revocation list is the revoked ones), and disabled nodes.
  `ALTER TABLE nodes ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
   CREATE TABLE join_tokens (
     id TEXT PRIMARY KEY,         -- the public half of the token
     node TEXT NOT NULL,
     secret_hash TEXT NOT NULL,   -- sha256 hex of the secret half
     created_at TEXT NOT NULL,
     expires_at TEXT NOT NULL,
     used_at TEXT);
   CREATE TABLE node_certificates (
     serial TEXT PRIMARY KEY,     -- upper-case hex
     node TEXT NOT NULL,
     issued_at TEXT NOT NULL,
     not_after TEXT NOT NULL,
     revoked_at TEXT);
   CREATE INDEX node_certificates_node ON node_certificates (node);
   -- A deleted node's last desired generation: added again, it goes on from there (its agent
   -- keeps the last document it realized and drops lower generations as stale).
   CREATE TABLE removed_nodes (
     name TEXT PRIMARY KEY,
     desired_generation INTEGER NOT NULL);`,
  // 4: the agent's time on the stored report (ms): controller replicas take a node's reports
  // through a shared subscription, so two of them can arrive at two replicas out of order; an
  // older one must not overwrite a newer one.
  `ALTER TABLE nodes ADD COLUMN reported_ts BIGINT;`,
  // 5: the newest store revision a desired document was built from: a replica holding an older
  // view of the objects must not publish over documents built from a newer one (issue #22).
  `ALTER TABLE revision ADD COLUMN published INTEGER NOT NULL DEFAULT 0;`,
];

export async function migrateStore(db: SqlDatabase): Promise<number[]> {
  return migrate(db, STORE_MODULE, STORE_MIGRATIONS);
}
