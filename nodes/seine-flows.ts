// seine-flows: flow records from the controller's fleet flow store (each connection joined from
// both of its nodes), filtered by pod, namespace, policy and time range, as messages ready for
// charts: the records, the top talkers, bar-chart points, or the flow map graph. On input it
// queries once; in stream mode it also polls and sends what changed. Every result redraws the
// flow map (who talks to whom, edges weighted by bytes, coloured by verdict) in the editor's
// Seine sidebar.
import type { AggregatedFlow, FlowRecord } from '../src/api/flow-record.js';
import { parseTimeArg } from '../src/agent/flows/print.js';
import { errorMessage } from '../src/lib/errors.js';
import type { ControllerConnection, Watch } from './lib/connection.js';
import { connectionOf, errorStatus, followConnection, parseInterval } from './lib/controller-ref.js';
import { dropView, setView } from './lib/editor.js';
import { buildFlowGraph, chartPoints, flowMapSvg, topTalkers, type Grouping } from './lib/flow-map.js';
import type { Node, NodeAPI, NodeDef, NodeMessage, NodeStatus } from './lib/red.js';

const OUTPUTS = ['records', 'top', 'chart', 'map'] as const;
type Output = (typeof OUTPUTS)[number];
const FILTERS = ['pod', 'namespace', 'policy', 'since', 'until', 'limit', 'top', 'group', 'output'] as const;

interface FlowsDef extends NodeDef {
  controller?: string;
  pod?: string;
  namespace?: string;
  policy?: string;
  since?: string;
  until?: string;
  limit?: string | number;
  output?: Output;
  group?: Grouping;
  top?: string | number;
  stream?: boolean;
  interval?: string | number;
}

export interface FlowQuery {
  pod?: string | undefined;
  namespace?: string | undefined;
  policy?: string | undefined;
  /** unix seconds */
  since?: number | undefined;
  until?: number | undefined;
  limit: number;
  top: number;
  group: Grouping;
  output: Output;
}

const text = (v: unknown) => (v === undefined || v === null || String(v).trim() === '' ? undefined : String(v).trim());

/** The query from the node's settings overridden by msg.payload's fields; errors name the field. */
export function flowQuery(def: FlowsDef, over: Record<string, unknown> = {}, now = Date.now()): FlowQuery {
  const unknown = Object.keys(over).filter((k) => !(FILTERS as readonly string[]).includes(k));
  if (unknown.length) throw new Error(`msg.payload.${unknown[0]}: unknown field (expected ${FILTERS.join(', ')})`);
  const pick = (k: (typeof FILTERS)[number]) => (over[k] !== undefined ? { v: over[k], field: `msg.payload.${k}` } : { v: (def as Record<string, unknown>)[k], field: k });
  const time = (k: 'since' | 'until') => {
    const { v, field } = pick(k);
    const t = text(v);
    if (t === undefined) return undefined;
    const s = parseTimeArg(t, now);
    if (s === undefined) throw new Error(`${field}: expected 15m, 2h, 7d, an ISO time or unix seconds, got ${JSON.stringify(t)}`);
    return s;
  };
  const int = (k: 'limit' | 'top', dflt: number, max: number) => {
    const { v, field } = pick(k);
    const n = text(v) === undefined ? dflt : Number(v);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new Error(`${field}: expected a whole number 1-${max}, got ${JSON.stringify(v)}`);
    return n;
  };
  const output = (text(pick('output').v) ?? 'records') as Output;
  if (!OUTPUTS.includes(output)) throw new Error(`${pick('output').field}: expected ${OUTPUTS.join(', ')}, got ${JSON.stringify(output)}`);
  const group = (text(pick('group').v) ?? 'pod') as Grouping;
  if (group !== 'pod' && group !== 'namespace') throw new Error(`${pick('group').field}: expected pod or namespace, got ${JSON.stringify(group)}`);
  return {
    pod: text(pick('pod').v), namespace: text(pick('namespace').v), policy: text(pick('policy').v),
    since: time('since'), until: time('until'), limit: int('limit', 1000, 100_000), top: int('top', 10, 1000), group, output,
  };
}

