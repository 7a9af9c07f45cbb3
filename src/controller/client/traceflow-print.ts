// How seinectl shows a Traceflow: the hops as a path (table), the object (json/yaml), or a
// Graphviz graph (dot) with one cluster per node, or a self-contained SVG of the same graph (the
// picture the Node-RED node will show).
import { stringify } from 'yaml';
import type { TraceflowObservation, TraceflowSpec, TraceflowStatus } from '../../api/traceflow.js';
import { table } from '../../lib/table.js';

export type TraceflowFormat = 'table' | 'json' | 'yaml' | 'dot' | 'svg';

export interface TraceflowView {
  metadata: { name: string };
  spec: TraceflowSpec;
  status?: TraceflowStatus;
}

const endpoint = (e: { namespace?: string; pod?: string; service?: string; ip?: string } | undefined) =>
  !e ? '?' : e.pod ? `${e.namespace}/${e.pod}` : e.service ? `svc/${e.namespace}/${e.service}` : (e.ip ?? '?');

function detail(o: TraceflowObservation): string {
  const parts = [
    o.networkPolicy && `policy=${o.networkPolicy}`,
    o.networkPolicyRule && `rule=${o.networkPolicyRule}`,
    o.tunnelDstIP && `tunnelDstIP=${o.tunnelDstIP}`,
    o.pod && `pod=${o.pod}`,
    o.translatedDstIP && `translatedDstIP=${o.translatedDstIP}`,
    o.ttl !== undefined && `ttl=${o.ttl}`,
  ];
  return parts.filter(Boolean).join(' ');
}

export function printTraceflow(tf: TraceflowView, format: TraceflowFormat): string {
  if (format === 'json') return `${JSON.stringify(tf, null, 2)}\n`;
  if (format === 'yaml') return stringify(tf);
  if (format === 'dot') return traceflowDot(tf);
  if (format === 'svg') return traceflowSvg(tf);
  const st = tf.status ?? {};
  const head = `${tf.metadata.name}: ${endpoint(tf.spec.source)} -> ${endpoint(tf.spec.destination)}  phase ${st.phase ?? 'Pending'}${st.dataplaneTag ? `  tag ${st.dataplaneTag}` : ''}`;
  const lines = [head];
  if (st.reason) lines.push(`reason: ${st.reason}`);
  const cp = st.capturedPacket;
  if (cp) lines.push(`captured packet: ${cp.srcIP ?? '?'} -> ${cp.dstIP ?? '?'}  protocol ${cp.ipHeader?.protocol ?? '?'}  length ${cp.length ?? '?'}`);
  const rows: string[][] = [['#', 'NODE', 'ROLE', 'COMPONENT', 'TABLE', 'ACTION', 'DETAIL']];
  let n = 0;
  for (const r of st.results ?? []) {
    for (const o of r.observations) rows.push([String(++n), r.node, r.role, o.component, o.componentInfo ?? '', o.action, detail(o)]);
  }
  if (n) lines.push(table(rows).trimEnd());
  return `${lines.join('\n')}\n`;
}

const q = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

export function traceflowDot(tf: TraceflowView): string {
  const out = [`digraph ${q(tf.metadata.name)} {`, '  rankdir=LR;', '  node [shape=box, style="rounded,filled", fillcolor="#eef3fb", fontname="Helvetica"];'];
  out.push(`  src [label=${q(endpoint(tf.spec.source))}, shape=ellipse, fillcolor="#d9ead3"];`);
  let prev = 'src';
  let i = 0;
  for (const [c, r] of (tf.status?.results ?? []).entries()) {
    out.push(`  subgraph cluster_${c} {`, `    label=${q(`${r.node} (${r.role})`)};`);
    for (const o of r.observations) {
      const id = `o${i++}`;
      const bad = o.action === 'Dropped' || o.action === 'Rejected';
      const label = [`${o.component}${o.componentInfo ? ` / ${o.componentInfo}` : ''}`, o.action, detail(o)].filter(Boolean).join('\\n');
      out.push(`    ${id} [label=${q(label).replace(/\\\\n/g, '\\n')}${bad ? ', fillcolor="#f4cccc"' : ''}];`);
      out.push(`    ${prev} -> ${id};`);
      prev = id;
    }
    out.push('  }');
  }
  const last = tf.status?.results?.at(-1)?.observations.at(-1);
  if (last?.action === 'Delivered') out.push(`  dst [label=${q(endpoint(tf.spec.destination))}, shape=ellipse, fillcolor="#d9ead3"];`, `  ${prev} -> dst;`);
  out.push('}');
  return `${out.join('\n')}\n`;
}

