// The box's distinct connections in a window, read from its flow store: one row per source,
// destination (the endpoint after load balancing), destination port and protocol, with the
// latest time seen and how many connections (conntrack entries) it was. Impact preview
// evaluates these rows before and after a change; recommendation writes policies from them.
// One grouped scan in SQLite: the raw records of 7 days are never brought into JavaScript.
import { PROTOCOL_NUMBERS, type ConnectionEndpoint, type RecordedConnection } from '../../api/impact.js';
import type { SqlExecutor } from '../../lib/sqlite.js';

export interface ConnectionQuery {
  /** Unix seconds: connections with a record ending in [since, until]. */
  since: number;
  until: number;
  /** Only connections no rule (or isolation) denied in any of their records. */
  allowedOnly?: boolean;
  limit: number;
}

interface Row {
  s4: string | null; s6: string | null; sns: string | null; sp: string | null;
  d4: string | null; d6: string | null; dns: string | null; dp: string | null;
  port: number; proto: number; c4: string | null; c6: string | null; sport: number | null;
  last: number; n: number; denied: number; sn: string | null; dn: string | null;
}

const PROTOS = Object.keys(PROTOCOL_NUMBERS).join(',');
const GROUP = 's4, s6, sns, sp, d4, d6, dns, dp, port, proto';

const SQL = (allowedOnly: boolean) => `
  SELECT sourceIPv4Address AS s4, sourceIPv6Address AS s6, sourcePodNamespace AS sns, sourcePodName AS sp,
         destinationIPv4Address AS d4, destinationIPv6Address AS d6, destinationPodNamespace AS dns, destinationPodName AS dp,
         destinationTransportPort AS port, protocolIdentifier AS proto,
         MAX(destinationClusterIPv4) AS c4, MAX(destinationClusterIPv6) AS c6, MAX(destinationServicePort) AS sport,
         MAX(flowEndSeconds) AS last, MAX(sourceNodeName) AS sn, MAX(destinationNodeName) AS dn, COUNT(DISTINCT connKey) AS n,
         MAX(ingressNetworkPolicyRuleAction IN (2, 3) OR egressNetworkPolicyRuleAction IN (2, 3)) AS denied
  FROM flow_records
  WHERE flowEndSeconds >= ? AND flowEndSeconds <= ? AND protocolIdentifier IN (${PROTOS})
  GROUP BY ${GROUP}
  ${allowedOnly ? 'HAVING denied = 0' : ''}
  ORDER BY last DESC, ${GROUP}
  LIMIT ?`;

const endpoint = (ip: string, ns: string | null, pod: string | null): ConnectionEndpoint =>
  ns && pod ? { ip, namespace: ns, pod } : { ip };

export interface NodedConnection {
  connection: RecordedConnection;
  /** The boxes hosting each end ('' outside the fleet), as the records name them. */
  sourceNode: string;
  destinationNode: string;
}

/** The window's distinct connections, newest first; `truncated` when more than `limit` exist. */
export async function recordedConnections(db: SqlExecutor, q: ConnectionQuery): Promise<{ connections: NodedConnection[]; truncated: boolean }> {
  const rows = await db.all<Row>(SQL(q.allowedOnly ?? false), [q.since, q.until, q.limit + 1]);
  const connections: NodedConnection[] = [];
  for (const r of rows.slice(0, q.limit)) {
    const src = r.s4 ?? r.s6;
    const dst = r.d4 ?? r.d6;
    if (!src || !dst) continue;
    const protocol = PROTOCOL_NUMBERS[r.proto]!;
    const cluster = r.c4 ?? r.c6;
    connections.push({ sourceNode: r.sn ?? '', destinationNode: r.dn ?? '', connection: {
      source: endpoint(src, r.sns, r.sp),
      destination: endpoint(dst, r.dns, r.dp),
      port: protocol === 'ICMP' ? 0 : r.port,
      protocol,
      ...(cluster ? { service: { ip: cluster, port: r.sport ?? 0 } } : {}),
      lastSeen: r.last,
      count: r.n,
    } });
  }
  return { connections, truncated: rows.length > q.limit };
}
