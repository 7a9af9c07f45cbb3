// OVS action text → OpenFlow 1.5 instructions and actions, as OVS encodes them
// (lib/ofp-actions.c, encode_*): set_field with a mask for partial writes (load: becomes
// set_field, mod_dl_dst becomes set_field), copy_field for move, Nicira extensions for
// resubmit, ct, nat, learn, conjunction, controller with userdata, note, exit. A table from
// action name to encoder; an action not in it is refused with its token.
import { encodeCt } from './actions-ct.js';
import { ActionError } from './actions-error.js';
import { encodeLearn } from './actions-learn.js';
import { allOnes, nxmHeader, nxmOfsNbits, of15Header, OfWriter, parseFieldValue, parsePort, parseSubfield, parseUint, portToOf11, putOxm, RESERVED_PORTS, type FieldDef, type Subfield } from './match-fields.js';
import { splitTop } from './match.js';

export const NX_VENDOR = 0x00002320;

// OpenFlow 1.5 action types (OFPAT_*) and Nicira subtypes (NXAST_*).
const OFPAT_OUTPUT = 0;
const OFPAT_PUSH_VLAN = 17;
const OFPAT_POP_VLAN = 18;
const OFPAT_GROUP = 22;
const OFPAT_DEC_NW_TTL = 24;
const OFPAT_SET_FIELD = 25;
const OFPAT_COPY_FIELD = 28;
const NXAST_RESUBMIT = 1;
const NXAST_SET_TUNNEL = 2;
const NXAST_NOTE = 8;
const NXAST_SET_TUNNEL64 = 9;
const NXAST_RESUBMIT_TABLE = 14;
const NXAST_OUTPUT_REG = 15;
const NXAST_EXIT = 17;
const NXAST_CONTROLLER = 20;
const NXAST_CONJUNCTION = 34;
const NXAST_CONTROLLER2 = 37;
const NXAST_CT_CLEAR = 43;

// Instructions.
const OFPIT_GOTO_TABLE = 1;
const OFPIT_APPLY_ACTIONS = 4;

export { ActionError };

/** Starts a Nicira action (type, length placeholder, vendor, subtype); returns its offset. */
export function nxHeader(w: OfWriter, subtype: number): number {
  const start = w.len;
  w.u16(0xffff);
  w.u16(0);
  w.u32(NX_VENDOR);
  w.u16(subtype);
  return start;
}

/** Pads an action to 8 bytes and writes its length. */
export function endAction(w: OfWriter, start: number): void {
  w.pad8(start);
  w.setU16(start + 2, w.len - start);
}

function output(w: OfWriter, port: number, maxLen = port === RESERVED_PORTS.CONTROLLER ? 0xffff : 0): void {
  w.u16(OFPAT_OUTPUT);
  w.u16(16);
  w.u32(portToOf11(port));
  w.u16(maxLen);
  w.zeros(6);
}

/** set_field, masked when it writes part of the field (OpenFlow 1.5 set_field carries a mask). */
export function setField(w: OfWriter, f: FieldDef, value: bigint, mask?: bigint): void {
  const start = w.len;
  w.u16(OFPAT_SET_FIELD);
  w.u16(0);
  putOxm(w, f, mask === undefined ? value : value & mask, mask);
  endAction(w, start);
}

function parseSetField(w: OfWriter, arg: string, token: string): void {
  const arrow = arg.lastIndexOf('->');
  if (arrow < 0) throw new ActionError(token, 'expected value->field');
  const f = field(arg.slice(arrow + 2), token);
  const { value, mask } = wrap(token, () => parseFieldValue(f, arg.slice(0, arrow)));
  setField(w, f, value, mask);
}

function field(name: string, token: string): FieldDef {
  return wrap(token, () => parseSubfield(name)).field;
}

function wrap<T>(token: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ActionError) throw err;
    throw new ActionError(token, (err as Error).message);
  }
}

const bitsMask = (s: Subfield): bigint => ((1n << BigInt(s.nBits)) - 1n) << BigInt(s.ofs);

