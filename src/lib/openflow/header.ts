// OpenFlow framing: the 8-byte header every message starts with, the constants of the messages
// Seine sends or receives (OpenFlow 1.5 plus the Nicira extensions OVS implements), and a
// reassembler that cuts a byte stream into whole messages. Numbers are those of the OpenFlow 1.5
// spec and of OVS's include/openvswitch/ofp-msgs.h (the NXT_* experimenter subtypes).

export const OFP15_VERSION = 0x06;
export const OFP_HEADER_LEN = 8;
/** Nicira's experimenter id: every NXT_* message, NXAST_* action and NXM class 1 field uses it. */
export const NX_VENDOR_ID = 0x00002320;
/** A message can be at most 64 KiB (the header's 16-bit length). */
export const OFP_MAX_LEN = 0xffff;

export const OFPT = {
  HELLO: 0,
  ERROR: 1,
  ECHO_REQUEST: 2,
  ECHO_REPLY: 3,
  EXPERIMENTER: 4,
  FEATURES_REQUEST: 5,
  FEATURES_REPLY: 6,
  GET_CONFIG_REQUEST: 7,
  GET_CONFIG_REPLY: 8,
  SET_CONFIG: 9,
  PACKET_IN: 10,
  FLOW_REMOVED: 11,
  PORT_STATUS: 12,
  PACKET_OUT: 13,
  FLOW_MOD: 14,
  GROUP_MOD: 15,
  PORT_MOD: 16,
  TABLE_MOD: 17,
  MULTIPART_REQUEST: 18,
  MULTIPART_REPLY: 19,
  BARRIER_REQUEST: 20,
  BARRIER_REPLY: 21,
  ROLE_REQUEST: 24,
  ROLE_REPLY: 25,
  GET_ASYNC_REQUEST: 26,
  GET_ASYNC_REPLY: 27,
  SET_ASYNC: 28,
  METER_MOD: 29,
  ROLE_STATUS: 30,
  TABLE_STATUS: 31,
  REQUESTFORWARD: 32,
  BUNDLE_CONTROL: 33,
  BUNDLE_ADD_MESSAGE: 34,
  CONTROLLER_STATUS: 35,
} as const;

const OFPT_NAMES = new Map<number, string>(Object.entries(OFPT).map(([k, v]) => [v, `OFPT_${k}`]));

/** OFPMP_* multipart types (OFPMP_FLOW_DESC is OF1.3's OFPMP_FLOW, renamed in 1.5). */
export const OFPMP = {
  DESC: 0,
  FLOW_DESC: 1,
  AGGREGATE_STATS: 2,
  TABLE_STATS: 3,
  PORT_STATS: 4,
  QUEUE_STATS: 5,
  GROUP_STATS: 6,
  GROUP_DESC: 7,
  GROUP_FEATURES: 8,
  METER_STATS: 9,
  METER_DESC: 10,
  METER_FEATURES: 11,
  TABLE_FEATURES: 12,
  PORT_DESC: 13,
  TABLE_DESC: 14,
  QUEUE_DESC: 15,
  FLOW_MONITOR: 16,
  EXPERIMENTER: 0xffff,
} as const;

/** ofp_multipart_{request,reply} flags: more parts follow. */
export const OFPMPF_MORE = 0x0001;
/** type(2) flags(2) pad(4) after the header. */
export const MULTIPART_HEADER_LEN = 8;

/** NXT_* experimenter subtypes (OFPT_EXPERIMENTER with NX_VENDOR_ID). */
export const NXT = {
  SET_PACKET_IN_FORMAT: 16,
  SET_CONTROLLER_ID: 20,
  RESUME: 28,
  PACKET_IN2: 30,
} as const;

const NXT_NAMES = new Map<number, string>(Object.entries(NXT).map(([k, v]) => [v, `NXT_${k}`]));

/** NXT_SET_PACKET_IN_FORMAT values. */
export const NXPIF_NXT_PACKET_IN2 = 2;