const xml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/**
 * The trace as a self-contained SVG (no Graphviz needed): one column per node, the hops top to
 * bottom, drops and rejects in red; the picture the Node-RED node shows.
 */
export function traceflowSvg(tf: TraceflowView): string {
  const W = 280, H = 58, GAP = 26, COL = 330, PAD = 20, TOP = 96;
  const results = tf.status?.results ?? [];
  const rows = Math.max(1, ...results.map((r) => r.observations.length));
  const width = PAD * 2 + Math.max(1, results.length) * COL;
  const height = TOP + rows * (H + GAP) + 80;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>',
    `<text x="${PAD}" y="24" font-size="15" font-weight="bold">${xml(`${tf.metadata.name}: ${endpoint(tf.spec.source)} → ${endpoint(tf.spec.destination)}`)}</text>`,
    `<text x="${PAD}" y="44">${xml(`phase ${tf.status?.phase ?? 'Pending'}${tf.status?.dataplaneTag ? `, tag ${tf.status.dataplaneTag}` : ''}${tf.status?.reason ? ` — ${tf.status.reason}` : ''}`)}</text>`,
  ];
  // The hop before: its box's bottom-centre (the next hop below it) and right-side middle (the next node's column).
  let prev: { x: number; y: number; right: number; mid: number } | undefined;
  results.forEach((r, c) => {
    const x0 = PAD + c * COL;
    out.push(`<rect x="${x0}" y="${TOP - 30}" width="${W + 20}" height="${r.observations.length * (H + GAP) + 30}" rx="8" fill="none" stroke="#9aa" stroke-dasharray="4 3"/>`);
    out.push(`<text x="${x0 + 8}" y="${TOP - 12}" font-weight="bold">${xml(`${r.node} (${r.role})`)}</text>`);
    r.observations.forEach((o, i) => {
      const x = x0 + 10, y = TOP + i * (H + GAP);
      const bad = o.action === 'Dropped' || o.action === 'Rejected';
      out.push(`<rect x="${x}" y="${y}" width="${W}" height="${H}" rx="6" fill="${bad ? '#f4cccc' : '#eef3fb'}" stroke="${bad ? '#c00' : '#5577aa'}"/>`);
      const lines = [`${o.component}${o.componentInfo ? ` / ${o.componentInfo}` : ''}`, o.action, detail(o)].filter(Boolean);
      lines.forEach((l, k) => out.push(`<text x="${x + 8}" y="${y + 17 + k * 15}"${k === 1 ? ' font-weight="bold"' : ''}>${xml(l.length > 44 ? `${l.slice(0, 43)}…` : l)}</text>`));
      if (prev && i === 0) {
        // Into the next node (the tunnel): from the last hop's right side to this hop's left side,
        // turning in the gap between the two columns, not a diagonal across both boxes.
        const turn = x0 - (COL - W - 20) / 2;
        out.push(`<path class="tunnel" d="M${prev.right},${prev.mid} H${turn} V${y + H / 2} H${x}" fill="none" stroke="#555" marker-end="url(#arrow)"/>`);
      } else if (prev) out.push(`<line x1="${prev.x}" y1="${prev.y}" x2="${x + W / 2}" y2="${y}" stroke="#555" marker-end="url(#arrow)"/>`);
      prev = { x: x + W / 2, y: y + H, right: x + W, mid: y + H / 2 };
    });
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
