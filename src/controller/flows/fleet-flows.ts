// The controller's fleet flows (the aggregator's store): flow record batches from the boxes
// (MQTT `nodes/<node>/flows`, sent through each agent's outbox) joined per connection. An
// inter-node connection is reported by both boxes: the source node knows the egress rule,
// the destination node the ingress rule; the joined record carries both, and each side's
// counters are kept apart as Antrea's aggregator does. Keyed by the two nodes and the 5-tuple:
// boxes of two clusters may use the same pod addresses, and a node only speaks for connections
// it is an end of (a record naming two other nodes is refused), so nothing one node sends can
// join into, or overwrite, another pair's connection. A later connection reusing the key
// replaces the row. Rows not updated for `maxAgeS` are deleted, and beyond `maxRows` the least
// recently updated go first (counted).
import type { AggregatedFlow, FleetFlowQuery, FlowRecord, FlowSide } from '../../api/flow-record.js';
import { migrate, type SqlDatabase } from '../../lib/sqlite.js';

const MIGRATIONS = [
  `CREATE TABLE fleet_flows (
     conn TEXT PRIMARY KEY, flow TEXT NOT NULL,
     source_ns TEXT NOT NULL, source_pod TEXT NOT NULL, dest_ns TEXT NOT NULL, dest_pod TEXT NOT NULL,
     ingress_policy TEXT NOT NULL, egress_policy TEXT NOT NULL, updated_at INTEGER NOT NULL);
   CREATE INDEX fleet_flows_updated ON fleet_flows (updated_at);`,
  // The connection's flowEndSeconds, for the time filter (rows from before: their updated_at, close to it).
  `ALTER TABLE fleet_flows ADD COLUMN flow_end INTEGER NOT NULL DEFAULT 0;
   UPDATE fleet_flows SET flow_end = updated_at;
   CREATE INDEX fleet_flows_end ON fleet_flows (flow_end);`,
];

export type { FleetFlowQuery };

const connOf = (r: FlowRecord) =>
  `${r.sourceNodeName}>${r.destinationNodeName}|${r.protocolIdentifier}|${r.sourceIPv4Address ?? r.sourceIPv6Address}|${r.sourceTransportPort}|${r.destinationIPv4Address ?? r.destinationIPv6Address}|${r.destinationTransportPort}`;

/**
 * A node reports connections it is an end of: its pod is the source or the destination, or the
 * source is outside the fleet (no source node) and it saw the connection first.
 */
export const reportsOwnEnd = (node: string, r: FlowRecord): boolean =>
  r.sourceNodeName === node || r.destinationNodeName === node || r.sourceNodeName === '';

/** Bits per second between two readings of a total (0 without a later time or when the counter restarted). */
const bps = (octets: number, prevOctets: number, seconds: number) => (seconds > 0 && octets >= prevOctets ? Math.round(((octets - prevOctets) * 8) / seconds) : 0);

/** One node's side; throughput since that node's previous record (kept when the record is no newer). */
function sideOf(node: string, r: FlowRecord, prev: FlowSide | undefined): FlowSide {
  const same = prev?.node === node ? prev : undefined;
  const dt = same ? r.flowEndSeconds - same.flowEndSeconds : r.flowEndSeconds - r.flowStartSeconds;
  const keep = same !== undefined && dt <= 0;
  return {
    node, packetTotalCount: r.packetTotalCount, octetTotalCount: r.octetTotalCount,
    reversePacketTotalCount: r.reversePacketTotalCount, reverseOctetTotalCount: r.reverseOctetTotalCount, flowEndSeconds: r.flowEndSeconds,
    throughput: keep ? same.throughput ?? 0 : bps(r.octetTotalCount, same?.octetTotalCount ?? 0, dt),
    reverseThroughput: keep ? same.reverseThroughput ?? 0 : bps(r.reverseOctetTotalCount, same?.reverseOctetTotalCount ?? 0, dt),
  };
}

/** A pod's labels by namespace and name, as `node` (the node hosting it, when known) reports them. */
export type PodLabelLookup = (namespace: string, name: string, node?: string) => Record<string, string> | undefined;

const labelsJson = (lookup: PodLabelLookup | undefined, ns: string, name: string, node: string, known: string | undefined) => {
  if (!name) return '';
  const l = lookup?.(ns, name, node || undefined);
  return l ? JSON.stringify(l) : known ?? '';
};