/** load:VALUE->DST[a..b] is a (masked) set_field; load:SRC[..]->DST[..] a move. */
function parseLoad(w: OfWriter, arg: string, token: string): void {
  const arrow = arg.indexOf('->');
  if (arrow < 0) throw new ActionError(token, 'expected value->field[bits]');
  const src = arg.slice(0, arrow);
  const dst = wrap(token, () => parseSubfield(arg.slice(arrow + 2)));
  if (!/^(0x[0-9a-f]+|\d+)$/i.test(src)) return move(w, wrap(token, () => parseSubfield(src)), dst, token);
  const v = parseUint(src, token);
  if (v >> BigInt(dst.nBits)) throw new ActionError(token, `value does not fit in ${dst.nBits} bits`);
  const mask = bitsMask(dst);
  setField(w, dst.field, v << BigInt(dst.ofs), mask === allOnes(dst.field.bytes) ? undefined : mask);
}

function move(w: OfWriter, src: Subfield, dst: Subfield, token: string): void {
  if (src.nBits !== dst.nBits) throw new ActionError(token, `source is ${src.nBits} bits, destination ${dst.nBits}`);
  const start = w.len;
  w.u16(OFPAT_COPY_FIELD);
  w.u16(0);
  w.u16(dst.nBits);
  w.u16(src.ofs);
  w.u16(dst.ofs);
  w.zeros(2);
  w.u32(of15Header(src.field));
  w.u32(of15Header(dst.field));
  endAction(w, start);
}

function parseMove(w: OfWriter, arg: string, token: string): void {
  const arrow = arg.indexOf('->');
  if (arrow < 0) throw new ActionError(token, 'expected src[bits]->dst[bits]');
  move(w, wrap(token, () => parseSubfield(arg.slice(0, arrow))), wrap(token, () => parseSubfield(arg.slice(arrow + 2))), token);
}

function parseOutput(w: OfWriter, arg: string, token: string): void {
  const port = parsePort(arg);
  if (port !== undefined) return output(w, port);
  // output:NXM_NX_REG1[] — the port number is in a field.
  const src = wrap(token, () => parseSubfield(arg));
  const start = nxHeader(w, NXAST_OUTPUT_REG);
  w.u16(nxmOfsNbits(src));
  w.u32(nxmHeader(src.field));
  w.u16(0xffff); // max_len (OVS's default)
  w.zeros(6);
  endAction(w, start);
}

function parseResubmit(w: OfWriter, arg: string, token: string): void {
  // resubmit:PORT, resubmit(PORT), resubmit(,TABLE), resubmit(PORT,TABLE)
  const [p = '', t, ct] = arg.split(',');
  if (ct !== undefined) throw new ActionError(token, 'resubmit(…,ct) is not supported');
  const inPort = p === '' ? RESERVED_PORTS.IN_PORT : parsePort(p);
  if (inPort === undefined) throw new ActionError(token, `"${p}" is not a port`);
  const table = t === undefined || t === '' ? 0xff : Number(parseUint(t, token));
  if (table > 254 && t) throw new ActionError(token, 'table out of range');
  const start = nxHeader(w, table === 0xff && t === undefined ? NXAST_RESUBMIT : NXAST_RESUBMIT_TABLE);
  w.u16(inPort);
  w.u8(table);
  w.zeros(3);
  endAction(w, start);
}

function parseConjunction(w: OfWriter, arg: string, token: string): void {
  const m = /^(\d+),(\d+)\/(\d+)$/.exec(arg);
  if (!m) throw new ActionError(token, 'expected conjunction(id,k/n)');
  const [id, k, n] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (n < 2 || n > 64 || k < 1 || k > n || id > 0xffffffff) throw new ActionError(token, 'needs 1 <= k <= n, 2 <= n <= 64');
  const start = nxHeader(w, NXAST_CONJUNCTION);
  w.u8(k - 1);
  w.u8(n);
  w.u32(id);
  endAction(w, start);
}

const REASONS: Record<string, number> = { no_match: 0, action: 1, invalid_ttl: 2, action_set: 3, group: 4, packet_out: 5 };

function hexBytes(s: string, token: string): Buffer {
  const hex = s.replace(/\./g, '');
  if (!/^([0-9a-f]{2})*$/i.test(hex)) throw new ActionError(token, `"${s}" is not hex bytes (xx.xx.…)`);
  return Buffer.from(hex, 'hex');
}

