// How a Seine node finds its seine-controller config node and shows the connection on its status.
import { errorMessage } from '../../src/lib/errors.js';
import type { ControllerConnection } from './connection.js';
import type { Done, Node, NodeAPI, NodeStatus } from './red.js';

export interface ControllerNode extends Node<{ token?: string; ca?: string }> {
  connection?: ControllerConnection;
  /** Why there is no connection (a bad URL), for the nodes' errors. */
  problem?: string;
}

/** The config node's connection, or an Error naming the `controller` field. */
export function connectionOf(RED: NodeAPI, id: unknown): ControllerConnection | Error {
  const c = typeof id === 'string' && id ? (RED.nodes.getNode(id) as ControllerNode | null) : null;
  if (!c) return new Error('controller: no seine-controller configured (open the node and pick or add one)');
  if (!c.connection) return new Error(`controller: ${c.problem ?? 'not usable'}`);
  return c.connection;
}

/** Mirrors the connection's state on the node while `detail` says what the node is doing. */
export function followConnection(node: Node, conn: ControllerConnection, detail: () => NodeStatus | undefined): () => void {
  const show = () => {
    if (conn.state === 'unreachable') node.status({ fill: 'red', shape: 'ring', text: 'controller unreachable' });
    else node.status(detail() ?? {});
  };
  conn.on('state', show);
  return () => conn.off('state', show);
}

export function parseInterval(field: string, v: unknown, fallbackSeconds: number): number {
  const n = v === undefined || v === '' ? fallbackSeconds : Number(v);
  if (!Number.isFinite(n) || n < 0.2 || n > 3600) throw new Error(`${field}: expected seconds between 0.2 and 3600, got ${JSON.stringify(v)}`);
  return n * 1000;
}

/** A red status for an error: the first line, without a manifest's "source doc N (Kind name): " prefix. */
export function errorStatus(message: string, shape: 'dot' | 'ring' = 'dot'): NodeStatus {
  const line = message.split('\n')[0]!.replace(/^\S+ doc \d+( item \d+)? \([^)]*\): /, '');
  return { fill: 'red', shape, text: line.length > 80 ? `${line.slice(0, 79)}…` : line };
}

/** An input message that failed: a red status, and the error to Node-RED through done (so Catch nodes get it). */
export function failInput(err: unknown, show: (s: NodeStatus) => void, done: Done): void {
  const message = errorMessage(err);
  show(errorStatus(message));
  done(new Error(message));
}
