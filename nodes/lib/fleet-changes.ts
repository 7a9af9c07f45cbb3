// What changed in the fleet between two polls: nodes (seine-nodes' "on change") and node
// presence as events (seine-events).
import type { NodeInfo } from '../../src/api/controller-api.js';

/** What makes a node "changed": everything but lastSeen and uptime, which move all the time. */
export const stateOf = (n: NodeInfo) => JSON.stringify([n.online, n.agentVersion, n.desiredGeneration, n.realizedGeneration, n.objectsRealized, n.objectsFailed]);

export function changedNodes(before: Map<string, string>, nodes: NodeInfo[]): string[] {
  const now = new Set(nodes.map((n) => n.name));
  return [...nodes.filter((n) => before.get(n.name) !== stateOf(n)).map((n) => n.name), ...[...before.keys()].filter((k) => !now.has(k))];
}

/** Event as sent: the controller's NodeEvent, or a node-online/node-offline from the node list. */
export interface SeineEvent {
  node: string;
  ts: number;
  severity: 'info' | 'warning' | 'error';
  type: string;
  message: string;
  object?: string;
  fields?: Record<string, unknown>;
}

/** The message topic: seine/events/<node>/<type>; fleet-wide events (a rollout's phase, node '') under `fleet`. */
export const eventTopic = (e: SeineEvent) => `seine/events/${e.node || 'fleet'}/${e.type}`;

/** node-online / node-offline for every node whose `online` changed (or appeared). */
export function nodeStateEvents(before: Map<string, boolean> | undefined, nodes: NodeInfo[], now = Date.now()): SeineEvent[] {
  if (!before) return [];
  return nodes
    .filter((n) => before.get(n.name) !== n.online)
    .map((n) => ({ node: n.name, ts: now, severity: n.online ? 'info' : 'warning', type: n.online ? 'node-online' : 'node-offline', message: `${n.name} is ${n.online ? 'online' : 'offline'}` }));
}
