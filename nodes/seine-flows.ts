// seine-flows: flow records from the controller's fleet flow store (each connection joined from
// both of its nodes), filtered by pod, namespace, policy and time range, as messages ready for
// charts: the records, the top talkers, bar-chart points, or the flow map graph. On input it
// queries once; in stream mode it also polls and sends what changed. Every result redraws the
// flow map (who talks to whom, edges weighted by bytes, coloured by verdict) in the editor's
// Seine sidebar.
import type { FlowRecord } from '../src/api/flow-record.js';
import { errorMessage } from '../src/lib/errors.js';
import type { Watch } from './lib/connection.js';
import { flowQuery, queryFlows, type FlowQuery, type FlowsDef } from './lib/flow-query.js';
import { connectionOf, errorStatus, failInput, followConnection, parseInterval } from './lib/controller-ref.js';
import { dropView, setView } from './lib/editor.js';
import { buildFlowGraph, chartPoints, flowMapSvg, topTalkers } from './lib/flow-map.js';
import type { Node, NodeAPI, NodeMessage, NodeStatus } from './lib/red.js';

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
        failInput(err, show, done);
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
