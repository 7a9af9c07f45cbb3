// kubectl-like output: tables (ClusterNetworkPolicy shows NAME TIER PRIORITY DESIRED NODES
// CURRENT NODES AGE like `kubectl get acnp`), and json/yaml of the objects as served.
import { stringify } from 'yaml';
import type { NodeInfo, StoredObject } from '../../api/controller-api.js';
import type { KindInfo } from '../../api/kinds.js';
import type { PolicyStatsObject } from '../../api/policy-stats.js';
import type { NodeEvent } from '../events.js';

export type OutputFormat = 'table' | 'wide' | 'json' | 'yaml';

export function age(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '<unknown>';
  const s = Math.max(0, Math.floor((now - Date.parse(iso)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 3))).join('').trimEnd()).join('\n') + '\n';
}

export function printObjects(kind: KindInfo, items: StoredObject[], format: OutputFormat, single: boolean): string {
  if (format === 'json') return `${JSON.stringify(single ? items[0] : { apiVersion: 'v1', kind: 'List', items }, null, 2)}\n`;
  if (format === 'yaml') return stringify(single ? items[0] : { apiVersion: 'v1', kind: 'List', items });
  if (!items.length) return '';
  const wide = format === 'wide';
  const ns = kind.namespaced;
  const policy = kind.kind === 'ClusterNetworkPolicy' || (kind.kind === 'NetworkPolicy' && kind.group === 'crd.antrea.io');
  const header = [...(ns ? ['NAMESPACE'] : []), 'NAME', ...(policy ? ['TIER', 'PRIORITY'] : []), 'DESIRED NODES', 'CURRENT NODES', ...(wide ? ['PHASE', 'GENERATION'] : []), 'AGE'];
  const rows = items.map((o) => {
    const spec = (o.spec ?? {}) as { tier?: string; priority?: number };
    return [
      ...(ns ? [o.metadata.namespace ?? ''] : []),
      o.metadata.name,
      ...(policy ? [spec.tier ?? 'application', String(spec.priority ?? '')] : []),
      String(o.status?.desiredNodesRealized ?? 0),
      String(o.status?.currentNodesRealized ?? 0),
      ...(wide ? [o.status?.phase ?? '', String(o.metadata.generation)] : []),
      age(o.metadata.creationTimestamp),
    ];
  });
  return table([header, ...rows]);
}

export function printNodes(nodes: NodeInfo[], format: OutputFormat): string {
  if (format === 'json') return `${JSON.stringify(nodes, null, 2)}\n`;
  if (format === 'yaml') return stringify(nodes);
  const wide = format === 'wide';
  const header = ['NAME', 'STATUS', 'VERSION', 'LAST SEEN', 'REALIZED GENERATION', ...(wide ? ['DESIRED GENERATION', 'REALIZED', 'FAILED', 'UPTIME'] : [])];
  return table([
    header,
    ...nodes.map((n) => [
      n.name, n.online ? 'Online' : 'Offline', n.agentVersion ?? '-', n.lastSeen ? `${age(n.lastSeen)} ago` : 'never',
      n.realizedGeneration === null ? '-' : `${n.realizedGeneration}/${n.desiredGeneration}`,
      ...(wide ? [String(n.desiredGeneration), String(n.objectsRealized), String(n.objectsFailed), n.uptimeSeconds === null ? '-' : `${Math.round(n.uptimeSeconds)}s`] : []),
    ]),
  ]);
}

/** Like `kubectl get acnpstats`: NAME SESSIONS PACKETS BYTES CREATED AT; wide adds one row per rule. */
export function printStats(items: PolicyStatsObject[], format: OutputFormat, single: boolean, namespaced: boolean): string {
  if (format === 'json') return `${JSON.stringify(single ? items[0] : { apiVersion: 'v1', kind: 'List', items }, null, 2)}\n`;
  if (format === 'yaml') return stringify(single ? items[0] : { apiVersion: 'v1', kind: 'List', items });
  const rows: string[][] = [[...(namespaced ? ['NAMESPACE'] : []), 'NAME', ...(format === 'wide' ? ['RULE'] : []), 'SESSIONS', 'PACKETS', 'BYTES', 'CREATED AT']];
  for (const o of items) {
    const lead = [...(namespaced ? [o.metadata.namespace ?? ''] : []), o.metadata.name];
    const t = o.trafficStats;
    rows.push([...lead, ...(format === 'wide' ? ['*'] : []), String(t.sessions), String(t.packets), String(t.bytes), o.metadata.creationTimestamp]);
    if (format === 'wide') for (const r of o.ruleTrafficStats ?? []) rows.push([...lead, r.name, String(r.trafficStats.sessions), String(r.trafficStats.packets), String(r.trafficStats.bytes), '']);
  }
  return table(rows);
}

export function printEvents(events: NodeEvent[], format: OutputFormat): string {
  if (format === 'json') return `${JSON.stringify(events, null, 2)}\n`;
  if (format === 'yaml') return stringify(events);
  return table([['TIME', 'NODE', 'SEVERITY', 'TYPE', 'MESSAGE'], ...events.map((e) => [new Date(e.ts).toISOString(), e.node, e.severity, e.type, e.message])]);
}
