// OFPT_PACKET_OUT (OpenFlow 1.5): buffer_id, actions_len, pad, then a match carrying the
// packet's in_port, the actions, and the frame. Also the three actions the agent's packet-outs
// use (output, resubmit to a table, controller with userdata), encoded as OVS does
// (lib/ofp-actions.c): OFPAT_OUTPUT, NXAST_RESUBMIT_TABLE (14) and NXAST_CONTROLLER2 (37).
import { NX_VENDOR_ID, OFP_NO_BUFFER, OFPP } from './header.js';
import { inPortMatch } from './oxm.js';

export function encodePacketOut(p: { inPort: number; actions: Buffer; packet: Buffer }): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(OFP_NO_BUFFER, 0);
  head.writeUInt16BE(p.actions.length, 4);
  return Buffer.concat([head, inPortMatch(p.inPort), p.actions, p.packet]);
}

/** OFPAT_OUTPUT to an OpenFlow 1.1+ port (max_len: all of the packet, for the controller port). */
export function outputAction(port: number): Buffer {
  const a = Buffer.alloc(16);
  a.writeUInt16BE(0, 0);
  a.writeUInt16BE(16, 2);
  a.writeUInt32BE(port >>> 0, 4);
  a.writeUInt16BE(0xffff, 8);
  return a;
}

function nxActionHeader(subtype: number, len: number): Buffer {
  const a = Buffer.alloc(len);
  a.writeUInt16BE(0xffff, 0); // OFPAT_EXPERIMENTER
  a.writeUInt16BE(len, 2);
  a.writeUInt32BE(NX_VENDOR_ID, 4);
  a.writeUInt16BE(subtype, 8);
  return a;
}

/** `resubmit(port,table)`; port defaults to in_port (OpenFlow 1.0 numbering, 16 bits). */
export function resubmitAction(table: number, inPort = 0xfff8): Buffer {
  const a = nxActionHeader(14, 16);
  a.writeUInt16BE(inPort, 10);
  a.writeUInt8(table, 12);
  return a;
}

/** `controller(userdata=…)` with the defaults OVS leaves out (max_len all, controller 0, reason action). */
export function controllerAction(userdata: Buffer): Buffer {
  const propLen = 4 + userdata.length;
  const len = (16 + ((propLen + 7) & ~7) + 7) & ~7;
  const a = nxActionHeader(37, len);
  a.writeUInt16BE(3, 16); // NXAC2PT_USERDATA
  a.writeUInt16BE(propLen, 18);
  userdata.copy(a, 20);
  return a;
}

/** A port as OpenFlow 1.1+ numbers it: a number, or a reserved port's name (controller, local …). */
export function portNumber(p: number | string): number {
  if (typeof p === 'number') return p;
  if (/^\d+$/.test(p)) return Number(p);
  const reserved = (OFPP as Record<string, number>)[p.toUpperCase()];
  if (reserved === undefined) throw new Error(`unknown port ${JSON.stringify(p)}`);
  return reserved;
}
