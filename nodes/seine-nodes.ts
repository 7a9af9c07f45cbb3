// seine-nodes: the fleet's nodes and their state (online, agent version, realized generation,
// objects realized/failed): on each input, and in "on change" mode whenever a node's state
// changes (polled). An input with topic `latency` gets the box-to-box latency matrix instead
// (NodeLatencyMonitor: lib/latency-matrix.ts).
import type { NodeInfo } from '../src/api/controller-api.js';
import { errorMessage } from '../src/lib/errors.js';
import type { Watch } from './lib/connection.js';
import { connectionOf, errorStatus, failInput, followConnection, parseInterval } from './lib/controller-ref.js';
import { changedNodes, stateOf } from './lib/fleet-changes.js';
import { latencyMatrix } from './lib/latency-matrix.js';
import type { NodeLatencyStats } from '../src/api/node-config.js';
import type { Node, NodeAPI, NodeDef, NodeStatus } from './lib/red.js';

interface NodesDef extends NodeDef {
  controller?: string;
  onChange?: boolean;
  interval?: string | number;
}

const summary = (nodes: NodeInfo[]): NodeStatus => {
  const up = nodes.filter((n) => n.online).length;
  return { fill: up === nodes.length && nodes.length ? 'green' : up ? 'yellow' : 'red', shape: 'dot', text: `${up}/${nodes.length} online` };
};

function register(RED: NodeAPI): void {
  function SeineNodes(this: Node, def: NodesDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const conn = connectionOf(RED, def.controller);
    let shown: NodeStatus | undefined;
    const show = (s: NodeStatus) => node.status((shown = s));
    let watch: Watch | undefined;
    let problem: string | undefined;
    let intervalMs = 5000;
    try {
      if (def.onChange) intervalMs = parseInterval('interval', def.interval, 5);
    } catch (err) {
      problem = errorMessage(err);
    }
    if (conn instanceof Error || problem) node.status(conn instanceof Error ? { fill: 'red', shape: 'ring', text: 'no controller' } : errorStatus(problem!, 'ring'));
    else {
      const unfollow = followConnection(node, conn, () => shown);
      node.on('close', (_r, done) => (unfollow(), done()));
      if (def.onChange) {
        let known: Map<string, string> | undefined;
        watch = conn.watch(intervalMs, async () => {
          const nodes = await conn.request<NodeInfo[]>('GET', '/api/v1/nodes');
          const changed = changedNodes(known ?? new Map(), nodes);
          if (!known || changed.length) node.send({ topic: 'nodes', payload: nodes, changed });
          known = new Map(nodes.map((n) => [n.name, stateOf(n)]));
          show(summary(nodes));
        }, (err) => show(errorStatus(errorMessage(err), 'ring')));
      }
    }
    node.on('input', async (msg, send, done) => {
      try {
        if (conn instanceof Error) throw conn;
        if (problem) throw new Error(problem);
        if (msg.topic === 'latency') {
          const { items } = await conn.request<{ items: NodeLatencyStats[] }>('GET', '/api/v1/nodelatencystats');
          send({ ...msg, payload: latencyMatrix(items) });
          return done();
        }
        const nodes = await conn.request<NodeInfo[]>('GET', '/api/v1/nodes');
        const name = typeof msg.payload === 'string' && msg.payload.trim() ? msg.payload.trim() : undefined;
        const shownNodes = name ? nodes.filter((n) => n.name === name) : nodes;
        if (name && !shownNodes.length) throw new Error(`msg.payload: no node named ${JSON.stringify(name)} (known: ${nodes.map((n) => n.name).join(', ') || 'none'})`);
        show(summary(nodes));
        send({ ...msg, topic: msg.topic ?? 'nodes', payload: name ? shownNodes[0] : nodes });
        done();
      } catch (err) {
        failInput(err, show, done);
      }
    });
    node.on('close', (_removed, done) => {
      watch?.stop();
      done();
    });
  }
  RED.nodes.registerType('seine-nodes', SeineNodes as never);
}

export { register as 'module.exports' };
export default register;
