// seinectl's output of an impact preview: the newly denied and newly allowed connections as
// tables (source, destination, port, protocol, last seen, count, verdict before → after), the
// counts, and the boxes not heard from; or the answer as JSON/YAML.
import { stringify } from 'yaml';
import type { ConnectionEndpoint, ImpactEntry, ImpactResult } from '../../api/impact.js';
import { table } from '../../lib/table.js';

const endpoint = (e: ConnectionEndpoint) => (e.pod ? `${e.namespace}/${e.pod} (${e.ip})` : e.ip);
const verdict = (v: ImpactEntry['before']) => `${v.action}${v.policy ? ` ${v.policy}` : v.decidedBy === 'policy' ? '' : ` (${v.decidedBy})`}`;

function entries(title: string, list: readonly ImpactEntry[], total: number): string {
  if (!total) return `${title}: none\n`;
  const rows = list.map((e) => [
    endpoint(e.source),
    `${endpoint(e.destination)}${e.service ? ` via ${e.service.ip}:${e.service.port}` : ''}`,
    e.protocol === 'ICMP' ? '-' : String(e.port),
    e.protocol,
    new Date(e.lastSeen * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    String(e.count),
    `${verdict(e.before)} -> ${verdict(e.after)}`,
  ]);
  const more = total > list.length ? `(${total - list.length} more not listed)\n` : '';
  return `${title} (${total}):\n${table([['SOURCE', 'DESTINATION', 'PORT', 'PROTOCOL', 'LAST SEEN', 'COUNT', 'BEFORE -> AFTER'], ...rows])}${more}`;
}

export function printImpact(r: ImpactResult, format: 'table' | 'json' | 'yaml'): string {
  if (format === 'json') return `${JSON.stringify(r, null, 2)}\n`;
  if (format === 'yaml') return stringify(r);
  const c = r.counts;
  const window = `${new Date(r.window.since * 1000).toISOString()} .. ${new Date(r.window.until * 1000).toISOString()}`;
  const out = [
    `Impact on connections recorded ${window} (nothing was applied):`,
    entries('Newly denied', r.newlyDenied, c.newlyDenied).trimEnd(),
    entries('Newly allowed', r.newlyAllowed, c.newlyAllowed).trimEnd(),
    `Connections: ${c.connections} (newly denied ${c.newlyDenied}, newly allowed ${c.newlyAllowed}, unchanged allowed ${c.unchangedAllowed}, unchanged denied ${c.unchangedDenied})`,
    `Boxes answered: ${r.nodes.answered.join(', ') || 'none'}`,
  ];
  if (r.nodes.notHeard.length) out.push(`Boxes NOT heard from (their connections are missing): ${r.nodes.notHeard.map((n) => `${n.node}: ${n.reason}`).join('; ')}`);
  return `${out.join('\n')}\n`;
}