const INGRESS = ['ingressNetworkPolicyName', 'ingressNetworkPolicyNamespace', 'ingressNetworkPolicyType', 'ingressNetworkPolicyRuleName', 'ingressNetworkPolicyRuleAction'] as const;

const pick = (r: FlowRecord, keys: readonly (keyof FlowRecord)[]) => Object.fromEntries(keys.map((k) => [k, r[k]])) as Partial<FlowRecord>;

/**
 * Joins one node's record into what the fleet store holds for the connection: the source
 * node's record is the connection's (counters, times, state, egress rule); the destination
 * node adds the ingress rule (and stands in for the source until that one reports).
 */
export function joinFlow(existing: AggregatedFlow | undefined, node: string, r: FlowRecord, labels?: PodLabelLookup): AggregatedFlow {
  const isSource = r.sourceNodeName === node || (r.sourceNodeName === '' && r.destinationNodeName !== node);
  const isDestination = r.destinationNodeName === node;
  const out: AggregatedFlow = { sourcePodLabels: '', destinationPodLabels: '', ...existing, record: existing ? { ...existing.record } : { ...r } };
  if (isSource) {
    const ingress = existing?.fromDestinationNode ? pick(existing.record, INGRESS) : {};
    Object.assign(out.record, r, ingress);
    out.fromSourceNode = sideOf(node, r, existing?.fromSourceNode);
  }
  if (isDestination) {
    if (!out.fromSourceNode) Object.assign(out.record, r);
    Object.assign(out.record, pick(r, INGRESS));
    out.fromDestinationNode = sideOf(node, r, existing?.fromDestinationNode);
  }
  out.record.flowStartSeconds = Math.min(existing?.record.flowStartSeconds ?? r.flowStartSeconds, r.flowStartSeconds);
  out.record.flowEndSeconds = Math.max(existing?.record.flowEndSeconds ?? r.flowEndSeconds, r.flowEndSeconds);
  out.sourcePodLabels = labelsJson(labels, out.record.sourcePodNamespace, out.record.sourcePodName, out.record.sourceNodeName, existing?.sourcePodLabels);
  out.destinationPodLabels = labelsJson(labels, out.record.destinationPodNamespace, out.record.destinationPodName, out.record.destinationNodeName, existing?.destinationPodLabels);
  return out;
}

/** Default bounds of the fleet flow store. */
export const DEFAULT_FLEET_FLOWS_MAX_AGE_S = 7 * 86_400;
export const DEFAULT_FLEET_FLOWS_MAX_ROWS = 100_000;

export interface FleetFlowsOptions {
  /** Rows not updated for this long are deleted (default 7 days). */
  maxAgeS?: number;
  /** At most this many rows; beyond it the least recently updated are deleted (default 100 000). */
  maxRows?: number;
  /** Pod labels for sourcePodLabels/destinationPodLabels. */
  labels?: PodLabelLookup;
  /** Told each joined connection after its batch is stored (the aggregator's IPFIX export). */
  onJoined?: (flows: readonly { conn: string; flow: AggregatedFlow }[], nowS: number) => void;
}

export class FleetFlows {
  /** Records taken in since start. */
  received = 0;
  /** Records refused since start: the sending node is neither end of the connection. */
  refused = 0;
  /** Rows deleted since start because the store was over maxRows. */
  evicted = 0;

  private batches = 0;

  /**
   * `rows`: the row count, kept in step with inserts and deletes (a COUNT per batch would scan the
   * table), and counted again now and then (replicas sharing the store add rows too).
   */
  private constructor(private readonly db: SqlDatabase, private readonly o: FleetFlowsOptions, private rows: number) {}

