// How seinectl shows a Traceflow: the hops as a path (table), the object (json/yaml), or a
// Graphviz graph (dot) with one cluster per node — the graph the Node-RED node will draw.
import { stringify } from 'yaml';
import type { TraceflowObservation, TraceflowSpec, TraceflowStatus } from '../../api/traceflow.js';
import { table } from './print.js';

export type TraceflowFormat = 'table' | 'json' | 'yaml' | 'dot';

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
