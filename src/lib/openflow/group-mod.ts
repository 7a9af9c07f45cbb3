// OFPT_GROUP_MOD (OpenFlow 1.5) from OVS group text, as OVS encodes it (lib/ofp-group.c):
// `type=select,selection_method=hash,fields(ip_src,tcp_src),bucket=bucket_id:0,weight:100,actions=…`.
// Buckets carry their id and (select groups) a weight property; the selection method is
// Netronome's experimenter group property with the hash fields as OXM headers.
import { putActions } from './actions.js';
import { allOnes, fieldByName, OfWriter, oxmHeader, parseUint } from './match-fields.js';
import { endMessage, putHeader } from './flow-mod.js';
import { splitTop } from './match.js';

export const OFPT_GROUP_MOD = 15;
export const GROUP_MOD_COMMANDS = { add: 0, modify: 1, delete: 2 } as const;
export type GroupModCommand = keyof typeof GROUP_MOD_COMMANDS;
const GROUP_TYPES: Record<string, number> = { all: 0, select: 1, indirect: 2, ff: 3, fast_failover: 3 };
const BUCKET_ALL = 0xffffffff;
const NTR_VENDOR = 0x0000154d;

/** Hash fields in OVS's field-id order (the order it writes them, whatever the text's). */
const HASH_FIELD_ORDER = ['eth_src', 'eth_dst', 'eth_type', 'ip_src', 'ip_dst', 'ipv6_src', 'ipv6_dst', 'ip_proto', 'tcp_src', 'tcp_dst', 'udp_src', 'udp_dst', 'sctp_src', 'sctp_dst'];

export class GroupError extends Error {
  constructor(readonly token: string, reason: string) {
    super(`group "${token}": ${reason}`);
    this.name = 'GroupError';
  }
}

/** Splits group text at `bucket=`: the group's own keys, then each bucket's text. */
function splitBuckets(spec: string): { head: string[]; buckets: string[][] } {
  const head: string[] = [];
  const buckets: string[][] = [];
  for (const t of splitTop(spec)) {
    if (t.startsWith('bucket=')) buckets.push([t.slice(7)]);
    else if (buckets.length) buckets[buckets.length - 1]!.push(t);
    else head.push(t);
  }
  return { head, buckets };
}

function putBucket(w: OfWriter, tokens: string[], select: boolean, index: number, token: string): void {
  const start = w.len;
  w.zeros(8); // len, action_array_len, bucket_id
  let id = index; // OVS numbers buckets without an id from 0 (all Seine's buckets have one)
  let weight = select ? 1 : 0;
  const actions: string[] = [];
  let inActions = false;
  for (const t of tokens) {
    const m = inActions ? null : /^(bucket_id|weight|watch_port|watch_group)[:=](.*)$/.exec(t);
    if (m) {
      const v = Number(parseUint(m[2]!, token));
      if (m[1] === 'bucket_id') id = v;
      else if (m[1] === 'weight') weight = v;
      else throw new GroupError(token, `${m[1]} is not supported`);
      continue;
    }
    const a = /^actions?=(.*)$/.exec(t);
    if (a) {
      inActions = true;
      if (a[1]) actions.push(a[1]);
    } else actions.push(t);
  }
  if (!actions.length) throw new GroupError(token, 'bucket must specify actions');
  const body = w.len;
  putActions(w, actions);
  const actionsLen = w.len - body;
  if (select || weight) {
    w.u16(0); // OFPGBPT15_WEIGHT
    w.u16(8); // OVS counts the 16-bit value's padding in the length (ofpprop_put_be16)
    w.u16(weight);
    w.zeros(2);
  }
  w.setU16(start, w.len - start);
  w.setU16(start + 2, actionsLen);
  w.setU32(start + 4, id);
}

/** Appends a GROUP_MOD; `spec` is the text after `group_id=N,` (ignored for delete). */
export function putGroupMod(w: OfWriter, command: GroupModCommand, groupId: number, spec: string, xid: number): void {
  const start = putHeader(w, OFPT_GROUP_MOD, xid);
  const { head, buckets } = command === 'delete' ? { head: [], buckets: [] } : splitBuckets(spec);
  let type: number | undefined;
  let method = '';
  let methodParam = 0n;
  const fields: string[] = [];
  for (const t of head) {
    const eq = t.indexOf('=');
    const k = t.startsWith('fields(') ? 'fields' : eq < 0 ? t : t.slice(0, eq);
    const v = t.startsWith('fields(') ? t.slice(7, -1) : eq < 0 ? '' : t.slice(eq + 1);
    if (k === 'type') {
      type = GROUP_TYPES[v];
      if (type === undefined) throw new GroupError(t, 'invalid group type');
    } else if (k === 'selection_method') {
      if (v.length >= 16) throw new GroupError(t, 'selection method is longer than 15 bytes');
      method = v;
    } else if (k === 'selection_method_param') methodParam = parseUint(v, t);
    else if (k === 'fields') fields.push(...v.split(',').filter(Boolean));
    else throw new GroupError(t, 'unknown keyword');
  }
  if (command !== 'delete' && type === undefined) throw new GroupError(spec, 'must specify a type');
  if (fields.length && method !== 'hash') throw new GroupError(spec, 'fields may only be specified with "selection_method=hash"');
  w.u16(GROUP_MOD_COMMANDS[command]);
  w.u8(type ?? 0);
  w.u8(0);
  w.u32(groupId);
  const arrayLen = w.len;
  w.u16(0);
  w.zeros(2);
  w.u32(BUCKET_ALL);
  const first = w.len;
  buckets.forEach((b, i) => putBucket(w, b, type === 1, i, spec));
  w.setU16(arrayLen, w.len - first);
  if (method) {
    const p = w.len;
    w.u16(0xffff); // OFPGPT15_EXPERIMENTER
    w.u16(0);
    w.u32(NTR_VENDOR);
    w.u32(1); // NTRT_SELECTION_METHOD
    w.zeros(4);
    const name = Buffer.alloc(16);
    name.write(method, 'latin1');
    w.bytes(name);
    w.u64(methodParam);
    const order = (n: string) => HASH_FIELD_ORDER.indexOf(fieldByName(n)?.name ?? '');
    for (const n of fields) if (order(n) < 0) throw new GroupError(n, 'not a supported hash field');
    for (const n of [...fields].sort((a, b) => order(a) - order(b))) {
      // OVS writes each hash field as an OXM entry whose value is its mask (all ones).
      const f = fieldByName(n)!;
      w.u32(oxmHeader(f.cls, f.field, false, f.bytes));
      w.uint(allOnes(f.bytes), f.bytes);
    }
    w.setU16(p + 2, w.len - p);
    w.pad8(p);
  }
  endMessage(w, start);
}
