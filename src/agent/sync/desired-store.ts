// The last known good desired state, kept in the agent's SQLite so the box enforces it at start
// even when neither broker nor controller can be reached; and the controller stores it followed
// before (a document from one of those is stale, whatever its generation).
import { NodeDesiredSchema, type NodeDesired } from '../../api/node-state.js';
import { createLogger } from '../../lib/log.js';
import type { Database, PreparedStatement } from '../../lib/sqlite.js';

const log = createLogger('agent.sync');

const UPSERT = `INSERT INTO sync_desired (id, generation, document, received_at) VALUES (1, ?, ?, ?)
  ON CONFLICT (id) DO UPDATE SET generation = excluded.generation, document = excluded.document, received_at = excluded.received_at`;

export class DesiredStore {
  /** The one statement of a document's save from the same store (prepared once: it runs per document). */
  private readonly upsert: PreparedStatement;
  /**
   * The store of the saved row, once known (read by load(), or written by save()): this object
   * is the row's only writer, so the next save need not read it back. Absent row: store undefined.
   */
  private saved?: { storeId: string | undefined };

  constructor(private readonly db: Database) {
    this.upsert = db.prepare(UPSERT);
  }

  async load(): Promise<NodeDesired | undefined> {
    const row = await this.db.get<{ document: string }>('SELECT document FROM sync_desired WHERE id = 1');
    // What a save's transaction would read back (storeIdOf: undefined when it does not parse).
    this.saved = { storeId: row ? storeIdOf(row.document) : undefined };
    if (!row) return undefined;
    // Validated again: a file edited by hand or written by an older agent must not be trusted
    // blindly; a document that does not even parse is none (the controller sends it again), never a crash.
    let json: unknown;
    try {
      json = JSON.parse(row.document);
    } catch (err) {
      log.error({ err: (err as Error).message, bytes: row.document.length }, 'persisted desired state does not parse; ignoring it');
      return undefined;
    }
    const parsed = NodeDesiredSchema.safeParse(json);
    if (!parsed.success) {
      log.error({ issues: parsed.error.issues.slice(0, 3) }, 'persisted desired state is invalid; ignoring it');
      return undefined;
    }
    return parsed.data;
  }

  /**
   * Saves the document; when it comes from another store than the saved one, that store is
   * retired. `saved`: the store id of the document saved last, when the caller knows it; else
   * what load() or the last save here found. Known and the same store (or none), the save is one
   * statement, not a transaction that reads the old document back (on the box's apply path:
   * docs/agent.md, "Cost per desired document") — also a box's first document after start.
   */
  async save(desired: NodeDesired, saved: { storeId: string | undefined } | undefined = this.saved): Promise<void> {
    const now = new Date().toISOString();
    const params = [desired.generation, JSON.stringify(desired), now];
    if (saved && (saved.storeId === undefined || saved.storeId === desired.storeId)) {
      await this.upsert.run(params); // one statement: atomic by itself
      this.saved = { storeId: desired.storeId };
      return;
    }
    await this.db.transaction(async (tx) => {
      const prevStore = saved ? saved.storeId : await tx.get<{ document: string }>('SELECT document FROM sync_desired WHERE id = 1').then((prev) => prev && storeIdOf(prev.document));
      if (prevStore !== undefined && prevStore !== desired.storeId) {
        await tx.run('INSERT INTO sync_retired_stores (store_id, retired_at) VALUES (?, ?) ON CONFLICT (store_id) DO NOTHING', [prevStore, now]);
      }
      await tx.run(UPSERT, params);
    });
    this.saved = { storeId: desired.storeId };
  }

  async retiredStores(): Promise<Set<string>> {
    return new Set((await this.db.all<{ store_id: string }>('SELECT store_id FROM sync_retired_stores')).map((r) => r.store_id));
  }
}

/** The storeId of a saved document; undefined when it does not parse (nothing to retire). */
function storeIdOf(document: string): string | undefined {
  try {
    return (JSON.parse(document) as { storeId?: string }).storeId;
  } catch {
    return undefined;
  }
}
