// seine-flows' query: the node's settings overridden by msg.payload (errors name the field), and
// the fleet flow store read with it.
import type { AggregatedFlow, FlowRecord } from '../../src/api/flow-record.js';
import { parseTimeArg } from '../../src/agent/flows/print.js';
import type { ControllerConnection } from './connection.js';
import type { Grouping } from './flow-map.js';
import type { NodeDef } from './red.js';

const OUTPUTS = ['records', 'top', 'chart', 'map'] as const;
export type Output = (typeof OUTPUTS)[number];
const FILTERS = ['pod', 'namespace', 'policy', 'since', 'until', 'limit', 'top', 'group', 'output'] as const;

export interface FlowsDef extends NodeDef {
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

/** The fleet store filters, time range included (the server's since/until take milliseconds), so the limit counts matching connections. */
export async function queryFlows(conn: ControllerConnection, q: FlowQuery): Promise<FlowRecord[]> {
  const params = new URLSearchParams({ limit: String(q.limit) });
  for (const k of ['pod', 'namespace', 'policy'] as const) if (q[k]) params.set(k, q[k]!);
  for (const k of ['since', 'until'] as const) if (q[k] !== undefined) params.set(k, String(q[k]! * 1000));
  const { items } = await conn.request<{ items: AggregatedFlow[] }>('GET', `/api/v1/flows?${params.toString()}`);
  return items.map((i) => i.record);
}

