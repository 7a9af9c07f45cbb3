// The store's identity: a random id made once, when the store is created, and kept with it.
// Desired documents carry it, so an agent can tell "a new (wiped or replaced) store whose node
// generations start again at 1" from "a stale or replayed document of the store it follows".
// Its own migration module, so it sits beside the store's tables without touching them.
import { randomUUID } from 'node:crypto';
import { migrate, type SqlDatabase } from '../../lib/sqlite.js';

export const IDENTITY_MODULE = 'controller-identity';

export const IDENTITY_MIGRATIONS: readonly string[] = [
  `CREATE TABLE store_identity (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     store_id TEXT NOT NULL,
     created_at TEXT NOT NULL);`,
];

/** The store's id, made on first use and the same ever after for this store. */
export async function storeId(db: SqlDatabase): Promise<string> {
  await migrate(db, IDENTITY_MODULE, IDENTITY_MIGRATIONS);
  await db.run('INSERT INTO store_identity (id, store_id, created_at) VALUES (1, ?, ?) ON CONFLICT (id) DO NOTHING', [randomUUID(), new Date().toISOString()]);
  return (await db.get<{ store_id: string }>('SELECT store_id FROM store_identity WHERE id = 1'))!.store_id;
}
