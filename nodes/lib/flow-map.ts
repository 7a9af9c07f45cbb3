// Who talks to whom, from flow records: pods (or namespaces) as vertices, connections as edges
// weighted by bytes (both directions) and coloured by the policy verdict, and the SVG the
// editor shows. Also the chart-ready shapes the seine-flows node sends.
import { flowAddresses, RuleActionCode, type FlowRecord } from '../../src/api/flow-record.js';

export type Verdict = 'allowed' | 'denied' | 'no-policy';
export type Grouping = 'pod' | 'namespace';

export interface FlowEdge {
  source: string;
  destination: string;
  bytes: number;
  packets: number;
  connections: number;
  verdict: Verdict;
  /** Policies that decided, `ns/name` or `name` (cluster-scoped). */
  policies: string[];
}

export interface FlowGraph {
  vertices: { id: string; bytes: number }[];
  edges: FlowEdge[];
}

export function verdictOf(r: FlowRecord): Verdict {
  const actions = [r.ingressNetworkPolicyRuleAction, r.egressNetworkPolicyRuleAction];
  if (actions.some((a) => a === RuleActionCode.Drop || a === RuleActionCode.Reject)) return 'denied';
  if (actions.some((a) => a === RuleActionCode.Allow) || r.ingressNetworkPolicyName || r.egressNetworkPolicyName) return 'allowed';
  return 'no-policy';
}

function endpointName(ns: string, pod: string, ip: string, group: Grouping): string {
  if (!pod) return group === 'namespace' ? 'external' : ip || 'external';
  return group === 'namespace' ? ns : `${ns}/${pod}`;
}

const policyName = (ns: string, name: string) => (name ? (ns ? `${ns}/${name}` : name) : '');

export function buildFlowGraph(records: readonly FlowRecord[], group: Grouping): FlowGraph {
  const edges = new Map<string, FlowEdge>();
  const vertices = new Map<string, number>();
  const rank: Record<Verdict, number> = { 'no-policy': 0, allowed: 1, denied: 2 };
  for (const r of records) {
    const { source: sip, destination: dip } = flowAddresses(r);
    const s = endpointName(r.sourcePodNamespace, r.sourcePodName, sip, group);
    const d = endpointName(r.destinationPodNamespace, r.destinationPodName, dip, group);
    const bytes = r.octetTotalCount + r.reverseOctetTotalCount;
    const packets = r.packetTotalCount + r.reversePacketTotalCount;
    const key = `${s}\u0000${d}`;
    const e = edges.get(key) ?? { source: s, destination: d, bytes: 0, packets: 0, connections: 0, verdict: 'no-policy' as Verdict, policies: [] };
    e.bytes += bytes;
    e.packets += packets;
    e.connections++;
    const v = verdictOf(r);
    if (rank[v] > rank[e.verdict]) e.verdict = v;
    for (const p of [policyName(r.ingressNetworkPolicyNamespace, r.ingressNetworkPolicyName), policyName(r.egressNetworkPolicyNamespace, r.egressNetworkPolicyName)]) {
      if (p && !e.policies.includes(p)) e.policies.push(p);
    }
    edges.set(key, e);
    vertices.set(s, (vertices.get(s) ?? 0) + bytes);
    vertices.set(d, (vertices.get(d) ?? 0) + bytes);
  }
  return {
    vertices: [...vertices].map(([id, bytes]) => ({ id, bytes })).sort((a, b) => a.id.localeCompare(b.id)),
    edges: [...edges.values()].sort((a, b) => b.bytes - a.bytes || a.source.localeCompare(b.source) || a.destination.localeCompare(b.destination)),
  };
}

/** A table row: the edge plus `policyNames`, the policies as one readable cell ("—" for none; a table prints an array as `[]`). */
export type TopTalker = FlowEdge & { policyNames: string };

export const policyCell = (policies: readonly string[]): string => (policies.length ? policies.join(', ') : '—');

/** The busiest pairs, largest first: [{source, destination, bytes, …, policyNames}]. */
export function topTalkers(graph: FlowGraph, n: number): TopTalker[] {
  return graph.edges.slice(0, n).map((e) => ({ ...e, policyNames: policyCell(e.policies) }));
}

/** Bar-chart points (`x` the pair, `y` bytes) as the dashboard's ui-chart takes them. */
export function chartPoints(graph: FlowGraph, n: number): { x: string; y: number; verdict: Verdict }[] {
  return topTalkers(graph, n).map((e) => ({ x: `${e.source} → ${e.destination}`, y: e.bytes, verdict: e.verdict }));
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) (n /= 1024), i++;
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