/** controller, controller:MAX_LEN, controller(key=value,…): output to CONTROLLER or NXAST_CONTROLLER(2). */
function parseController(w: OfWriter, arg: string | undefined, token: string): void {
  let maxLen = 0xffff;
  let reason = REASONS.action!;
  let id = 0;
  let userdata: Buffer | undefined;
  let pause = false;
  if (arg !== undefined && /^\d+$/.test(arg)) maxLen = Number(arg);
  else if (arg) {
    for (const kv of splitTop(arg)) {
      const eq = kv.indexOf('=');
      const k = eq < 0 ? kv : kv.slice(0, eq);
      const v = eq < 0 ? '' : kv.slice(eq + 1);
      if (k === 'max_len') maxLen = Number(parseUint(v, token));
      else if (k === 'reason') {
        const r = REASONS[v];
        if (r === undefined) throw new ActionError(token, `unknown reason "${v}"`);
        reason = r;
      } else if (k === 'id') id = Number(parseUint(v, token));
      else if (k === 'userdata') userdata = hexBytes(v, token);
      else if (k === 'pause') pause = true;
      else throw new ActionError(token, `unknown controller option "${k}"`);
    }
  }
  if (maxLen > 0xffff || id > 0xffff) throw new ActionError(token, 'max_len and id are 16-bit');
  if (reason === REASONS.action && id === 0 && !userdata && !pause) return output(w, RESERVED_PORTS.CONTROLLER!, maxLen);
  if (!userdata && !pause) {
    const start = nxHeader(w, NXAST_CONTROLLER);
    w.u16(maxLen);
    w.u16(id);
    w.u8(reason);
    w.u8(0);
    endAction(w, start);
    return;
  }
  const start = nxHeader(w, NXAST_CONTROLLER2);
  w.zeros(6);
  const prop = (type: number, body: (w: OfWriter) => void) => {
    const p = w.len;
    w.u16(type);
    w.u16(0);
    body(w);
    w.setU16(p + 2, w.len - p);
    w.pad8(p);
  };
  // OVS pads 16-bit property values to 32 bits inside the length (ofpprop_put_be16).
  if (maxLen !== 0xffff) prop(0, (x) => (x.u16(maxLen), x.zeros(2)));
  if (id !== 0) prop(1, (x) => (x.u16(id), x.zeros(2)));
  if (reason !== REASONS.action) prop(2, (x) => x.u8(reason));
  if (userdata) prop(3, (x) => x.bytes(userdata));
  if (pause) prop(4, () => {});
  endAction(w, start);
}

function simpleNx(w: OfWriter, subtype: number): void {
  const start = nxHeader(w, subtype);
  w.zeros(6);
  endAction(w, start);
}

type Encoder = (w: OfWriter, arg: string | undefined, token: string) => void;
const need = (arg: string | undefined, token: string): string => {
  if (arg === undefined || arg === '') throw new ActionError(token, 'needs an argument');
  return arg;
};

const ACTIONS: Record<string, Encoder> = {
  output: (w, a, t) => parseOutput(w, need(a, t), t),
  resubmit: (w, a, t) => parseResubmit(w, need(a, t), t),
  set_field: (w, a, t) => parseSetField(w, need(a, t), t),
  load: (w, a, t) => parseLoad(w, need(a, t), t),
  move: (w, a, t) => parseMove(w, need(a, t), t),
  ct: (w, a, t) => encodeCt(w, a ?? '', t, putActions),
  learn: (w, a, t) => encodeLearn(w, need(a, t), t),
  conjunction: (w, a, t) => parseConjunction(w, need(a, t), t),
  controller: (w, a, t) => parseController(w, a, t),
  group: (w, a, t) => {
    w.u16(OFPAT_GROUP);
    w.u16(8);
    w.u32(Number(parseUint(need(a, t), t)));
  },
  note: (w, a, t) => {
    const start = nxHeader(w, NXAST_NOTE);
    w.bytes(hexBytes(a ?? '', t));
    if (w.len - start < 16) w.zeros(16 - (w.len - start));
    endAction(w, start);
  },
  exit: (w) => simpleNx(w, NXAST_EXIT),
  ct_clear: (w) => simpleNx(w, NXAST_CT_CLEAR),
  dec_ttl: (w, a, t) => {
    if (a) throw new ActionError(t, 'dec_ttl(ids) is not supported');
    w.u16(OFPAT_DEC_NW_TTL);
    w.u16(8);
    w.zeros(4);
  },
  mod_dl_src: (w, a, t) => parseSetField(w, `${need(a, t)}->eth_src`, t),
  mod_dl_dst: (w, a, t) => parseSetField(w, `${need(a, t)}->eth_dst`, t),
  mod_nw_src: (w, a, t) => parseSetField(w, `${need(a, t)}->ip_src`, t),
  mod_nw_dst: (w, a, t) => parseSetField(w, `${need(a, t)}->ip_dst`, t),
  set_tunnel: (w, a, t) => {
    const v = parseUint(need(a, t), t);
    if (v > 0xffffffffn) {
      const start = nxHeader(w, NXAST_SET_TUNNEL64);
      w.zeros(6);
      w.u64(v);
      endAction(w, start);
      return;
    }
    const start = nxHeader(w, NXAST_SET_TUNNEL);
    w.zeros(2);
    w.u32(Number(v));
    endAction(w, start);
  },
  set_tunnel64: (w, a, t) => {
    const start = nxHeader(w, NXAST_SET_TUNNEL64);
    w.zeros(6);
    w.u64(parseUint(need(a, t), t));
    endAction(w, start);
  },
  pop_vlan: (w) => {
    w.u16(OFPAT_POP_VLAN);
    w.u16(8);
    w.zeros(4);
  },
  strip_vlan: (w) => ACTIONS.pop_vlan!(w, undefined, 'strip_vlan'),
  push_vlan: (w, a, t) => {
    w.u16(OFPAT_PUSH_VLAN);
    w.u16(8);
    w.u16(Number(parseUint(need(a, t), t)));
    w.zeros(2);
  },
};