/** Reserved port numbers (OF1.1+ 32-bit form). */
export const OFPP = {
  MAX: 0xffffff00,
  IN_PORT: 0xfffffff8,
  TABLE: 0xfffffff9,
  NORMAL: 0xfffffffa,
  FLOOD: 0xfffffffb,
  ALL: 0xfffffffc,
  CONTROLLER: 0xfffffffd,
  LOCAL: 0xfffffffe,
  ANY: 0xffffffff,
} as const;

/** Buffer id meaning "the packet is in the message, not buffered in the switch". */
export const OFP_NO_BUFFER = 0xffffffff;

export interface OfHeader {
  version: number;
  type: number;
  length: number;
  xid: number;
}

/** A whole message: its header and the bytes after it. */
export interface OfMessage extends OfHeader {
  body: Buffer;
}

export function encodeMessage(type: number, xid: number, body: Buffer = Buffer.alloc(0), version = OFP15_VERSION): Buffer {
  const length = OFP_HEADER_LEN + body.length;
  if (length > OFP_MAX_LEN) throw new RangeError(`OpenFlow message ${typeName(type)} of ${length} bytes exceeds the 65535-byte limit`);
  const buf = Buffer.allocUnsafe(length);
  buf.writeUInt8(version, 0);
  buf.writeUInt8(type, 1);
  buf.writeUInt16BE(length, 2);
  buf.writeUInt32BE(xid >>> 0, 4);
  body.copy(buf, OFP_HEADER_LEN);
  return buf;
}

/** Body of an OFPT_EXPERIMENTER message of Nicira's: experimenter id, subtype, then `payload`. */
export function nxBody(subtype: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(NX_VENDOR_ID, 0);
  head.writeUInt32BE(subtype, 4);
  return Buffer.concat([head, payload]);
}

/** "OFPT_FLOW_MOD", "NXT_PACKET_IN2", or the number when unknown. */
export function typeName(type: number, body?: Buffer): string {
  if (type === OFPT.EXPERIMENTER && body && body.length >= 8 && body.readUInt32BE(0) === NX_VENDOR_ID) {
    const sub = body.readUInt32BE(4);
    return NXT_NAMES.get(sub) ?? `NXT_${sub}`;
  }
  return OFPT_NAMES.get(type) ?? `OFPT_${type}`;
}

/** Rounds up to a multiple of 8 (OpenFlow pads matches, properties and actions to 8 bytes). */
export const pad8 = (n: number): number => (n + 7) & ~7;

/**
 * Cuts a byte stream into whole messages. Chunks are kept in a list and joined only when a
 * message spans them, so a large multipart reply arriving in many reads is copied once.
 */
export class MessageReassembler {
  private chunks: Buffer[] = [];
  private buffered = 0;

  reset(): void {
    this.chunks = [];
    this.buffered = 0;
  }

  /** Feed bytes; returns the messages they completed. Throws on a header that cannot be valid. */
  push(chunk: Buffer): OfMessage[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const out: OfMessage[] = [];
    if (this.buffered < OFP_HEADER_LEN) return out;
    // A message still arriving in pieces: wait for the rest before joining (no copy per read).
    const first = this.chunks[0]!;
    if (this.chunks.length > 1 && first.length >= 4 && this.buffered < first.readUInt16BE(2)) return out;
    let buf = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.buffered);
    let pos = 0;
    while (buf.length - pos >= OFP_HEADER_LEN) {
      const length = buf.readUInt16BE(pos + 2);
      if (length < OFP_HEADER_LEN) throw new Error(`OpenFlow stream: message length ${length} < ${OFP_HEADER_LEN} at type ${buf.readUInt8(pos + 1)}`);
      if (buf.length - pos < length) break;
      out.push({
        version: buf.readUInt8(pos),
        type: buf.readUInt8(pos + 1),
        length,
        xid: buf.readUInt32BE(pos + 4),
        body: buf.subarray(pos + OFP_HEADER_LEN, pos + length),
      });
      pos += length;
    }
    buf = buf.subarray(pos);
    this.chunks = buf.length ? [buf] : [];
    this.buffered = buf.length;
    return out;
  }
}
