// A bounded on-disk outbox for what the agent sends (reports, events, later flow records):
// messages survive restarts and broker outages and leave in order once the broker acknowledges
// them. A state message (`retain` here: the report) supersedes the queued one on the same topic
// (only the latest state matters); it is not retained by the broker — nothing a node sends is. The outbox is bounded in messages and in payload bytes (a box offline for
// days must not fill its disk with flow batches): past either bound the oldest messages are
// dropped and counted, and the count persists so the loss can be reported.
//
// Cost per message (the box's apply path, docs/agent.md "Cost per desired document"): this
// object is the table's only writer, so it knows the table without reading it back. An add
// within the bounds is one prepared statement (a state message replaces its predecessor through
// the unique index on retained topics: INSERT OR REPLACE); what is waiting is mirrored in memory
// while it is small, so sending reads nothing; an acknowledged state message is not deleted but
// left for its successor's REPLACE to remove (a restart in between sends it once more, which
// at-least-once delivery allows, and the agent supersedes it with a new report first anyway).
// Acknowledged events and flows are deleted, one statement each.
import type { Database, PreparedStatement } from '../../lib/sqlite.js';

export interface OutboxMessage {
  id: number;
  topic: string;
  payload: string;
  retain: boolean;
}

/** Default bound of the payload bytes waiting in the outbox. */
export const DEFAULT_OUTBOX_BYTES = 64 << 20;

/** Up to this many payload bytes waiting are also kept in memory (a report is a few kB; a long outage's flows are not). */
const MIRROR_BYTES = 1 << 20;

/** The row of a state message (one per topic): waiting, or acknowledged and left for the next one to replace. */
interface StateRow { id: number; bytes: number; acked: boolean }

export class Outbox {
  /** Messages waiting, oldest first, while their payloads fit MIRROR_BYTES; undefined: read them from SQLite. */
  private mirror: OutboxMessage[] | undefined;
  private mirrorBytes = 0;
  private readonly insertState: PreparedStatement;
  private readonly insertMessage: PreparedStatement;
  private readonly deleteMessage: PreparedStatement;

  private constructor(
    private readonly db: Database,
    private readonly limit: number,
    private readonly byteLimit: number,
    private droppedCount: number,
    /** Payload bytes of every row (kept here so no add has to sum the table). */
    private byteCount: number,
    /** Rows in the table (kept here too: a count is a trip to SQLite's worker thread). */
    private messageCount: number,
    private readonly states: Map<string, StateRow>,
    mirror: OutboxMessage[] | undefined,
  ) {
    this.setMirror(mirror);
    const insert = 'INTO sync_outbox (topic, payload, retain, created_at, bytes) VALUES (?, ?, ?, ?, ?)';
    this.insertState = db.prepare(`INSERT OR REPLACE ${insert}`);
    this.insertMessage = db.prepare(`INSERT ${insert}`);
    this.deleteMessage = db.prepare('DELETE FROM sync_outbox WHERE id = ?');
  }

  static async open(db: Database, limit: number, byteLimit = DEFAULT_OUTBOX_BYTES): Promise<Outbox> {
    const row = await db.get<{ value: number }>(`SELECT value FROM sync_counters WHERE name = 'outbox_dropped'`);
    const { bytes, n } = (await db.get<{ bytes: number | null; n: number }>('SELECT SUM(bytes) AS bytes, COUNT(*) AS n FROM sync_outbox'))!;
    const states = await db.all<{ id: number; topic: string; bytes: number }>('SELECT id, topic, bytes FROM sync_outbox WHERE retain = 1');
    // After a restart nothing is known to be acknowledged: every row waits.
    const stateMap = new Map(states.map((s) => [s.topic, { id: s.id, bytes: s.bytes, acked: false }]));
    const mirror = (bytes ?? 0) <= MIRROR_BYTES ? await readRows(db, n + 1) : undefined;
    return new Outbox(db, limit, byteLimit, row?.value ?? 0, bytes ?? 0, n, stateMap, mirror);
  }

  /** Payload bytes waiting to be sent. */
  get bytes(): number {
    return this.byteCount - this.ackedStates().reduce((sum, s) => sum + s.bytes, 0);
  }

  /** Messages lost to the bound since this box first started. */
  get dropped(): number {
    return this.droppedCount;
  }

  async add(topic: string, payload: string, retain: boolean): Promise<void> {
    const size = Buffer.byteLength(payload);
    const before = retain ? this.states.get(topic) : undefined;
    if (this.messageCount + 1 - (before ? 1 : 0) > this.limit || this.byteCount + size - (before?.bytes ?? 0) > this.byteLimit) {
      await this.addOverBound(topic, payload, retain, size);
      return;
    }
    // One statement, atomic by itself; REPLACE removes the topic's previous state row (waiting or acknowledged).
    const { lastId: id } = await (retain ? this.insertState : this.insertMessage).run([topic, payload, retain ? 1 : 0, new Date().toISOString(), size]);
    // Counted once the row exists (a failed insert moves nothing), by deltas against the row
    // replaced now: statements run in call order, so a concurrent add's row is known by then.
    const prev = retain ? this.states.get(topic) : undefined;
    this.messageCount += prev ? 0 : 1;
    this.byteCount += size - (prev?.bytes ?? 0);
    if (prev) this.forget(prev.id);
    if (retain) this.states.set(topic, { id, bytes: size, acked: false });
    this.remember({ id, topic, payload, retain });
  }