  /** `opts` as a number: maxAgeS (older callers). */
  static async open(db: SqlDatabase, opts: FleetFlowsOptions | number = {}): Promise<FleetFlows> {
    await migrate(db, 'fleet-flows', MIGRATIONS);
    const rows = (await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM fleet_flows'))?.n ?? 0;
    return new FleetFlows(db, typeof opts === 'number' ? { maxAgeS: opts } : opts, Number(rows));
  }

  private get maxAgeS(): number {
    return this.o.maxAgeS ?? DEFAULT_FLEET_FLOWS_MAX_AGE_S;
  }

  private get maxRows(): number {
    return this.o.maxRows ?? DEFAULT_FLEET_FLOWS_MAX_ROWS;
  }

  /** One batch from `node`, in one transaction. */
  async add(node: string, records: readonly FlowRecord[], nowS = Math.floor(Date.now() / 1000)): Promise<void> {
    if (!records.length) return;
    this.received += records.length;
    const own = records.filter((r) => reportsOwnEnd(node, r));
    this.refused += records.length - own.length;
    if (!own.length) return;
    const joined: { conn: string; flow: AggregatedFlow }[] = [];
    let rows = this.rows;
    let evicted = 0;
    await this.db.transaction(async (tx) => {
      joined.length = 0; // a retried transaction starts over
      rows = this.batches % 64 === 0 ? Number((await tx.get<{ n: number }>('SELECT COUNT(*) AS n FROM fleet_flows'))?.n ?? 0) : this.rows;
      evicted = 0;
      for (const r of own) {
        const conn = connOf(r);
        const row = await tx.get<{ flow: string }>('SELECT flow FROM fleet_flows WHERE conn = ?', [conn]);
        if (!row) rows++;
        const f = joinFlow(row ? (JSON.parse(row.flow) as AggregatedFlow) : undefined, node, r, this.o.labels);
        joined.push({ conn, flow: f });
        const x = f.record;
        await tx.run(
          `INSERT INTO fleet_flows (conn, flow, source_ns, source_pod, dest_ns, dest_pod, ingress_policy, egress_policy, updated_at, flow_end)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (conn) DO UPDATE SET flow = excluded.flow, source_ns = excluded.source_ns,
           source_pod = excluded.source_pod, dest_ns = excluded.dest_ns, dest_pod = excluded.dest_pod, ingress_policy = excluded.ingress_policy,
           egress_policy = excluded.egress_policy, updated_at = excluded.updated_at, flow_end = excluded.flow_end`,
          [conn, JSON.stringify(f), x.sourcePodNamespace, x.sourcePodName, x.destinationPodNamespace, x.destinationPodName,
            `${x.ingressNetworkPolicyNamespace}/${x.ingressNetworkPolicyName}`, `${x.egressNetworkPolicyNamespace}/${x.egressNetworkPolicyName}`, nowS, x.flowEndSeconds],
        );
      }
      rows -= (await tx.run('DELETE FROM fleet_flows WHERE updated_at < ?', [nowS - this.maxAgeS])).changes;
      if (rows > this.maxRows) {
        // Least recently updated first; conn breaks ties so the choice is the same on every store.
        evicted = (await tx.run(
          'DELETE FROM fleet_flows WHERE conn IN (SELECT conn FROM fleet_flows ORDER BY updated_at ASC, conn ASC LIMIT ?)', [rows - this.maxRows],
        )).changes;
        rows -= evicted;
      }
    });
    this.rows = rows;
    this.batches++;
    this.evicted += evicted;
    this.o.onJoined?.(joined, nowS);
  }

  async query(q: FleetFlowQuery = {}): Promise<AggregatedFlow[]> {
    const cond: string[] = [];
    const params: unknown[] = [];
    if (q.pod) {
      const [ns, name] = q.pod.includes('/') ? q.pod.split('/', 2) : ['', q.pod];
      if (name) (cond.push('((source_ns = ? AND source_pod = ?) OR (dest_ns = ? AND dest_pod = ?))'), params.push(ns, name, ns, name));
      else (cond.push('(source_ns = ? OR dest_ns = ?)'), params.push(ns, ns));
    }
    if (q.namespace) (cond.push('(source_ns = ? OR dest_ns = ?)'), params.push(q.namespace, q.namespace));
    if (q.policy) {
      const like = q.policy.includes('/') ? q.policy : `%/${q.policy}`;
      cond.push('(ingress_policy LIKE ? OR egress_policy LIKE ?)');
      params.push(like, like);
    }
    // since/until are milliseconds, flowEndSeconds whole seconds: a flow ending in second s ends at s × 1000 ms.
    if (q.since !== undefined) (cond.push('flow_end >= ?'), params.push(Math.ceil(q.since / 1000)));
    if (q.until !== undefined) (cond.push('flow_end <= ?'), params.push(Math.floor(q.until / 1000)));
    const limit = Math.max(1, Math.min(q.limit ?? 1000, 100_000));
    const rows = await this.db.all<{ flow: string }>(`SELECT flow FROM fleet_flows ${cond.length ? `WHERE ${cond.join(' AND ')}` : ''} ORDER BY updated_at DESC LIMIT ${limit}`, params);
    return rows.map((r) => JSON.parse(r.flow) as AggregatedFlow);
  }
}