/** The fleet store has no time filter: the time range applies to flowEndSeconds here. */
export async function queryFlows(conn: ControllerConnection, q: FlowQuery): Promise<FlowRecord[]> {
  const params = new URLSearchParams({ limit: String(q.limit) });
  for (const k of ['pod', 'namespace', 'policy'] as const) if (q[k]) params.set(k, q[k]!);
  const { items } = await conn.request<{ items: AggregatedFlow[] }>('GET', `/api/v1/flows?${params}`);
  return items.map((i) => i.record).filter((r) => (q.since === undefined || r.flowEndSeconds >= q.since) && (q.until === undefined || r.flowEndSeconds <= q.until));
}

const recordKey = (r: FlowRecord) => [r.sourceIPv4Address ?? r.sourceIPv6Address, r.sourceTransportPort, r.destinationIPv4Address ?? r.destinationIPv6Address, r.destinationTransportPort, r.protocolIdentifier, r.flowStartSeconds].join('|');

function register(RED: NodeAPI): void {
  function SeineFlows(this: Node, def: FlowsDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const conn = connectionOf(RED, def.controller);
    let shown: NodeStatus | undefined;
    let stream: Watch | undefined;
    const show = (s: NodeStatus) => node.status((shown = s));
    let problem: string | undefined;
    let baseQuery: FlowQuery | undefined;
    let intervalMs = 10_000;
    try {
      baseQuery = flowQuery(def);
      if (def.stream) intervalMs = parseInterval('interval', def.interval, 10);
    } catch (err) {
      problem = errorMessage(err);
    }

    /** Sends the result in the chosen shape and redraws the flow map. */
    const emit = (q: FlowQuery, records: FlowRecord[], msg: NodeMessage, send: (m: NodeMessage) => void) => {
      const graph = buildFlowGraph(records, q.group);
      const scope = [q.namespace && `namespace ${q.namespace}`, q.pod && `pod ${q.pod}`, q.policy && `policy ${q.policy}`].filter(Boolean).join(', ') || 'all namespaces';
      setView(node.id, { kind: 'flow-map', svg: flowMapSvg(graph, `Flow map: ${scope}`), summary: `${scope}: ${graph.vertices.length} endpoints, ${graph.edges.length} connections` });
      const payload = q.output === 'records' ? records : q.output === 'top' ? topTalkers(graph, q.top) : q.output === 'chart' ? chartPoints(graph, q.top) : graph;
      send({ ...msg, topic: msg.topic ?? `flows/${q.output}`, payload });
      show({ fill: 'green', shape: 'dot', text: `${records.length} records, ${graph.edges.length} connections` });
    };

    if (conn instanceof Error || problem) node.status({ fill: 'red', shape: 'ring', text: conn instanceof Error ? 'no controller' : 'invalid configuration' });
    else {
      const unfollow = followConnection(node, conn, () => shown);
      node.on('close', (_r, done) => (unfollow(), done()));
      if (def.stream && baseQuery) {
        // Stream: every interval, the records that are new or grew since the last poll.
        const seen = new Map<string, number>();
        let first = true;
        stream = conn.watch(intervalMs, async () => {
          const q = flowQuery(def); // relative times ("15m") move with the clock
          const records = await queryFlows(conn, q);
          const changed = records.filter((r) => seen.get(recordKey(r)) !== r.flowEndSeconds + r.octetTotalCount + r.reverseOctetTotalCount);
          for (const r of records) seen.set(recordKey(r), r.flowEndSeconds + r.octetTotalCount + r.reverseOctetTotalCount);
          if (first || changed.length) emit(q, q.output === 'records' ? changed : records, { topic: `flows/${q.output}` }, (m) => node.send(m));
          first = false;
        }, (err) => show(errorStatus(errorMessage(err), 'ring')));
      }
    }

    node.on('input', async (msg, send, done) => {
      try {
        if (conn instanceof Error) throw conn;
        if (problem) throw new Error(problem);
        const over = msg.payload !== null && typeof msg.payload === 'object' && !Array.isArray(msg.payload) ? (msg.payload as Record<string, unknown>) : {};
        const q = flowQuery(def, over);
        show({ fill: 'blue', shape: 'ring', text: 'querying…' });
        emit(q, await queryFlows(conn, q), msg, send);
        done();
      } catch (err) {
        const message = errorMessage(err);
        show(errorStatus(message));
        done(new Error(message));
      }
    });
    node.on('close', (removed, done) => {
      stream?.stop();
      if (removed) dropView(node.id);
      done();
    });
  }
  RED.nodes.registerType('seine-flows', SeineFlows as never);
}

export { register as 'module.exports' };
export default register;
