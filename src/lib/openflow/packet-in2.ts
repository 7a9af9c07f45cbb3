// NXT_PACKET_IN2 decoded. It is a list of properties (type 16 bits, length 16 bits, value,
// padding to 8) rather than a fixed struct, which is how it carries what plain packet-ins
// cannot: the controller action's userdata and the continuation. Property numbers from OVS's
// include/openflow/nicira-ext.h (enum nx_packet_in2_prop_type).
import { NX_VENDOR_ID, NXT, OFPT, type OfMessage } from './header.js';
import { decodeOxm, type OxmField } from './oxm.js';

const NXPINT = { PACKET: 0, FULL_LEN: 1, BUFFER_ID: 2, TABLE_ID: 3, COOKIE: 4, REASON: 5, METADATA: 6, USERDATA: 7, CONTINUATION: 8 } as const;

/** OFPR_* as OVS encodes them in OpenFlow 1.4+ and names them. */
export const PACKET_IN_REASONS = ['no_match', 'action', 'invalid_ttl', 'action_set', 'group', 'packet_out'] as const;

export interface PacketIn2 {
  /** The frame (all of it, or the first miss_send_len/max_len bytes). */
  packet: Buffer;
  /** Length of the whole frame (the packet property's length when it was not cut). */
  fullLen: number;
  bufferId?: number;
  tableId: number;
  /** The cookie of the flow that sent it; undefined for a table miss. */
  cookie?: bigint;
  reason: string;
  /** Pipeline fields: in_port, registers, tunnel and conntrack fields that are not zero. */
  metadata: OxmField[];
  userdata?: Buffer;
  /** Opaque state to resume a paused pipeline (NXT_RESUME). */
  continuation?: Buffer;
}

export function isPacketIn2(m: OfMessage): boolean {
  return m.type === OFPT.EXPERIMENTER && m.body.length >= 8 && m.body.readUInt32BE(0) === NX_VENDOR_ID && m.body.readUInt32BE(4) === NXT.PACKET_IN2;
}

/** The body of an NXT_PACKET_IN2 message (after the OpenFlow header). */
export function decodePacketIn2(body: Buffer): PacketIn2 {
  let packet: Buffer | undefined;
  const out: Omit<PacketIn2, 'packet' | 'fullLen'> & { fullLen?: number } = { tableId: 0, reason: 'unknown', metadata: [] };
  for (let pos = 8; pos + 4 <= body.length;) {
    const type = body.readUInt16BE(pos);
    const len = body.readUInt16BE(pos + 2);
    if (len < 4 || pos + len > body.length) throw new Error(`NXT_PACKET_IN2 property ${type} at offset ${pos} has length ${len} (message ${body.length} bytes)`);
    const v = body.subarray(pos + 4, pos + len);
    switch (type) {
      case NXPINT.PACKET: packet = v; break;
      case NXPINT.FULL_LEN: out.fullLen = v.readUInt32BE(0); break;
      case NXPINT.BUFFER_ID: out.bufferId = v.readUInt32BE(0); break;
      case NXPINT.TABLE_ID: out.tableId = v[0]!; break;
      case NXPINT.COOKIE: out.cookie = v.readBigUInt64BE(4); break; // 4 bytes of padding first (ofpprop_put_be64)
      case NXPINT.REASON: out.reason = PACKET_IN_REASONS[v[0]!] ?? String(v[0]); break;
      case NXPINT.METADATA: out.metadata = decodeOxm(v); break;
      case NXPINT.USERDATA: out.userdata = v; break;
      case NXPINT.CONTINUATION: out.continuation = v; break;
      default: break; // newer properties: not needed, skipped
    }
    pos += (len + 7) & ~7;
  }
  if (!packet) throw new Error('NXT_PACKET_IN2 without a packet property');
  return { ...out, packet, fullLen: out.fullLen ?? packet.length };
}
