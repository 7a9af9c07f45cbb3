// The box-to-box latency matrix for flows and dashboards: NodeLatencyStats (one per box) as
// rows (one per directed pair) and as a from → to → milliseconds table a ui-table can show.
import type { NodeLatencyStats } from '../../src/api/node-config.js';

export interface LatencyRow {
  from: string;
  to: string;
  targetIP: string;
  /** Last measured round trip, ms; null when no reply came yet. */
  rttMs: number | null;
  lastRecvTime: string | null;
}

export interface LatencyMatrix {
  nodes: string[];
  rows: LatencyRow[];
  /** matrix[from][to] in ms (null: nothing measured). */
  matrix: Record<string, Record<string, number | null>>;
}

export function latencyMatrix(items: readonly NodeLatencyStats[]): LatencyMatrix {
  const rows: LatencyRow[] = [];
  for (const i of items) {
    for (const p of i.peerNodeLatencyStats) {
      for (const t of p.targetIPLatencyStats) {
        rows.push({
          from: i.metadata.name, to: p.nodeName, targetIP: t.targetIP,
          rttMs: t.lastMeasuredRTTNanoseconds === undefined ? null : Math.round(t.lastMeasuredRTTNanoseconds / 1000) / 1000,
          lastRecvTime: t.lastRecvTime ?? null,
        });
      }
    }
  }
  const nodes = [...new Set(rows.flatMap((r) => [r.from, r.to]))].sort();
  const matrix: LatencyMatrix['matrix'] = {};
  for (const from of nodes) matrix[from] = Object.fromEntries(nodes.filter((to) => to !== from).map((to) => [to, null]));
  for (const r of rows) {
    const cur = matrix[r.from]![r.to];
    // A peer with several addresses: the fastest measured one.
    if (r.rttMs !== null && (cur === null || cur === undefined || r.rttMs < cur)) matrix[r.from]![r.to] = r.rttMs;
  }
  return { nodes, rows, matrix };
}
