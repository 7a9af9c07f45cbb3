// A bounded on-disk outbox for what the agent sends (reports, events, later flow records):
// messages survive restarts and broker outages and leave in order once the broker acknowledges
// them. A state message (`retain` here: the report) supersedes the queued one on the same topic
// (only the latest state matters); it is not retained by the broker — nothing a node sends is. The outbox is bounded in messages and in payload bytes (a box offline for
// days must not fill its disk with flow batches): past either bound the oldest messages are
// dropped and counted, and the count persists so the loss can be reported.
import type { Database } from '../../lib/sqlite.js';

export interface OutboxMessage {
  id: number;
  topic: string;
  payload: string;
  retain: boolean;
}

/** Default bound of the payload bytes waiting in the outbox. */
export const DEFAULT_OUTBOX_BYTES = 64 << 20;

export class Outbox {
  private constructor(
    private readonly db: Database,
    private readonly limit: number,
    private readonly byteLimit: number,
    private droppedCount: number,
    /** Payload bytes waiting (kept here so no add has to sum the table). */
    private byteCount: number,
    /** Messages waiting (kept here too: this object is the table's only writer, and a count is a trip to SQLite's worker thread). */
    private messageCount: number,
  ) {}

  static async open(db: Database, limit: number, byteLimit = DEFAULT_OUTBOX_BYTES): Promise<Outbox> {
    const row = await db.get<{ value: number }>(`SELECT value FROM sync_counters WHERE name = 'outbox_dropped'`);
    const { bytes, n } = (await db.get<{ bytes: number | null; n: number }>('SELECT SUM(bytes) AS bytes, COUNT(*) AS n FROM sync_outbox'))!;
    return new Outbox(db, limit, byteLimit, row?.value ?? 0, bytes ?? 0, n);
  }

  /** Payload bytes waiting to be sent. */
  get bytes(): number {
    return this.byteCount;
  }

  /** Messages lost to the bound since this box first started. */
  get dropped(): number {
    return this.droppedCount;
  }

  async add(topic: string, payload: string, retain: boolean): Promise<void> {
    const size = Buffer.byteLength(payload);
    // byteCount and messageCount move by deltas (a concurrent remove() subtracts its own); a
    // transaction that rolled back has moved them for nothing: they are read again then.
    const dropped = await this.db.transaction(async (tx) => {
      if (retain) {
        const old = await tx.all<{ bytes: number }>('DELETE FROM sync_outbox WHERE topic = ? AND retain = 1 RETURNING bytes', [topic]);
        for (const o of old) this.byteCount -= o.bytes;
        this.messageCount -= old.length;
      }
      const { id } = (await tx.get<{ id: number }>('INSERT INTO sync_outbox (topic, payload, retain, created_at, bytes) VALUES (?, ?, ?, ?, ?) RETURNING id', [topic, payload, retain ? 1 : 0, new Date().toISOString(), size]))!;
      this.byteCount += size;
      this.messageCount++;
      // The oldest go first, until both bounds hold; the message just added always stays.
      let excess = Math.max(0, this.messageCount - this.limit);
      let freed = 0;
      let lastId = 0;
      const over = () => excess > 0 || this.byteCount - freed > this.byteLimit;
      while (over()) {
        // In batches: usually one or two old messages make room.
        const batch = await tx.all<{ id: number; bytes: number }>('SELECT id, bytes FROM sync_outbox WHERE id > ? AND id < ? ORDER BY id LIMIT 64', [lastId, id]);
        if (!batch.length) break;
        for (const r of batch) {
          if (!over()) break;
          excess--;
          freed += r.bytes;
          lastId = r.id;
        }
      }
      if (lastId === 0) return 0;
      const { changes } = await tx.run('DELETE FROM sync_outbox WHERE id <= ?', [lastId]);
      this.byteCount -= freed;
      this.messageCount -= changes;
      await tx.run(
        `INSERT INTO sync_counters (name, value) VALUES ('outbox_dropped', ?) ON CONFLICT (name) DO UPDATE SET value = value + excluded.value`,
        [changes],
      );
      return changes;
    }).catch(async (err: unknown) => {
      const { bytes, n } = (await this.db.get<{ bytes: number | null; n: number }>('SELECT SUM(bytes) AS bytes, COUNT(*) AS n FROM sync_outbox'))!;
      this.byteCount = bytes ?? 0;
      this.messageCount = n;
      throw err;
    });
    this.droppedCount += dropped;
  }

  async peek(max = 100): Promise<OutboxMessage[]> {
    const rows = await this.db.all<{ id: number; topic: string; payload: string; retain: number }>('SELECT id, topic, payload, retain FROM sync_outbox ORDER BY id LIMIT ?', [max]);
    return rows.map((r) => ({ ...r, retain: r.retain === 1 }));
  }

  async remove(id: number): Promise<void> {
    const gone = await this.db.get<{ bytes: number }>('DELETE FROM sync_outbox WHERE id = ? RETURNING bytes', [id]);
    if (gone) {
      this.byteCount -= gone.bytes;
      this.messageCount--;
    }
  }

  async size(): Promise<number> {
    return this.messageCount;
  }
}
