// OFPT_FLOW_MOD (OpenFlow 1.5) from a flow in OVS's text terms: the fixed part (cookie,
// table, command, timeouts, priority, flags, importance), the match and the instructions,
// byte for byte as `ovs-ofctl -O OpenFlow15` sends it (test/unit/openflow golden tests).
import { putInstructions } from './actions.js';
import { OfWriter } from './match-fields.js';
import { putMatch } from './match.js';

export const OFP15_VERSION = 0x06;
export const OFPT_FLOW_MOD = 14;

export const FLOW_MOD_COMMANDS = { add: 0, modify: 1, modify_strict: 2, delete: 3, delete_strict: 4 } as const;
export type FlowModCommand = keyof typeof FLOW_MOD_COMMANDS;

/** OFPFF_* flags. */
export const FLOW_MOD_FLAGS = { send_flow_rem: 1, check_overlap: 2, reset_counts: 4, no_packet_counts: 8, no_byte_counts: 16 } as const;

export interface FlowModSpec {
  command: FlowModCommand;
  tableId: number;
  priority: number;
  /** OVS match text, e.g. `tcp,nw_dst=10.96.0.10,tp_dst=53`. */
  match: string;
  /** OVS action text; ignored for deletes. */
  actions?: string;
  cookie?: bigint;
  cookieMask?: bigint;
  idleTimeout?: number;
  hardTimeout?: number;
  importance?: number;
  flags?: number;
}

/** Writes the OpenFlow header with a length placeholder; returns its offset. */
export function putHeader(w: OfWriter, type: number, xid: number): number {
  const start = w.len;
  w.u8(OFP15_VERSION);
  w.u8(type);
  w.u16(0);
  w.u32(xid);
  return start;
}

export function endMessage(w: OfWriter, start: number): void {
  const len = w.len - start;
  if (len > 0xffff) throw new Error(`OpenFlow message of ${len} bytes is over 64 kB`);
  w.setU16(start + 2, len);
}

/** Appends one FLOW_MOD to `w` (several messages can share one writer). */
export function putFlowMod(w: OfWriter, f: FlowModSpec, xid: number): void {
  const start = putHeader(w, OFPT_FLOW_MOD, xid);
  w.u64(f.cookie ?? 0n);
  w.u64(f.cookieMask ?? 0n);
  w.u8(f.tableId);
  w.u8(FLOW_MOD_COMMANDS[f.command]);
  w.u16(f.idleTimeout ?? 0);
  w.u16(f.hardTimeout ?? 0);
  w.u16(f.priority);
  w.u32(0xffffffff); // buffer_id: none
  w.u32(0xffffffff); // out_port: any
  w.u32(0xffffffff); // out_group: any
  w.u16(f.flags ?? 0);
  w.u16(f.importance ?? 0);
  putMatch(w, f.match);
  if (f.command !== 'delete' && f.command !== 'delete_strict') putInstructions(w, f.actions ?? '');
  endMessage(w, start);
}

export function encodeFlowMod(f: FlowModSpec, xid: number): Buffer {
  const w = new OfWriter(256);
  putFlowMod(w, f, xid);
  return Buffer.from(w.take());
}
