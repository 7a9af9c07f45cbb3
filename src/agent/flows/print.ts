// `seinectl flows` output: one line per connection (its latest record) or rollup bucket, or
// the records as JSON (FlowRecord field names = IPFIX element names).
import type { FlowRecord } from '../../api/flow-record.js';
import { flowAddresses } from '../../api/flow-record.js';
import { table } from '../../lib/table.js';
import { PROTOCOL_NAMES } from './conntrack.js';
import type { FlowQuery, RollupRow } from './store.js';

const ACTIONS = ['', 'Allow', 'Drop', 'Reject'];

const endpoint = (ns: string, pod: string, ip: string, port: number) => `${pod ? `${ns}/${pod}` : ip}${port ? `:${port}` : ''}`;
const policy = (name: string, ns: string, action: number) => (name || action ? `${ns ? `${ns}/` : ''}${name || '(k8s isolation)'} ${ACTIONS[action] ?? ''}`.trim() : '');
const time = (s: number) => new Date(s * 1000).toISOString().replace(/\.000Z$/, 'Z');

export function printFlows(records: readonly FlowRecord[], format: 'table' | 'json'): string {
  if (format === 'json') return `${JSON.stringify(records, null, 2)}\n`;
  if (!records.length) return '';
  const rows = [['SOURCE', 'DESTINATION', 'PROTO', 'PACKETS', 'BYTES', 'REV PACKETS', 'REV BYTES', 'EGRESS POLICY', 'INGRESS POLICY', 'STATE', 'NODES', 'LAST SEEN']];
  for (const r of records) {
    const a = flowAddresses(r);
    rows.push([
      endpoint(r.sourcePodNamespace, r.sourcePodName, a.source, r.sourceTransportPort),
      endpoint(r.destinationPodNamespace, r.destinationPodName, a.destination, r.destinationTransportPort),
      PROTOCOL_NAMES[r.protocolIdentifier]?.toUpperCase() ?? String(r.protocolIdentifier),
      String(r.packetTotalCount), String(r.octetTotalCount), String(r.reversePacketTotalCount), String(r.reverseOctetTotalCount),
      policy(r.egressNetworkPolicyName, r.egressNetworkPolicyNamespace, r.egressNetworkPolicyRuleAction),
      policy(r.ingressNetworkPolicyName, r.ingressNetworkPolicyNamespace, r.ingressNetworkPolicyRuleAction),
      r.tcpState,
      `${r.sourceNodeName || '-'}→${r.destinationNodeName || '-'}`,
      time(r.flowEndSeconds),
    ]);
  }
  return table(rows);
}

export function printRollup(rows: readonly RollupRow[], format: 'table' | 'json'): string {
  if (format === 'json') return `${JSON.stringify(rows, null, 2)}\n`;
  if (!rows.length) return '';
  const out = [['BUCKET', 'SOURCE', 'DESTINATION', 'PORT', 'PACKETS', 'BYTES', 'REV PACKETS', 'REV BYTES', 'RECORDS']];
  for (const r of rows) {
    out.push([
      time(Number(r.bucket)), r.sourcePodName ? `${r.sourcePodNamespace}/${r.sourcePodName}` : '-', r.destinationPodName ? `${r.destinationPodNamespace}/${r.destinationPodName}` : '-',
      `${r.destinationTransportPort}/${PROTOCOL_NAMES[Number(r.protocolIdentifier)] ?? r.protocolIdentifier}`,
      String(r.packetDeltaCount), String(r.octetDeltaCount), String(r.reversePacketDeltaCount), String(r.reverseOctetDeltaCount), String(r.records),
    ]);
  }
  return table(out);
}

/** `15m`, `2h`, `7d`, `30s` ago, an ISO time, or unix seconds → unix seconds. */
export function parseTimeArg(text: string, now = Date.now()): number | undefined {
  const rel = /^(\d+)(s|m|h|d)$/.exec(text);
  if (rel) return Math.floor(now / 1000) - Number(rel[1]) * { s: 1, m: 60, h: 3600, d: 86_400 }[rel[2] as 's' | 'm' | 'h' | 'd'];
  if (/^\d{9,}$/.test(text)) return Number(text);
  const t = Date.parse(text);
  return Number.isNaN(t) ? undefined : Math.floor(t / 1000);
}

/** Query string of the agent API's /flows (same names as the CLI options). */
export function flowQueryFromParams(p: URLSearchParams): FlowQuery {
  const num = (k: string) => (p.has(k) ? Number(p.get(k)) : undefined);
  return {
    pod: p.get('pod') ?? undefined, namespace: p.get('namespace') ?? undefined, policy: p.get('policy') ?? undefined,
    since: num('since'), until: num('until'), denied: p.get('denied') === 'true', latest: p.get('all') !== 'true', limit: num('limit'),
  };
}
