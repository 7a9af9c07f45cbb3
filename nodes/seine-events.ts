// seine-events: a stream of what happens in the fleet, one message per event: the nodes' policy
// log lines, denies and alerts and the controller's rollout changes (GET /api/v1/events, polled
// for newer ones), and nodes going
// online or offline (the node list, compared between polls). Filters by node and type.
import type { NodeInfo } from '../src/api/controller-api.js';
import type { NodeEvent } from '../src/controller/events.js';
import { errorMessage } from '../src/lib/errors.js';
import type { Watch } from './lib/connection.js';
import { connectionOf, errorStatus, followConnection, parseInterval } from './lib/controller-ref.js';
import { eventTopic, nodeStateEvents, type SeineEvent } from './lib/fleet-changes.js';
import type { Node, NodeAPI, NodeDef, NodeStatus } from './lib/red.js';

interface EventsDef extends NodeDef {
  controller?: string;
  node?: string;
  eventType?: string;
  nodeState?: boolean;
  replay?: boolean;
  interval?: string | number;
}

function register(RED: NodeAPI): void {
  function SeineEvents(this: Node, def: EventsDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const conn = connectionOf(RED, def.controller);
    let shown: NodeStatus | undefined;
    const show = (s: NodeStatus) => node.status((shown = s));
    let watch: Watch | undefined;
    let intervalMs = 2000;
    let problem: string | undefined;
    try {
      intervalMs = parseInterval('interval', def.interval, 2);
    } catch (err) {
      problem = errorMessage(err);
    }
    if (conn instanceof Error || problem) {
      node.status(conn instanceof Error ? { fill: 'red', shape: 'ring', text: 'no controller' } : errorStatus(problem!, 'ring'));
      if (problem) node.error(problem);
    } else {
      const unfollow = followConnection(node, conn, () => shown);
      node.on('close', (_r, done) => (unfollow(), done()));
      let since: number | undefined = def.replay ? 0 : undefined;
      let online: Map<string, boolean> | undefined;
      let count = 0;
      watch = conn.watch(intervalMs, async () => {
        const q = new URLSearchParams({ limit: '1000' });
        if (def.node) q.set('node', def.node);
        if (def.eventType) q.set('type', def.eventType);
        if (since !== undefined) q.set('since', String(since));
        const { items } = await conn.request<{ items: NodeEvent[] }>('GET', `/api/v1/events?${q.toString()}`);
        // The first poll only sets the mark (unless "replay"): a deploy does not resend history.
        const fresh: SeineEvent[] = since === undefined ? [] : items;
        since = Math.max(since ?? 0, ...items.map((e) => e.ts));
        if (def.nodeState) {
          const nodes = await conn.request<NodeInfo[]>('GET', '/api/v1/nodes');
          const typeOk = (t: string) => !def.eventType || def.eventType === t;
          fresh.push(...nodeStateEvents(online, nodes).filter((e) => (!def.node || e.node === def.node) && typeOk(e.type)));
          online = new Map(nodes.map((n) => [n.name, n.online]));
        }
        for (const e of fresh) node.send({ topic: eventTopic(e), payload: e });
        count += fresh.length;
        show({ fill: 'green', shape: 'dot', text: `${count} event${count === 1 ? '' : 's'}${fresh.length ? `, last: ${fresh.at(-1)!.type}` : ''}` });
      }, (err) => show(errorStatus(errorMessage(err), 'ring')));
    }
    node.on('close', (_removed, done) => {
      watch?.stop();
      done();
    });
  }
  RED.nodes.registerType('seine-events', SeineEvents as never);
}

export { register as 'module.exports' };
export default register;
