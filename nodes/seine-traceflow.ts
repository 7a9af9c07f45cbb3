// seine-traceflow: runs a Traceflow (source Pod to a Pod, an IP or a Service; an injected
// packet or the Pod's live traffic) from the node's settings or msg.payload, and sends the
// finished Traceflow (hops per node, the rule that dropped it). The editor's Seine sidebar shows
// the hop graph of the last run: the same SVG as `seinectl traceflow -o svg`.
import { runTraceflow, traceflowName, traceflowSpecFromFlags } from '../src/cli/traceflow-command.js';
import { traceflowSvg } from '../src/controller/client/traceflow-print.js';
import { connectionOf, failInput, followConnection } from './lib/controller-ref.js';
import { dropView, setView } from './lib/editor.js';
import { outcome } from './lib/traceflow-outcome.js';
import type { Node, NodeAPI, NodeDef, NodeStatus } from './lib/red.js';

interface TraceflowDef extends NodeDef {
  controller?: string;
  source?: string;
  destination?: string;
  protocol?: string;
  port?: string | number;
  live?: boolean;
  droppedOnly?: boolean;
  timeout?: string | number;
}

const FIELDS = ['source', 'destination', 'protocol', 'port', 'live', 'droppedOnly', 'timeout'] as const;
const opt = (v: unknown) => (v === undefined || v === null || v === '' ? undefined : String(v));

function register(RED: NodeAPI): void {
  function SeineTraceflow(this: Node, def: TraceflowDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const conn = connectionOf(RED, def.controller);
    let shown: NodeStatus | undefined;
    const runs = new Set<AbortController>();
    const show = (s: NodeStatus) => node.status((shown = s));
    if (conn instanceof Error) node.status({ fill: 'red', shape: 'ring', text: 'no controller' });
    else {
      const unfollow = followConnection(node, conn, () => shown);
      node.on('close', (_r, done) => (unfollow(), done()));
    }

    node.on('input', async (msg, send, done) => {
      try {
        if (conn instanceof Error) throw conn;
        const p = msg.payload !== null && typeof msg.payload === 'object' && !Array.isArray(msg.payload) ? (msg.payload as Record<string, unknown>) : {};
        const unknown = Object.keys(p).filter((k) => !(FIELDS as readonly string[]).includes(k));
        if (unknown.length) throw new Error(`msg.payload.${unknown[0]}: unknown field (expected ${FIELDS.join(', ')})`);
        const pick = (k: (typeof FIELDS)[number]) => (p[k] !== undefined ? p[k] : def[k]);
        const source = opt(pick('source'));
        const destination = opt(pick('destination'));
        if (!source) throw new Error('source: required (NAMESPACE/POD)');
        if (!destination) throw new Error('destination: required (NAMESPACE/POD, an IP or svc/NAMESPACE/NAME)');
        const protocol = opt(pick('protocol'));
        if (protocol !== undefined && !['icmp', 'tcp', 'udp'].includes(protocol)) throw new Error(`protocol: expected icmp, tcp or udp, got ${JSON.stringify(protocol)}`);
        const spec = traceflowSpecFromFlags({
          source, destination, protocol: protocol as 'icmp' | 'tcp' | 'udp' | undefined, port: opt(pick('port')),
          live: Boolean(pick('live')), droppedOnly: Boolean(pick('droppedOnly')), timeout: opt(pick('timeout')),
        }, (n) => (n === 'dropped-only' ? 'droppedOnly' : n));
        const abort = new AbortController();
        runs.add(abort);
        show({ fill: 'blue', shape: 'ring', text: `tracing ${source} → ${destination}…` });
        const view = await runTraceflow(conn, spec, traceflowName(source, destination), { pollMs: 100, signal: abort.signal }).finally(() => runs.delete(abort));
        const o = outcome(view);
        setView(node.id, { kind: 'traceflow', svg: traceflowSvg(view), summary: `${view.metadata.name}: ${source} → ${destination}: ${o.text}` });
        show({ fill: o.fill, shape: 'dot', text: o.text });
        if (view.status?.phase !== 'Succeeded') throw new Error(`traceflow ${view.metadata.name}: ${o.text}`);
        send({ ...msg, topic: o.last?.action ?? 'Succeeded', payload: view });
        done();
      } catch (err) {
        failInput(err, show, done);
      }
    });
    node.on('close', (removed, done) => {
      if (removed) dropView(node.id);
      // A run in flight stops polling and deletes its Traceflow.
      for (const a of runs) a.abort();
      done();
    });
  }
  RED.nodes.registerType('seine-traceflow', SeineTraceflow as never);
}

export { register as 'module.exports' };
export default register;