/** Splits `name:arg`, `name(arg)` or a bare name. */
function splitAction(token: string): [string, string | undefined] {
  const paren = token.indexOf('(');
  const colon = token.indexOf(':');
  if (paren > 0 && (colon < 0 || paren < colon)) {
    if (!token.endsWith(')')) throw new ActionError(token, 'unbalanced parentheses');
    return [token.slice(0, paren), token.slice(paren + 1, -1)];
  }
  if (colon > 0) return [token.slice(0, colon), token.slice(colon + 1)];
  return [token, undefined];
}

/** Writes an action list (apply-actions body, bucket, ct exec); returns a goto_table found (or -1). */
export function putActions(w: OfWriter, tokens: readonly string[], allowGoto = false): number {
  let gotoTable = -1;
  for (const token of tokens) {
    if (gotoTable >= 0) throw new ActionError(token, 'goto_table must be the last action');
    const [name, arg] = splitAction(token);
    if (name === 'drop' && arg === undefined) continue;
    if (name === 'goto_table') {
      if (!allowGoto) throw new ActionError(token, 'goto_table is not allowed here');
      gotoTable = Number(parseUint(need(arg, token), token));
      if (gotoTable > 254) throw new ActionError(token, 'table out of range');
      continue;
    }
    const enc = ACTIONS[name];
    if (enc) {
      enc(w, arg, token);
      continue;
    }
    // A bare port: `1`, `NORMAL`, `IN_PORT`, `LOCAL` … means output to it.
    const port = arg === undefined ? parsePort(name) : undefined;
    if (port === undefined) throw new ActionError(token, 'unknown or unsupported action');
    if (port === RESERVED_PORTS.CONTROLLER) parseController(w, undefined, token);
    else output(w, port);
  }
  return gotoTable;
}

// Encoded instructions by action text: a policy bundle repeats a few hundred action lists
// (conjunction(id,k/n), goto_table) over thousands of flows.
const encodedActions = new Map<string, Buffer>();
const MAX_CACHED = 8192;

/** The flow's instructions: apply-actions (if any action) then goto-table (if any). */
export function putInstructions(w: OfWriter, actionsText: string): void {
  const hit = encodedActions.get(actionsText);
  if (hit) return w.bytes(hit);
  const start = w.len;
  writeInstructions(w, actionsText);
  if (encodedActions.size >= MAX_CACHED) encodedActions.clear();
  encodedActions.set(actionsText, Buffer.from(w.buf.subarray(start, w.len)));
}

function writeInstructions(w: OfWriter, actionsText: string): void {
  const start = w.len;
  w.u16(OFPIT_APPLY_ACTIONS);
  w.u16(0);
  w.zeros(4);
  const body = w.len;
  const gotoTable = putActions(w, splitTop(actionsText), true);
  if (w.len === body) w.len = start; // no action to apply: no instruction
  else w.setU16(start + 2, w.len - start);
  if (gotoTable >= 0) {
    w.u16(OFPIT_GOTO_TABLE);
    w.u16(8);
    w.u8(gotoTable);
    w.zeros(3);
  }
}

/** The actions' identity: their encoded instructions as a string key. */
export function actionsKey(text: string): string {
  const w = new OfWriter(128);
  putInstructions(w, text);
  return w.take().toString('latin1');
}
