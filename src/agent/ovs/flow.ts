// Flows as values. A module builds `Flow`s (table by name, match and actions as ovs-ofctl
// text fragments, an owner cookie); the OpenFlow layer turns them into `OvsFlow`s (table by
// number, match and actions as single strings) and compares them with what OVS prints.
// OVS prints matches and actions in its own canonical form (field order, `load:` shown as
// `set_field:`, `ip_dscp=1` as `nw_tos=4` …), so a flow is identified by
// (table, priority, canonical match) and compared by canonical actions; see canonical.ts.
// A Flow is a value: once handed to the bridge it is never mutated (the bridge remembers flows
// by object between reconciles, desired-memo.ts).
import type { TableName } from './pipeline.js';

export interface Flow {
  table: TableName;
  priority: number;
  /** Ordered match fields, e.g. ['ip', 'in_port=1', 'nw_src=10.10.0.2']. Write them the way OVS prints them to skip canonicalisation. */
  match: readonly string[];
  /** Ordered actions, e.g. ['set_field:0x3/0xf->reg0', 'goto_table:4']. */
  actions: readonly string[];
  cookie: bigint;
  idleTimeout?: number;
  hardTimeout?: number;
}

export interface TableResolver {
  id(name: TableName): number;
}

/** A flow in OVS's terms, as dump-flows prints it (stats only when dumped with them). */
export interface OvsFlow {
  tableId: number;
  priority: number;
  match: string;
  actions: string;
  cookie: bigint;
  idleTimeout?: number;
  hardTimeout?: number;
  importance?: number;
  nPackets?: number;
  nBytes?: number;
  durationS?: number;
}

export const DEFAULT_PRIORITY = 32768;

export function toOvsFlow(flow: Flow, tables: TableResolver): OvsFlow {
  if (!Number.isInteger(flow.priority) || flow.priority < 0 || flow.priority > 65535) throw new RangeError(`flow priority out of range: ${flow.priority}`);
  if (!flow.actions.length) throw new Error(`flow in ${flow.table} has no actions (write 'drop')`);
  checkFlowText(flow);
  return {
    tableId: tables.id(flow.table),
    priority: flow.priority,
    match: joinParts(flow.match),
    actions: joinParts(flow.actions),
    cookie: flow.cookie,
    idleTimeout: flow.idleTimeout || undefined,
    hardTimeout: flow.hardTimeout || undefined,
  };
}

// The last line of defence: inputs are validated where they enter (src/api schemas), but a value
// that slipped through must not become a second flow (a newline in `ovs-ofctl add-flows -`
// input) or actions written into the match.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;
function checkFlowText(flow: Flow): void {
  for (const part of [...flow.match, ...flow.actions]) {
    if (CONTROL.test(part)) throw new Error(`flow in ${flow.table}: control character in ${JSON.stringify(part)}`);
  }
  for (const part of flow.match) {
    if (/actions\s*=/.test(part)) throw new Error(`flow in ${flow.table}: match field ${JSON.stringify(part)} carries actions`);
  }
}

function joinParts(parts: readonly string[]): string {
  const s = parts.join(',');
  return s.includes(' ') || s.includes(',,') || s.startsWith(',') || s.endsWith(',') ? parts.map((p) => p.trim()).filter(Boolean).join(',') : s;
}

/** Identity of a flow inside a switch: OpenFlow allows one flow per (table, priority, match). */
export const flowKey = (f: Pick<OvsFlow, 'tableId' | 'priority' | 'match'>): string => `${f.tableId}|${f.priority}|${f.match}`;

/** `priority=P,match` the way OVS prints it (priority left out when it is the default). */
function matchSpec(f: Pick<OvsFlow, 'priority' | 'match'>): string {
  if (f.priority === DEFAULT_PRIORITY) return f.match;
  return f.match ? `priority=${f.priority},${f.match}` : `priority=${f.priority}`;
}

/**
 * ovs-ofctl text of a flow, laid out exactly as `dump-flows --no-stats` prints it, which
 * add-flows also reads: ` cookie=0x5, table=3, priority=200,ip actions=goto_table:4`
 * (without the leading space).
 */