const COLOURS: Record<Verdict, string> = { allowed: '#2e8540', denied: '#c62828', 'no-policy': '#7a8899' };
const xml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Vertices on a circle, edges as arrows whose width grows with log(bytes); a legend below. */
export function flowMapSvg(graph: FlowGraph, title: string): string {
  const n = graph.vertices.length;
  const R = Math.max(120, n * 28);
  const W = 2 * R + 320, H = 2 * R + 170, cx = W / 2, cy = R + 80;
  const pos = new Map(graph.vertices.map((v, i) => {
    const a = (2 * Math.PI * i) / Math.max(1, n) - Math.PI / 2;
    return [v.id, { x: cx + R * Math.cos(a), y: cy + R * Math.sin(a) }];
  }));
  // Width by log(bytes), spread over the range present, so small and large maps both read.
  const logs = graph.edges.map((e) => Math.log10(1 + e.bytes));
  const [minLog, maxLog] = logs.length ? [Math.min(...logs), Math.max(...logs)] : [0, 1];
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    '<defs>',
    ...Object.entries(COLOURS).map(([v, c]) => `<marker id="fm-${v}" viewBox="0 0 10 10" refX="10" refY="5" markerUnits="userSpaceOnUse" markerWidth="12" markerHeight="12" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="${c}"/></marker>`),
    '</defs>',
    `<text x="16" y="24" font-size="15" font-weight="bold">${xml(title)}</text>`,
    `<text x="16" y="44">${graph.vertices.length} endpoints, ${graph.edges.length} connections, ${formatBytes(graph.edges.reduce((s, e) => s + e.bytes, 0))}</text>`,
  ];
  if (!n) out.push(`<text x="${cx}" y="${cy}" text-anchor="middle" fill="#777">no flow records in this range</text>`);
  for (const e of graph.edges) {
    const a = pos.get(e.source)!, b = pos.get(e.destination)!;
    const width = 1.5 + 5 * ((Math.log10(1 + e.bytes) - minLog) / (maxLog - minLog || 1));
    const label = `${formatBytes(e.bytes)}${e.policies.length ? ` · ${e.policies.join(', ')}` : ''}`;
    const cls = `edge ${e.verdict}`;
    if (e.source === e.destination) {
      out.push(`<circle class="${cls}" cx="${a.x}" cy="${a.y - 26}" r="14" fill="none" stroke="${COLOURS[e.verdict]}" stroke-width="${width.toFixed(1)}"><title>${xml(`${e.source} → ${e.destination}: ${label}`)}</title></circle>`);
      continue;
    }
    // Shorten to the vertex circles' edge, and bend a little so a→b and b→a do not overlap.
    const dx = b.x - a.x, dy = b.y - a.y, len = Math.hypot(dx, dy) || 1;
    const [ux, uy] = [dx / len, dy / len];
    const [x1, y1, x2, y2] = [a.x + ux * 20, a.y + uy * 20, b.x - ux * 22, b.y - uy * 22];
    const [mx, my] = [(x1 + x2) / 2 - uy * 18, (y1 + y2) / 2 + ux * 18];
    out.push(`<path class="${cls}" d="M${x1.toFixed(1)},${y1.toFixed(1)} Q${mx.toFixed(1)},${my.toFixed(1)} ${x2.toFixed(1)},${y2.toFixed(1)}" fill="none" stroke="${COLOURS[e.verdict]}" stroke-width="${width.toFixed(1)}" stroke-opacity="0.8" marker-end="url(#fm-${e.verdict})"><title>${xml(`${e.source} → ${e.destination}: ${label}, ${e.connections} connection(s), ${e.verdict}`)}</title></path>`);
    // The label a third of the way along (nearer the source), so a→b and b→a, and crossing edges, do not share a spot.
    const t = 0.33, lx = (1 - t) ** 2 * x1 + 2 * (1 - t) * t * mx + t ** 2 * x2, ly = (1 - t) ** 2 * y1 + 2 * (1 - t) * t * my + t ** 2 * y2;
    out.push(`<text x="${lx.toFixed(1)}" y="${(ly - 4).toFixed(1)}" text-anchor="middle" font-size="10" fill="${COLOURS[e.verdict]}">${xml(label.length > 40 ? `${label.slice(0, 39)}…` : label)}</text>`);
  }
  for (const v of graph.vertices) {
    const p = pos.get(v.id)!;
    const right = p.x >= cx;
    out.push(`<circle class="vertex" cx="${p.x.toFixed(1)}" cy="${p.y.toFixed(1)}" r="18" fill="#eef3fb" stroke="#5577aa" stroke-width="2"><title>${xml(`${v.id}: ${formatBytes(v.bytes)}`)}</title></circle>`);
    out.push(`<text x="${(p.x + (right ? 24 : -24)).toFixed(1)}" y="${(p.y + 4).toFixed(1)}" text-anchor="${right ? 'start' : 'end'}" font-weight="bold">${xml(v.id)}</text>`);
  }
  const ly = H - 24;
  (['allowed', 'denied', 'no-policy'] as Verdict[]).forEach((v, i) => {
    const x = 16 + i * 170;
    out.push(`<line x1="${x}" y1="${ly}" x2="${x + 30}" y2="${ly}" stroke="${COLOURS[v]}" stroke-width="4"/>`, `<text x="${x + 38}" y="${ly + 4}">${v === 'allowed' ? 'allowed by a policy' : v === 'denied' ? 'denied (Drop/Reject)' : 'no policy applied'}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
