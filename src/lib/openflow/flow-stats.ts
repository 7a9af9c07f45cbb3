// Flow, table and port statistics over the OpenFlow connection (what `ovs-ofctl dump-flows`,
// `dump-tables` and `dump-ports` print), decoded from OpenFlow 1.5's multipart replies:
//   OFPMP_FLOW_DESC   ofp15_flow_desc (24 bytes), the match, OXS stats (duration, idle time,
//                     packet and byte counts), the instructions — per flow
//   OFPMP_TABLE_STATS table_id, active_count, lookup and matched counts — per table
//   OFPMP_PORT_STATS  OF1.4+ ofp14_port_stats with its properties — per port
// `FlowDescCursor` walks the flow entries in place for callers that read a few fields of many
// flows (the exporter's 10k learned counters): no object per TLV, the match read on demand.
import type { OpenFlowConnection } from './connection.js';
import { OFPMP } from './header.js';
import { decodeMatch, type OxmField } from './oxm.js';

export interface FlowStatsFilter {
  /** One table; all tables when undefined. */
  tableId?: number;
  cookie?: bigint;
  /** Bits of `cookie` that must match (0 or undefined: any cookie). */
  cookieMask?: bigint;
}

export interface FlowStatsEntry {
  tableId: number;
  priority: number;
  idleTimeout: number;
  hardTimeout: number;
  flags: number;
  importance: number;
  cookie: bigint;
  /** Seconds since the flow was installed (nanosecond precision). */
  durationS: number;
  /** Seconds since the flow last matched a packet, when OVS reports it. */
  idleAgeS?: number;
  packets: number;
  bytes: number;
  match: OxmField[];
}

/** ofp11_flow_stats_request (the OF1.5 FLOW_DESC and AGGREGATE request body) with an empty match. */
export function flowStatsRequest(f: FlowStatsFilter = {}): Buffer {
  const b = Buffer.alloc(40);
  b.writeUInt8(f.tableId ?? 0xff, 0); // OFPTT_ALL
  b.writeUInt32BE(0xffffffff, 4); // out_port: any
  b.writeUInt32BE(0xffffffff, 8); // out_group: any
  if (f.cookieMask) {
    b.writeBigUInt64BE(BigInt.asUintN(64, f.cookie ?? 0n), 16);
    b.writeBigUInt64BE(BigInt.asUintN(64, f.cookieMask), 24);
  }
  b.writeUInt16BE(1, 32); // OFPMT_OXM
  b.writeUInt16BE(4, 34); // no fields
  return b;
}

// OXS stat headers (class 0x8002, field << 1, length): duration, idle_time, packet_count, byte_count.
const OXS_DURATION = 0x80020008;
const OXS_IDLE_TIME = 0x80020208;
const OXS_PACKETS = 0x80020808;
const OXS_BYTES = 0x80020a08;

/** A 64-bit counter as a number (exact below 2^53, far beyond any counter a box reaches). */
const u64 = (b: Buffer, at: number): number => b.readUInt32BE(at) * 0x1_0000_0000 + b.readUInt32BE(at + 4);

/**
 * Iterates the flow entries of FLOW_DESC reply parts in place. Read the fields of the current
 * entry between `next()` calls; `matchFields()` decodes the match when needed, `findTlv()` looks
 * one field up without decoding the rest.
 */
export class FlowDescCursor {
  private part = 0;
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  private len = 0;
  private matchLen = 0;
  /** Offset of the first TLV of the current match. */
  private tlvs = 0;
  tableId = 0;
  priority = 0;
  packets = 0;
  bytes = 0;
  durationS = 0;
  idleAgeS: number | undefined;

  constructor(private readonly parts: readonly Buffer[]) {}

  /** Moves to the next entry; false at the end. */
  next(): boolean {
    if (this.len) this.pos += this.len;
    while (this.part < this.parts.length && this.pos >= this.buf.length) {
      this.buf = this.parts[this.part++]!;
      this.pos = 0;
      this.len = 0;
    }
    if (this.pos >= this.buf.length) return false;
    const b = this.buf;
    const p = this.pos;
    this.len = b.readUInt16BE(p);
    if (this.len < 24 || p + this.len > b.length) throw new Error(`flow stats entry at offset ${p} claims length ${this.len} (part of ${b.length} bytes)`);
    this.tableId = b[p + 4]!;
    this.priority = b.readUInt16BE(p + 6);
    const m = p + 24;
    this.matchLen = b.readUInt16BE(m + 2);
    this.tlvs = m + 4;
    const stats = m + ((this.matchLen + 7) & ~7);
    const statsLen = b.readUInt16BE(stats + 2);
    this.packets = 0;
    this.bytes = 0;
    this.durationS = 0;
    this.idleAgeS = undefined;
    for (let q = stats + 4; q + 4 <= stats + statsLen;) {
      const h = b.readUInt32BE(q);
      const n = h & 0xff;
      if (h === OXS_PACKETS) this.packets = u64(b, q + 4);
      else if (h === OXS_BYTES) this.bytes = u64(b, q + 4);
      else if (h === OXS_DURATION) this.durationS = b.readUInt32BE(q + 4) + b.readUInt32BE(q + 8) / 1e9;
      else if (h === OXS_IDLE_TIME) this.idleAgeS = b.readUInt32BE(q + 4);
      q += 4 + n;
    }
    return true;
  }

