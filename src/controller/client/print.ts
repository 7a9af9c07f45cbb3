// kubectl-like output: tables (ClusterNetworkPolicy shows NAME TIER PRIORITY DESIRED NODES
// CURRENT NODES AGE like `kubectl get acnp`), and json/yaml of the objects as served.
import type { NodeLatencyStats } from '../../api/node-config.js';
import { stringify } from 'yaml';
import type { NodeInfo, NodeRealization, PolicyStatus, StoredObject } from '../../api/controller-api.js';
import type { KindInfo } from '../../api/kinds.js';
import type { PolicyStatsObject } from '../../api/policy-stats.js';
import type { NodeEvent } from '../events.js';
import { table } from '../../lib/table.js';

export type OutputFormat = 'table' | 'wide' | 'json' | 'yaml';

export function age(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '<unknown>';
  const s = Math.max(0, Math.floor((now - Date.parse(iso)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

export function printObjects(kind: KindInfo, items: StoredObject[], format: OutputFormat, single: boolean): string {
  if (format === 'json') return `${JSON.stringify(single ? items[0] : { apiVersion: 'v1', kind: 'List', items }, null, 2)}\n`;
  if (format === 'yaml') return stringify(single ? items[0] : { apiVersion: 'v1', kind: 'List', items });
  if (!items.length) return '';
  const wide = format === 'wide';
  if (kind.kind === 'Egress' || kind.kind === 'ExternalIPPool') return printEgressKinds(kind, items, wide);
  // Antrea's columns for tiers; they hold no rules, so there is nothing realized to show.
  if (kind.kind === 'Tier') {
    const spec = (o: StoredObject) => (o.spec ?? {}) as { priority?: number; description?: string };
    return table([['NAME', 'PRIORITY', 'AGE', ...(wide ? ['DESCRIPTION'] : [])], ...items.map((o) => [
      o.metadata.name, String(spec(o).priority ?? ''), age(o.metadata.creationTimestamp), ...(wide ? [spec(o).description ?? ''] : []),
    ])]);
  }
  const ns = kind.namespaced;
  const policy = ['ClusterNetworkPolicy', 'AdminNetworkPolicy', 'BaselineAdminNetworkPolicy'].includes(kind.kind) || (kind.kind === 'NetworkPolicy' && kind.group === 'crd.antrea.io');
  const header = [...(ns ? ['NAMESPACE'] : []), 'NAME', ...(policy ? ['TIER', 'PRIORITY'] : []), 'DESIRED NODES', 'CURRENT NODES', ...(wide ? ['PHASE', 'GENERATION'] : []), 'AGE'];
  const rows = items.map((o) => {
    const spec = (o.spec ?? {}) as { tier?: string; priority?: number };
    return [
      ...(ns ? [o.metadata.namespace ?? ''] : []),
      o.metadata.name,
      ...(policy ? [spec.tier ?? (kind.kind === 'AdminNetworkPolicy' ? 'Admin' : kind.kind === 'BaselineAdminNetworkPolicy' ? 'Baseline' : 'application'), String(spec.priority ?? '')] : []),
      String(o.status?.desiredNodesRealized ?? 0),
      String(o.status?.currentNodesRealized ?? 0),
      ...(wide ? [o.status?.phase ?? '', String(o.metadata.generation)] : []),
      age(o.metadata.creationTimestamp),
    ];
  });
  return table([header, ...rows]);
}

/** Antrea's columns: Egress NAME EGRESSIP AGE NODE; ExternalIPPool NAME TOTAL USED AGE. */
function printEgressKinds(kind: KindInfo, items: StoredObject[], wide: boolean): string {
  type EgressStatusView = { egressIP?: string; egressNode?: string; usage?: { total?: number; used?: number }; conditions?: { type: string; status: string; message?: string }[] };
  const status = (o: StoredObject) => (o.status ?? {}) as EgressStatusView;
  const problem = (o: StoredObject) => status(o).conditions?.find((c) => c.status === 'False')?.message ?? '';
  if (kind.kind === 'ExternalIPPool') {
    return table([['NAME', 'TOTAL', 'USED', 'AGE', ...(wide ? ['PROBLEM'] : [])], ...items.map((o) => [
      o.metadata.name, String(status(o).usage?.total ?? ''), String(status(o).usage?.used ?? ''), age(o.metadata.creationTimestamp), ...(wide ? [problem(o)] : []),
    ])]);
  }
  return table([['NAME', 'EGRESSIP', 'AGE', 'NODE', ...(wide ? ['PROBLEM'] : [])], ...items.map((o) => [
    o.metadata.name, status(o).egressIP ?? '', age(o.metadata.creationTimestamp), status(o).egressNode ?? '', ...(wide ? [problem(o)] : []),
  ])]);
}

export function printNodes(nodes: NodeInfo[], format: OutputFormat): string {
  if (format === 'json') return `${JSON.stringify(nodes, null, 2)}\n`;
  if (format === 'yaml') return stringify(nodes);
  const wide = format === 'wide';
  const header = ['NAME', 'STATUS', 'VERSION', 'LAST SEEN', 'REALIZED GENERATION', ...(wide ? ['DESIRED GENERATION', 'REALIZED', 'FAILED', 'UPTIME'] : [])];
  return table([
    header,
    ...nodes.map((n) => [
      n.name, n.disabled ? 'Disabled' : n.online ? 'Online' : 'Offline', n.agentVersion ?? '-', n.lastSeen ? `${age(n.lastSeen)} ago` : 'never',
      n.realizedGeneration === null ? '-' : `${n.realizedGeneration}/${n.desiredGeneration}`,
      ...(wide ? [String(n.desiredGeneration), String(n.objectsRealized), String(n.objectsFailed), n.uptimeSeconds === null ? '-' : `${Math.round(n.uptimeSeconds)}s`] : []),
    ]),
  ]);
}

/** `seinectl get nodelatencystats`: one row per directed box pair (Antrea's `kubectl get nlm` stats). */
export function printLatencyStats(items: NodeLatencyStats[], format: OutputFormat, single: boolean): string {
  if (format === 'json') return `${JSON.stringify(single ? items[0] : { apiVersion: 'v1', kind: 'List', items }, null, 2)}\n`;
  if (format === 'yaml') return stringify(single ? items[0] : { apiVersion: 'v1', kind: 'List', items });
  const rows: string[][] = [['NODE', 'PEER', 'TARGET IP', 'RTT', 'LAST RECEIVED', ...(format === 'wide' ? ['LAST SENT'] : [])]];
  for (const o of items) {
    for (const p of o.peerNodeLatencyStats) {
      for (const t of p.targetIPLatencyStats) {
        const rtt = t.lastMeasuredRTTNanoseconds === undefined ? '-' : `${(t.lastMeasuredRTTNanoseconds / 1e6).toFixed(3)}ms`;
        rows.push([o.metadata.name, p.nodeName, t.targetIP, rtt, t.lastRecvTime ? `${age(t.lastRecvTime)} ago` : 'never', ...(format === 'wide' ? [t.lastSendTime ? `${age(t.lastSendTime)} ago` : 'never'] : [])]);
      }
    }
  }
  return table(rows);
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
  return table([['TIME', 'NODE', 'SEVERITY', 'TYPE', 'MESSAGE'], ...events.map((e) => [new Date(e.ts).toISOString(), e.node || '-', e.severity, e.type, e.message])]);
}

/** `seinectl describe`: kubectl's layout — metadata, spec as YAML, status with conditions, then per node. */
export function describeObject(o: StoredObject, nodes: NodeRealization[], now = Date.now()): string {
  const m = o.metadata;
  const pairs = (r?: Record<string, string>) => (r && Object.keys(r).length ? Object.entries(r).map(([k, v]) => `${k}=${v}`).join(', ') : '<none>');
  const indent = (text: string, n: number) => text.trimEnd().split('\n').map((l) => `${' '.repeat(n)}${l}`).join('\n');
  const field = (label: string, value: string) => `${`${label}:`.padEnd(18)}${value}`;
  const lines = [
    field('Name', m.name),
    ...(m.namespace ? [field('Namespace', m.namespace)] : []),
    field('Kind', o.kind),
    field('API Version', o.apiVersion),
    field('Labels', pairs(m.labels)),
    field('Annotations', pairs(m.annotations)),
    ...(m.uid ? [field('UID', m.uid)] : []),
    field('Generation', String(m.generation)),
    ...(m.resourceVersion ? [field('Resource Version', m.resourceVersion)] : []),
    ...(m.creationTimestamp ? [field('Created', `${m.creationTimestamp} (${age(m.creationTimestamp, now)} ago)`)] : []),
    'Spec:',
    indent(stringify(o.spec ?? {}), 2),
  ];
  const policyStatus = o.status && 'observedGeneration' in o.status ? (o.status as PolicyStatus) : undefined;
  if (o.status && !policyStatus) lines.push('Status:', indent(stringify(o.status), 2)); // a Traceflow's
  const st = policyStatus;
  if (st) {
    const sf = (label: string, value: string) => `  ${`${label}:`.padEnd(22)}${value}`;
    lines.push('Status:', sf('Phase', st.phase), sf('Observed Generation', String(st.observedGeneration)), sf('Nodes Realized', `${st.currentNodesRealized}/${st.desiredNodesRealized}`));
    if (st.conditions?.length) {
      lines.push('  Conditions:', indent(table([['TYPE', 'STATUS', 'REASON', 'MESSAGE'], ...st.conditions.map((c) => [c.type, c.status, c.reason ?? '', c.message ?? ''])]), 4));
    } else lines.push(sf('Conditions', '<none>'));
  }
  lines.push('Nodes:');
  lines.push(nodes.length
    ? indent(table([['NODE', 'ONLINE', 'REALIZED GENERATION', 'PHASE', 'REASON'], ...nodes.map((n) => [n.node, n.online ? 'yes' : 'no', n.realizedGeneration === null ? '-' : String(n.realizedGeneration), n.phase, n.reason ?? ''])]), 2)
    : '  <none in its span>');
  return `${lines.join('\n')}\n`;
}
