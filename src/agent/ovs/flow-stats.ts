// The bridge's counters read over its OpenFlow connection instead of `ovs-ofctl dump-flows
// --stats` text: per-flow stats (policy rule stats, the exporter's learned counters), per-table
// flow counts (metrics), per-port counters. Filters use the owner cookies (cookie.ts).
import { dumpFlowDesc, dumpFlowStats, dumpPortStats, dumpTableStats, FlowDescCursor, type FlowStatsEntry, type PortStats } from '../../lib/openflow/flow-stats.js';
import { LazyConnection } from '../../lib/openflow/shared.js';
import type { CookieFilter } from './cookie.js';

export interface StatsFilter {
  tableId?: number;
  cookie?: CookieFilter;
}

const lower = (f: StatsFilter) => ({ tableId: f.tableId, ...(f.cookie ? { cookie: f.cookie.value, cookieMask: f.cookie.mask } : {}) });

export class BridgeStats {
  private readonly conn: LazyConnection;

  constructor(mgmt: string) {
    this.conn = new LazyConnection(mgmt);
  }

  /** Flows with their counters and decoded match. */
  async flows(f: StatsFilter = {}): Promise<FlowStatsEntry[]> {
    return dumpFlowStats(await this.conn.get(), lower(f));
  }

  /** A cursor over the flows, for reading a few fields of many without decoding each. */
  async cursor(f: StatsFilter = {}): Promise<FlowDescCursor> {
    return new FlowDescCursor(await dumpFlowDesc(await this.conn.get(), lower(f)));
  }

  /** Flows per table (tables without flows left out): OVS counts them, nothing is dumped. */
  async flowsByTable(): Promise<Map<number, number>> {
    const counts = new Map<number, number>();
    for (const t of await dumpTableStats(await this.conn.get())) if (t.activeCount) counts.set(t.tableId, t.activeCount);
    return counts;
  }

  async ports(port?: number): Promise<PortStats[]> {
    return dumpPortStats(await this.conn.get(), port);
  }

  close(): Promise<void> {
    return this.conn.close();
  }
}