  get idleTimeout(): number {
    return this.buf.readUInt16BE(this.pos + 8);
  }
  get hardTimeout(): number {
    return this.buf.readUInt16BE(this.pos + 10);
  }
  get flags(): number {
    return this.buf.readUInt16BE(this.pos + 12);
  }
  get importance(): number {
    return this.buf.readUInt16BE(this.pos + 14);
  }
  get cookie(): bigint {
    return this.buf.readBigUInt64BE(this.pos + 16);
  }
  /** The cookie's high and low 32 bits, without a BigInt. */
  get cookieHigh(): number {
    return this.buf.readUInt32BE(this.pos + 16);
  }
  get cookieLow(): number {
    return this.buf.readUInt32BE(this.pos + 20);
  }

  matchFields(): OxmField[] {
    return decodeMatch(this.buf, this.pos + 24).fields;
  }

  /**
   * Offset (into `buffer`) of the value of the first TLV with this class and field, or -1. Use
   * with `buffer` to read the value; masked TLVs have the mask right after the value.
   */
  findTlv(cls: number, field: number): number {
    const b = this.buf;
    const end = this.tlvs - 4 + this.matchLen;
    for (let q = this.tlvs; q + 4 <= end;) {
      const c = b.readUInt16BE(q);
      const f = b[q + 2]! >> 1;
      const n = b[q + 3]!;
      if (c === cls && f === field) return q + 4;
      q += 4 + n;
    }
    return -1;
  }

  /** The reply part holding the current entry (for `findTlv` offsets). */
  get buffer(): Buffer {
    return this.buf;
  }

  entry(): FlowStatsEntry {
    return {
      tableId: this.tableId, priority: this.priority, idleTimeout: this.idleTimeout, hardTimeout: this.hardTimeout,
      flags: this.flags, importance: this.importance, cookie: this.cookie, durationS: this.durationS,
      ...(this.idleAgeS !== undefined ? { idleAgeS: this.idleAgeS } : {}),
      packets: this.packets, bytes: this.bytes, match: this.matchFields(),
    };
  }
}

/** The raw FLOW_DESC reply parts (for a FlowDescCursor). */
export function dumpFlowDesc(conn: OpenFlowConnection, f: FlowStatsFilter = {}): Promise<Buffer[]> {
  return conn.multipart(OFPMP.FLOW_DESC, flowStatsRequest(f), { what: `flow stats request${f.tableId !== undefined ? ` table=${f.tableId}` : ''}${f.cookieMask ? ` cookie=0x${(f.cookie ?? 0n).toString(16)}/0x${f.cookieMask.toString(16)}` : ''}` });
}

/** Every flow matching the filter, decoded. */
export async function dumpFlowStats(conn: OpenFlowConnection, f: FlowStatsFilter = {}): Promise<FlowStatsEntry[]> {
  const c = new FlowDescCursor(await dumpFlowDesc(conn, f));
  const out: FlowStatsEntry[] = [];
  while (c.next()) out.push(c.entry());
  return out;
}

export interface TableStats {
  tableId: number;
  /** Flows in the table. */
  activeCount: number;
  lookupCount: number;
  matchedCount: number;
}

/** OFPMP_TABLE_STATS: per table, its flow count and lookups (OVS lists every table). */
export async function dumpTableStats(conn: OpenFlowConnection): Promise<TableStats[]> {
  const out: TableStats[] = [];
  for (const part of await conn.multipart(OFPMP.TABLE_STATS, Buffer.alloc(0), { what: 'table stats request' })) {
    for (let p = 0; p + 24 <= part.length; p += 24) {
      out.push({ tableId: part[p]!, activeCount: part.readUInt32BE(p + 4), lookupCount: u64(part, p + 8), matchedCount: u64(part, p + 16) });
    }
  }
  return out;
}

export interface PortStats {
  portNo: number;
  durationS: number;
  rxPackets: number;
  txPackets: number;
  rxBytes: number;
  txBytes: number;
  rxDropped: number;
  txDropped: number;
  rxErrors: number;
  txErrors: number;
}

/** OFPMP_PORT_STATS for one port (OpenFlow 1.1+ number) or all (OFPP_ANY). */
export async function dumpPortStats(conn: OpenFlowConnection, port = 0xffffffff): Promise<PortStats[]> {
  const req = Buffer.alloc(8);
  req.writeUInt32BE(port >>> 0, 0);
  const out: PortStats[] = [];
  for (const part of await conn.multipart(OFPMP.PORT_STATS, req, { what: `port stats request port=${port}` })) {
    // ofp14_port_stats: length(2) pad(2) port_no(4) duration_sec(4) duration_nsec(4)
    // rx_packets tx_packets rx_bytes tx_bytes rx_dropped tx_dropped rx_errors tx_errors (8 each), properties.
    for (let p = 0; p + 80 <= part.length;) {
      const len = part.readUInt16BE(p);
      if (len < 80) throw new Error(`port stats entry of length ${len}`);
      out.push({
        portNo: part.readUInt32BE(p + 4), durationS: part.readUInt32BE(p + 8) + part.readUInt32BE(p + 12) / 1e9,
        rxPackets: u64(part, p + 16), txPackets: u64(part, p + 24), rxBytes: u64(part, p + 32), txBytes: u64(part, p + 40),
        rxDropped: u64(part, p + 48), txDropped: u64(part, p + 56), rxErrors: u64(part, p + 64), txErrors: u64(part, p + 72),
      });
      p += len;
    }
  }
  return out;
}