  /**
   * An add that passes a bound: in one transaction the acknowledged state rows go first (they
   * are no loss), then the oldest messages until both bounds hold; the message just added always
   * stays. Rare (a long outage), so the mirror is dropped and rebuilt once the outbox drains.
   */
  private async addOverBound(topic: string, payload: string, retain: boolean, size: number): Promise<void> {
    this.setMirror(undefined);
    // byteCount and messageCount move by deltas (a concurrent remove() subtracts its own); a
    // transaction that rolled back has moved them for nothing: they are read again then.
    const dropped = await this.db.transaction(async (tx) => {
      for (const [t, s] of this.states) {
        if (!s.acked && !(retain && t === topic)) continue;
        await tx.run('DELETE FROM sync_outbox WHERE id = ?', [s.id]);
        this.byteCount -= s.bytes;
        this.messageCount--;
        this.states.delete(t);
      }
      const { lastId: id } = await tx.run('INSERT INTO sync_outbox (topic, payload, retain, created_at, bytes) VALUES (?, ?, ?, ?, ?)', [topic, payload, retain ? 1 : 0, new Date().toISOString(), size]);
      if (retain) this.states.set(topic, { id, bytes: size, acked: false });
      this.byteCount += size;
      this.messageCount++;
      // The oldest go first, until both bounds hold.
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
      for (const [t, s] of this.states) if (s.id <= lastId) this.states.delete(t);
      await tx.run(
        `INSERT INTO sync_counters (name, value) VALUES ('outbox_dropped', ?) ON CONFLICT (name) DO UPDATE SET value = value + excluded.value`,
        [changes],
      );
      return changes;
    }).catch(async (err: unknown) => {
      const { bytes, n } = (await this.db.get<{ bytes: number | null; n: number }>('SELECT SUM(bytes) AS bytes, COUNT(*) AS n FROM sync_outbox'))!;
      this.byteCount = bytes ?? 0;
      this.messageCount = n;
      this.states.clear();
      for (const s of await this.db.all<{ id: number; topic: string; bytes: number }>('SELECT id, topic, bytes FROM sync_outbox WHERE retain = 1')) {
        this.states.set(s.topic, { id: s.id, bytes: s.bytes, acked: false });
      }
      throw err;
    });
    this.droppedCount += dropped;
  }

  /** The oldest `max` messages waiting (acknowledged state rows are not waiting). */
  async peek(max = 100): Promise<OutboxMessage[]> {
    if (this.mirror) return this.mirror.slice(0, max);
    const acked = new Set(this.ackedStates().map((s) => s.id));
    const rows = await readRows(this.db, max + acked.size);
    const waiting = rows.filter((r) => !acked.has(r.id));
    // The whole table was read and it is small again: keep it in memory from here on.
    if (rows.length < max + acked.size && waiting.reduce((sum, m) => sum + Buffer.byteLength(m.payload), 0) <= MIRROR_BYTES) this.setMirror(waiting);
    return waiting.slice(0, max);
  }

  /** The broker acknowledged message `id`. */
  async remove(id: number): Promise<void> {
    for (const s of this.states.values()) {
      if (s.id !== id) continue;
      // Left in place for the next state message's REPLACE (see the top of this file).
      s.acked = true;
      this.forget(id);
      return;
    }
    let bytes: number | undefined;
    if (this.mirror) {
      const known = this.mirror.find((m) => m.id === id);
      if (!known) return; // replaced or dropped while it was on its way: nothing left to delete
      if (!(await this.deleteMessage.run([id])).changes) return;
      bytes = Buffer.byteLength(known.payload);
    } else {
      bytes = (await this.db.get<{ bytes: number }>('DELETE FROM sync_outbox WHERE id = ? RETURNING bytes', [id]))?.bytes;
      if (bytes === undefined) return;
    }
    this.byteCount -= bytes;
    this.messageCount--;
    this.forget(id);
  }

  /** Messages waiting to be sent. */
  async size(): Promise<number> {
    return this.messageCount - this.ackedStates().length;
  }

  private ackedStates(): StateRow[] {
    return [...this.states.values()].filter((s) => s.acked);
  }

  private setMirror(messages: OutboxMessage[] | undefined): void {
    this.mirror = messages;
    this.mirrorBytes = messages?.reduce((sum, m) => sum + Buffer.byteLength(m.payload), 0) ?? 0;
  }

  private remember(m: OutboxMessage): void {
    const size = Buffer.byteLength(m.payload);
    if (!this.mirror) {
      // Nothing else waits (the outbox drained): the mirror is complete again.
      if (this.messageCount - this.ackedStates().length === 1 && size <= MIRROR_BYTES) this.setMirror([m]);
      return;
    }
    if (this.mirrorBytes + size > MIRROR_BYTES) return this.setMirror(undefined);
    this.mirror.push(m);
    this.mirrorBytes += size;
  }

  private forget(id: number): void {
    if (!this.mirror) return;
    const i = this.mirror.findIndex((m) => m.id === id);
    if (i < 0) return;
    this.mirrorBytes -= Buffer.byteLength(this.mirror[i]!.payload);
    this.mirror.splice(i, 1);
  }
}

async function readRows(db: Database, max: number): Promise<OutboxMessage[]> {
  const rows = await db.all<{ id: number; topic: string; payload: string; retain: number }>('SELECT id, topic, payload, retain FROM sync_outbox ORDER BY id LIMIT ?', [max]);
  return rows.map((r) => ({ ...r, retain: r.retain === 1 }));
}
