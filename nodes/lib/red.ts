// The slice of Node-RED's runtime API the Seine nodes use (Node-RED ships no types of its own;
// @types/node-red would be a dependency for a dozen members).
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface NodeStatus {
  fill?: 'red' | 'green' | 'yellow' | 'blue' | 'grey';
  shape?: 'ring' | 'dot';
  text?: string;
}

export interface NodeMessage {
  _msgid?: string;
  topic?: string;
  payload?: unknown;
  [key: string]: unknown;
}

export type Send = (msg: NodeMessage | (NodeMessage | null)[] | null) => void;
export type Done = (err?: Error) => void;

export interface NodeDef {
  id: string;
  type: string;
  name?: string;
  z?: string;
  [key: string]: unknown;
}

export interface Node<Creds = Record<string, string | undefined>> {
  id: string;
  type: string;
  name?: string;
  credentials: Creds;
  on(event: 'input', fn: (msg: NodeMessage, send: Send, done: Done) => void | Promise<void>): void;
  on(event: 'close', fn: (removed: boolean, done: () => void) => void): void;
  send: Send;
  status(s: NodeStatus | Record<string, never>): void;
  log(msg: unknown): void;
  warn(msg: unknown): void;
  error(msg: unknown, m?: NodeMessage): void;
}

type Handler = (req: IncomingMessage & { params: Record<string, string>; body?: unknown }, res: ServerResponse & { json(v: unknown): void; status(code: number): { json(v: unknown): void; send(v: string): void }; type(t: string): { send(v: string): void } }) => void;

export interface NodeAPI {
  nodes: {
    createNode(node: object, def: NodeDef): void;
    registerType(type: string, ctor: (this: never, def: never) => void, opts?: { credentials?: Record<string, { type: 'text' | 'password' }> }): void;
    getNode(id: string): unknown;
  };
  httpAdmin: { get(path: string, ...h: Handler[]): void; post(path: string, ...h: Handler[]): void };
  auth: { needsPermission(permission: string): Handler };
}
