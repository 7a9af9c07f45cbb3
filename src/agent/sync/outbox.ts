// A bounded on-disk outbox for what the agent sends (reports, events, later flow records):
// messages survive restarts and broker outages and leave in order once the broker acknowledges
// them. A retained state message supersedes the queued one on the same topic (only the latest
// state matters); when the bound is hit the oldest messages are dropped and counted, and the
// count persists so the loss can be reported.
import type { Database } from '../../lib/sqlite.js';

export interface OutboxMessage {
  id: number;
  topic: string;
  payload: string;
  retain: boolean;
}

export class Outbox {
  private constructor(private readonly db: Database, private readonly limit: number, private droppedCount: number) {}

  static async open(db: Database, limit: number): Promise<Outbox> {
    const row = await db.get<{ value: number }>(`SELECT value FROM sync_counters WHERE name = 'outbox_dropped'`);
    return new Outbox(db, limit, row?.value ?? 0);
  }

  /** Messages lost to the bound since this box first started. */
  get dropped(): number {
    return this.droppedCount;
  }

  async add(topic: string, payload: string, retain: boolean): Promise<void> {
    const dropped = await this.db.transaction(async (tx) => {
      if (retain) await tx.run('DELETE FROM sync_outbox WHERE topic = ? AND retain = 1', [topic]);
      await tx.run('INSERT INTO sync_outbox (topic, payload, retain, created_at) VALUES (?, ?, ?, ?)', [topic, payload, retain ? 1 : 0, new Date().toISOString()]);
      const { n } = (await tx.get<{ n: number }>('SELECT COUNT(*) AS n FROM sync_outbox'))!;
      const excess = n - this.limit;
      if (excess <= 0) return 0;
      await tx.run('DELETE FROM sync_outbox WHERE id IN (SELECT id FROM sync_outbox ORDER BY id LIMIT ?)', [excess]);
      await tx.run(
        `INSERT INTO sync_counters (name, value) VALUES ('outbox_dropped', ?) ON CONFLICT (name) DO UPDATE SET value = value + excluded.value`,
        [excess],
      );
      return excess;
    });
    this.droppedCount += dropped;
  }

  async peek(max = 100): Promise<OutboxMessage[]> {
    const rows = await this.db.all<{ id: number; topic: string; payload: string; retain: number }>('SELECT id, topic, payload, retain FROM sync_outbox ORDER BY id LIMIT ?', [max]);
    return rows.map((r) => ({ ...r, retain: r.retain === 1 }));
  }

  async remove(id: number): Promise<void> {
    await this.db.run('DELETE FROM sync_outbox WHERE id = ?', [id]);
  }

  async size(): Promise<number> {
    return (await this.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM sync_outbox'))!.n;
  }
}
