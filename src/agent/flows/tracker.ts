// The connection store between polls (Antrea's flowexporter connection store, simplified):
// keeps every connection seen, accumulates its counters (a source's counters may restart —
// a learned counter flow that idled out, OVS restarted — and are then added, not subtracted),
// and says which connections are due for a record this poll:
//   first seen                       → a record (flowEndReason 2, active)
//   changed, ≥ activeTimeout since the last record → a record (2, active timeout)
//   unchanged for ≥ idleTimeout, once → a record (1, idle timeout)
//   gone from the source             → a last record (3, end of flow), then forgotten
import type { ConntrackEntry, Counters } from './conntrack.js';

export const FlowEndReason = { IdleTimeout: 1, ActiveTimeout: 2, EndOfFlow: 3 } as const;

export interface TrackerOptions {
  activeTimeoutS: number;
  idleTimeoutS: number;
}

export interface TrackedConnection {
  key: string;
  entry: ConntrackEntry;
  startSeconds: number;
  lastSeenSeconds: number;
  lastChangeSeconds: number;
  totals: Counters;
  /** The source's last counter values (to take deltas). */
  raw: Counters;
  /** totals at the last record. */
  exported: Counters;
  lastExportSeconds: number;
  idleExported: boolean;
}

export interface DueRecord {
  conn: TrackedConnection;
  /** The connection's first record. */
  first: boolean;
  reason: number;
  nowSeconds: number;
  delta: Counters;
}

const zero = (): Counters => ({ packets: 0, octets: 0, reversePackets: 0, reverseOctets: 0 });
const FIELDS = ['packets', 'octets', 'reversePackets', 'reverseOctets'] as const;

export class ConnectionTracker {
  private readonly conns = new Map<string, TrackedConnection>();

  constructor(private opts: TrackerOptions) {}

  /** New timeouts from the next poll on (a NodeConfig changed them; connections tracked stay). */
  setTimeouts(opts: TrackerOptions): void {
    this.opts = { ...opts };
  }

  get size(): number {
    return this.conns.size;
  }

  /** One poll's entries, keyed; returns the records due. */
  observe(entries: ReadonlyMap<string, ConntrackEntry>, nowSeconds: number): DueRecord[] {
    const due: DueRecord[] = [];
    for (const [key, entry] of entries) {
      const raw = entry.counters ?? zero();
      let c = this.conns.get(key);
      if (!c) {
        c = {
          key, entry, startSeconds: Math.min(entry.startSeconds ?? nowSeconds, nowSeconds), lastSeenSeconds: nowSeconds, lastChangeSeconds: nowSeconds,
          totals: { ...raw }, raw: { ...raw }, exported: zero(), lastExportSeconds: nowSeconds, idleExported: false,
        };
        this.conns.set(key, c);
        due.push({ ...this.export(c, FlowEndReason.ActiveTimeout, nowSeconds), first: true });
        continue;
      }
      let changed = false;
      for (const f of FIELDS) {
        const d = raw[f] >= c.raw[f] ? raw[f] - c.raw[f] : raw[f]; // restarted counter: all of it is new
        if (d > 0) {
          c.totals[f] += d;
          changed = true;
        }
      }
      if (entry.tcpState !== c.entry.tcpState) changed = true;
      c.raw = { ...raw };
      c.entry = entry;
      c.lastSeenSeconds = nowSeconds;
      if (changed) {
        c.lastChangeSeconds = nowSeconds;
        c.idleExported = false;
      }
      const fresh = FIELDS.some((f) => c!.totals[f] !== c!.exported[f]) || changed;
      if (fresh && nowSeconds - c.lastExportSeconds >= this.opts.activeTimeoutS) due.push(this.export(c, FlowEndReason.ActiveTimeout, nowSeconds));
      else if (!c.idleExported && nowSeconds - c.lastChangeSeconds >= this.opts.idleTimeoutS) {
        c.idleExported = true;
        due.push(this.export(c, FlowEndReason.IdleTimeout, nowSeconds));
      }
    }
    for (const [key, c] of this.conns) {
      if (entries.has(key)) continue;
      this.conns.delete(key);
      due.push(this.export(c, FlowEndReason.EndOfFlow, nowSeconds));
    }
    return due;
  }

  /** Every live connection (metrics, RSS bench). */
  connections(): IterableIterator<TrackedConnection> {
    return this.conns.values();
  }

  private export(c: TrackedConnection, reason: number, nowSeconds: number): DueRecord {
    const delta = zero();
    for (const f of FIELDS) delta[f] = c.totals[f] - c.exported[f];
    c.exported = { ...c.totals };
    c.lastExportSeconds = nowSeconds;
    return { conn: c, reason, nowSeconds, delta, first: false };
  }
}