export function formatFlow(f: OvsFlow): string {
  let head = '';
  if (f.cookie) head += cookieText(f.cookie);
  if (f.tableId) head += `table=${f.tableId}, `;
  if (f.idleTimeout) head += `idle_timeout=${f.idleTimeout}, `;
  if (f.hardTimeout) head += `hard_timeout=${f.hardTimeout}, `;
  if (f.importance) head += `importance=${f.importance}, `;
  const m = matchSpec(f);
  return `${head}${m}${m ? ' ' : ''}actions=${f.actions}`;
}

// A bundle of 10k policy flows carries a few hundred distinct cookies: printing each BigInt
// once rather than per line was a third of the formatting time.
const cookieTexts = new Map<bigint, string>();
function cookieText(c: bigint): string {
  let t = cookieTexts.get(c);
  if (t === undefined) {
    if (cookieTexts.size >= 65_536) cookieTexts.clear();
    cookieTexts.set(c, (t = `cookie=0x${c.toString(16)}, `));
  }
  return t;
}

/** What a strict modify or delete needs to name one flow: table, priority and match. */
export function formatFlowSelector(f: Pick<OvsFlow, 'tableId' | 'priority' | 'match'>): string {
  const m = matchSpec(f);
  return `table=${f.tableId}${m ? `, ${m}` : ''}`;
}

const META_KEYS = new Set(['cookie', 'duration', 'table', 'n_packets', 'n_bytes', 'idle_timeout', 'hard_timeout', 'importance', 'idle_age', 'hard_age']);
const META_FLAGS = new Set(['send_flow_rem', 'check_overlap', 'reset_counts', 'no_packet_counts', 'no_byte_counts', 'no_readonly_table']);

/** Parses `ovs-ofctl -O OpenFlow15 dump-flows [--no-stats]` output (the reply header line is skipped). */
export function parseDumpFlows(text: string): OvsFlow[] {
  const flows: OvsFlow[] = [];
  for (let pos = 0; pos < text.length; ) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0) nl = text.length;
    const line = text.slice(pos, nl).trim();
    pos = nl + 1;
    if (!line || line.startsWith('OFPST_FLOW') || line.startsWith('NXST_FLOW')) continue;
    flows.push(parseFlowLine(line));
  }
  return flows;
}

function parseFlowLine(line: string): OvsFlow {
  const a = line.startsWith('actions=') ? -1 : line.indexOf(' actions=');
  if (a < 0 && !line.startsWith('actions=')) throw new Error(`dump-flows: no actions in line: ${line}`);
  const f: OvsFlow = { tableId: 0, priority: DEFAULT_PRIORITY, match: '', actions: line.slice(a + 9), cookie: 0n };
  if (a < 0) return f;
  // Fields are separated by ", " (flags like send_flow_rem by a bare space); a match never contains spaces.
  const head = line.slice(0, a);
  for (let p = 0; p < head.length; ) {
    let sp = head.indexOf(' ', p);
    if (sp < 0) sp = head.length;
    const tok = head.charCodeAt(sp - 1) === 44 /* , */ ? head.slice(p, sp - 1) : head.slice(p, sp);
    p = sp + 1;
    const eq = tok.indexOf('=');
    const key = eq < 0 ? tok : tok.slice(0, eq);
    if (META_KEYS.has(key)) {
      const v = tok.slice(eq + 1);
      switch (key) {
        case 'cookie': f.cookie = BigInt(v); break;
        case 'table': f.tableId = Number(v); break;
        case 'duration': f.durationS = parseFloat(v); break;
        case 'n_packets': f.nPackets = Number(v); break;
        case 'n_bytes': f.nBytes = Number(v); break;
        case 'idle_timeout': f.idleTimeout = Number(v); break;
        case 'hard_timeout': f.hardTimeout = Number(v); break;
        case 'importance': f.importance = Number(v); break;
      }
    } else if (key === 'priority') {
      const comma = tok.indexOf(',');
      f.priority = Number(comma < 0 ? tok.slice(eq + 1) : tok.slice(eq + 1, comma));
      f.match = comma < 0 ? '' : tok.slice(comma + 1);
    } else if (tok && !META_FLAGS.has(tok)) f.match = tok;
  }
  return f;
}
