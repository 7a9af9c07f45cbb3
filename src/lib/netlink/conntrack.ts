// ctnetlink (nfnetlink subsystem 1) messages: the conntrack table dump request, the global
// count request and the decoder of IPCTNL_MSG_CT_NEW replies; nothing project-specific.
//
//   message   = nlmsghdr (16 bytes, host order: len, type, flags, seq, pid)
//               + nfgenmsg (4 bytes: family, version 0, res_id big-endian)
//               + attributes (nlattr: u16 len, u16 type, payload, padded to 4 bytes)
//   type      = subsystem << 8 | message (CTNETLINK = 1: NEW 0, GET 1, GET_STATS 5)
// Attribute payloads are big-endian (NLA_F_NET_BYTEORDER is implied by ctnetlink), except
// CTA_LABELS, the kernel's raw bitmap of unsigned longs (host order); the nested and byte-order
// flag bits are masked off the type. Decoding is table-driven: one handler per attribute type per
// nesting level, unknown types skipped, so a newer kernel's attributes cost nothing. It walks the
// message in place rather than through message.ts's decodeAttrs (a Map and a payload Buffer per
// attribute): a poll decodes 10k entries of ~25 attributes each.
import { isIPv4, isIPv6 } from 'node:net';
import { attr, attrNested, decodeIp, encodeIp, encodeMessage, errnoName, NLM_F, NLMSG_ERROR } from './message.js';

export const NFNL_SUBSYS_CTNETLINK = 1;
export const IPCTNL_MSG_CT_NEW = 0;
export const IPCTNL_MSG_CT_GET = 1;
export const IPCTNL_MSG_CT_GET_STATS = 5;
export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_INET6 = 10;
const NLA_TYPE_MASK = 0x3fff; // ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER)

/** enum ctattr_type (linux/netfilter/nfnetlink_conntrack.h). */
export const CTA = {
  TUPLE_ORIG: 1, TUPLE_REPLY: 2, STATUS: 3, PROTOINFO: 4, TIMEOUT: 7, MARK: 8, COUNTERS_ORIG: 9, COUNTERS_REPLY: 10,
  USE: 11, ID: 12, ZONE: 18, TIMESTAMP: 20, MARK_MASK: 21, LABELS: 22,
} as const;
const CTA_TUPLE = { IP: 1, PROTO: 2, ZONE: 3 } as const;
const CTA_IP = { V4_SRC: 1, V4_DST: 2, V6_SRC: 3, V6_DST: 4 } as const;
const CTA_PROTO = { NUM: 1, SRC_PORT: 2, DST_PORT: 3, ICMP_ID: 4, ICMP_TYPE: 5, ICMP_CODE: 6, ICMPV6_ID: 7, ICMPV6_TYPE: 8, ICMPV6_CODE: 9 } as const;
const CTA_COUNTERS = { PACKETS: 1, BYTES: 2, PACKETS32: 3, BYTES32: 4 } as const;
const CTA_TIMESTAMP_START = 1;
const CTA_PROTOINFO_TCP = 1;
const CTA_PROTOINFO_TCP_STATE = 1;
const CTA_STATS_GLOBAL = { ENTRIES: 1, MAX_ENTRIES: 2 } as const;

/** enum tcp_conntrack, by value (the kernel's tcp_conntrack_names). */
export const TCP_STATE_NAMES = ['NONE', 'SYN_SENT', 'SYN_RECV', 'ESTABLISHED', 'FIN_WAIT', 'CLOSE_WAIT', 'LAST_ACK', 'TIME_WAIT', 'CLOSE', 'SYN_SENT2'] as const;

/** IPS_* status bits worth naming (linux/netfilter/nf_conntrack_common.h). */
export const IPS = { EXPECTED: 1 << 0, SEEN_REPLY: 1 << 1, ASSURED: 1 << 2, CONFIRMED: 1 << 3, SRC_NAT: 1 << 4, DST_NAT: 1 << 5, DYING: 1 << 9, OFFLOAD: 1 << 14 } as const;

export interface CtTuple {
  src: string;
  dst: string;
  /** Transport ports; 0 for ICMP (its id, type and code are on the entry). */
  sport: number;
  dport: number;
}

/** Per direction, as conntrack counts them (IP bytes). */
export interface CtCounters {
  packets: number;
  octets: number;
  reversePackets: number;
  reverseOctets: number;
}

/**
 * One connection of the kernel table, as ctnetlink reports it. Every field is present on every
 * entry (undefined when the kernel did not send it), so all entries share one shape.
 */
export interface CtEntry {
  family: number;
  protocol: number;
  orig: CtTuple;
  reply: CtTuple;
  /** The original direction's ICMP / ICMPv6 echo id, type and code. */
  icmpId?: number;
  icmpType?: number;
  icmpCode?: number;
  zone: number;
  mark: number;
  /** ct_label, 128 bits (bit n of the kernel's bitmap is bit n here). */
  labels: bigint;
  /** IPS_* bits. */
  status: number;
  /** Seconds until the kernel forgets the entry. */
  timeout?: number;
  id?: number;
  /** TCP state name (TCP_STATE_NAMES); '' for other protocols. */
  tcpState: string;
  /** Absent without net.netfilter.nf_conntrack_acct=1. */
  counters?: CtCounters;
  /** Unix seconds the connection started; absent without net.netfilter.nf_conntrack_timestamp=1. */
  startSeconds?: number;
}

// ---- encoding ----

const be8 = (v: number) => Buffer.from([v & 0xff]);
const be16 = (v: number) => { const b = Buffer.alloc(2); b.writeUInt16BE(v); return b; };
const be32 = (v: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(v >>> 0); return b; };

/** nlmsghdr + nfgenmsg (family, version 0, res_id 0) + attributes of one ctnetlink message; the socket sets seq and pid. */
export function ctMessage(msg: number, flags: number, family: number, attrs: Buffer[]): Buffer {
  return encodeMessage((NFNL_SUBSYS_CTNETLINK << 8) | msg, flags, Buffer.concat([Buffer.from([family, 0, 0, 0]), ...attrs]));
}

/**
 * The dump of the table (IPCTNL_MSG_CT_GET, NLM_F_DUMP) of one family (AF_UNSPEC: all). With
 * `zone` the kernel skips other zones itself (CTA_ZONE as a dump filter; older kernels ignore
 * it, so callers still check the zone); `mark` filters on mark & mask in the kernel.
 */
export function encodeDumpRequest(o: { family?: number; zone?: number; mark?: { value: number; mask: number } } = {}): Buffer {
  const attrs: Buffer[] = [];
  if (o.zone !== undefined) attrs.push(attr(CTA.ZONE, be16(checkUint(o.zone, 0xffff, 'zone'))));
  if (o.mark) attrs.push(attr(CTA.MARK, be32(checkUint(o.mark.value, 0xffffffff, 'mark.value'))), attr(CTA.MARK_MASK, be32(checkUint(o.mark.mask, 0xffffffff, 'mark.mask'))));
  return ctMessage(IPCTNL_MSG_CT_GET, NLM_F.REQUEST | NLM_F.DUMP, o.family ?? AF_INET, attrs);
}

/** The table's entry count and bound (what `conntrack -C` and the sysctls read), acknowledged. */
export const encodeStatsRequest = () => ctMessage(IPCTNL_MSG_CT_GET_STATS, NLM_F.REQUEST | NLM_F.ACK, AF_UNSPEC, []);

/** The fields of a connection to create (IPCTNL_MSG_CT_NEW, as `conntrack -I`), for tests and tools. */
export interface CtCreate {
  family?: number;
  protocol: number;
  orig: CtTuple;
  reply: CtTuple;
  icmp?: { id: number; type: number; code: number; replyType: number };
  zone?: number;
  mark?: number;
  labels?: bigint;
  status?: number;
  timeout: number;
  tcpState?: number;
}

export function encodeCreateRequest(c: CtCreate): Buffer {
  const family = c.family ?? AF_INET;
  const addr = (s: string) => {
    if (family === AF_INET ? !isIPv4(s) : !isIPv6(s)) throw new RangeError(`address: ${s} is not an ${family === AF_INET ? 'IPv4' : 'IPv6'} address`);
    return encodeIp(s);
  };
  const v6 = family === AF_INET6;
  const ports = (t: CtTuple) => [attr(CTA_PROTO.SRC_PORT, be16(checkUint(t.sport, 0xffff, 'sport'))), attr(CTA_PROTO.DST_PORT, be16(checkUint(t.dport, 0xffff, 'dport')))];
  const icmp = (i: NonNullable<CtCreate['icmp']>, reply: boolean) => [
    attr(v6 ? CTA_PROTO.ICMPV6_ID : CTA_PROTO.ICMP_ID, be16(i.id)),
    attr(v6 ? CTA_PROTO.ICMPV6_TYPE : CTA_PROTO.ICMP_TYPE, be8(reply ? i.replyType : i.type)),
    attr(v6 ? CTA_PROTO.ICMPV6_CODE : CTA_PROTO.ICMP_CODE, be8(i.code)),
  ];
  const tuple = (type: number, t: CtTuple, reply: boolean) => attrNested(type, [
    attrNested(CTA_TUPLE.IP, [attr(v6 ? CTA_IP.V6_SRC : CTA_IP.V4_SRC, addr(t.src)), attr(v6 ? CTA_IP.V6_DST : CTA_IP.V4_DST, addr(t.dst))]),
    attrNested(CTA_TUPLE.PROTO, [attr(CTA_PROTO.NUM, be8(c.protocol)), ...(c.icmp ? icmp(c.icmp, reply) : ports(t))]),
  ]);
  const attrs = [tuple(CTA.TUPLE_ORIG, c.orig, false), tuple(CTA.TUPLE_REPLY, c.reply, true), attr(CTA.TIMEOUT, be32(checkUint(c.timeout, 0xffffffff, 'timeout')))];
  if (c.status !== undefined) attrs.push(attr(CTA.STATUS, be32(c.status)));
  if (c.mark !== undefined) attrs.push(attr(CTA.MARK, be32(checkUint(c.mark, 0xffffffff, 'mark'))));
  if (c.zone !== undefined) attrs.push(attr(CTA.ZONE, be16(checkUint(c.zone, 0xffff, 'zone'))));
  if (c.tcpState !== undefined) attrs.push(attrNested(CTA.PROTOINFO, [attrNested(CTA_PROTOINFO_TCP, [attr(CTA_PROTOINFO_TCP_STATE, be8(c.tcpState))])]));
  if (c.labels !== undefined) {
    if (c.labels < 0n || c.labels >> 128n) throw new RangeError(`labels: ${c.labels} does not fit 128 bits`);
    const b = Buffer.alloc(16);
    b.writeBigUInt64LE(c.labels & 0xffff_ffff_ffff_ffffn, 0); // the kernel's bitmap, little-endian words (see labels())
    b.writeBigUInt64LE(c.labels >> 64n, 8);
    attrs.push(attr(CTA.LABELS, b));
  }
  return ctMessage(IPCTNL_MSG_CT_NEW, NLM_F.REQUEST | NLM_F.ACK | NLM_F.CREATE | NLM_F.EXCL, family, attrs);
}

function checkUint(v: number, max: number, field: string): number {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`${field}: ${v} is not an integer in 0..${max}`);
  return v;
}

// ---- decoding ----
// Handlers get the entry and which direction the enclosing attribute is about, so decoding
// allocates nothing but the entry, its tuples, counters and strings (10k entries per poll).

type Handler = (e: CtEntry, b: Buffer, off: number, len: number, reply: boolean) => void;

/** Calls table[type] for each attribute in b[off, end); unknown types are skipped. */
function walk(table: readonly (Handler | undefined)[], e: CtEntry, b: Buffer, off: number, end: number, reply: boolean): void {
  while (off + 4 <= end) {
    const len = b.readUInt16LE(off);
    if (len < 4 || off + len > end) throw new Error(`ctnetlink: bad attribute length ${len} at byte ${off}`);
    const h = table[b.readUInt16LE(off + 2) & NLA_TYPE_MASK];
    if (h !== undefined) h(e, b, off + 4, len - 4, reply);
    off += (len + 3) & ~3;
  }
}

function handlers(entries: [number, Handler][]): (Handler | undefined)[] {
  const t: (Handler | undefined)[] = Array.from({ length: Math.max(...entries.map(([k]) => k)) + 1 }, () => undefined);
  for (const [k, h] of entries) t[k] = h;
  return t;
}
const nested = (table: readonly (Handler | undefined)[]): Handler => (e, b, o, l, reply) => walk(table, e, b, o, o + l, reply);

// Addresses repeat across a box's connections (its pods, Services, peers): their text is kept
// by value, so a dump formats each once and the entries share the strings.
const V4_TEXT = new Map<number, string>();
const V4_TEXT_MAX = 65_536;
function ipv4(b: Buffer, o: number): string {
  const n = b.readUInt32BE(o);
  let s = V4_TEXT.get(n);
  if (s === undefined) {
    if (V4_TEXT.size >= V4_TEXT_MAX) V4_TEXT.clear();
    V4_TEXT.set(n, (s = `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`));
  }
  return s;
}

const ipv6 = (b: Buffer, o: number) => decodeIp(b.subarray(o, o + 16));

const tuple = (e: CtEntry, reply: boolean) => (reply ? e.reply : e.orig);
const IP = handlers([
  [CTA_IP.V4_SRC, (e, b, o, _l, r) => { tuple(e, r).src = ipv4(b, o); }],
  [CTA_IP.V4_DST, (e, b, o, _l, r) => { tuple(e, r).dst = ipv4(b, o); }],
  [CTA_IP.V6_SRC, (e, b, o, _l, r) => { tuple(e, r).src = ipv6(b, o); }],
  [CTA_IP.V6_DST, (e, b, o, _l, r) => { tuple(e, r).dst = ipv6(b, o); }],
]);

// ICMP id, type and code: the original direction's (the reply's type is the echo reply).
const icmpId: Handler = (e, b, o, _l, r) => { if (!r) e.icmpId = b.readUInt16BE(o); };
const icmpType: Handler = (e, b, o, _l, r) => { if (!r) e.icmpType = b[o]!; };
const icmpCode: Handler = (e, b, o, _l, r) => { if (!r) e.icmpCode = b[o]!; };
const PROTO = handlers([
  [CTA_PROTO.NUM, (e, b, o, _l, r) => { if (!r) e.protocol = b[o]!; }],
  [CTA_PROTO.SRC_PORT, (e, b, o, _l, r) => { tuple(e, r).sport = b.readUInt16BE(o); }],
  [CTA_PROTO.DST_PORT, (e, b, o, _l, r) => { tuple(e, r).dport = b.readUInt16BE(o); }],
  [CTA_PROTO.ICMP_ID, icmpId], [CTA_PROTO.ICMP_TYPE, icmpType], [CTA_PROTO.ICMP_CODE, icmpCode],
  [CTA_PROTO.ICMPV6_ID, icmpId], [CTA_PROTO.ICMPV6_TYPE, icmpType], [CTA_PROTO.ICMPV6_CODE, icmpCode],
]);

const TUPLE = handlers([
  [CTA_TUPLE.IP, nested(IP)],
  [CTA_TUPLE.PROTO, nested(PROTO)],
  // A zone that applies to one direction only; CTA_ZONE (both directions) is the usual one.
  [CTA_TUPLE.ZONE, (e, b, o, _l, r) => { if (!r) e.zone = b.readUInt16BE(o); }],
]);

/** 64-bit big-endian value as a number (exact below 2^53: 9 PB of counted bytes). */
const be64 = (b: Buffer, o: number) => b.readUInt32BE(o) * 0x1_0000_0000 + b.readUInt32BE(o + 4);
const counters = (e: CtEntry) => (e.counters ??= { packets: 0, octets: 0, reversePackets: 0, reverseOctets: 0 });
const COUNTERS = handlers([
  [CTA_COUNTERS.PACKETS, (e, b, o, _l, r) => { if (r) counters(e).reversePackets = be64(b, o); else counters(e).packets = be64(b, o); }],
  [CTA_COUNTERS.BYTES, (e, b, o, _l, r) => { if (r) counters(e).reverseOctets = be64(b, o); else counters(e).octets = be64(b, o); }],
  [CTA_COUNTERS.PACKETS32, (e, b, o, _l, r) => { if (r) counters(e).reversePackets = b.readUInt32BE(o); else counters(e).packets = b.readUInt32BE(o); }],
  [CTA_COUNTERS.BYTES32, (e, b, o, _l, r) => { if (r) counters(e).reverseOctets = b.readUInt32BE(o); else counters(e).octets = b.readUInt32BE(o); }],
]);

// Nanoseconds since the epoch, to whole seconds without a BigInt (2^32 ns = 4.294967296 s).
const TIMESTAMP = handlers([[CTA_TIMESTAMP_START, (e, b, o) => { e.startSeconds = Math.floor(b.readUInt32BE(o) * 4.294967296 + b.readUInt32BE(o + 4) / 1e9); }]]);
const TCP = handlers([[CTA_PROTOINFO_TCP_STATE, (e, b, o) => { e.tcpState = TCP_STATE_NAMES[b[o]!] ?? String(b[o]); }]]);
const PROTOINFO = handlers([[CTA_PROTOINFO_TCP, nested(TCP)]]);

/**
 * CTA_LABELS: the kernel's bitmap of unsigned longs in host order; on the little-endian hosts
 * Seine runs on (amd64, arm64, armhf; netlink headers are read little-endian throughout) that is
 * one little-endian 128-bit number, bit n → bit n. Zero words make no BigInt (most entries).
 */
function labels(b: Buffer, o: number, l: number): bigint {
  let v = 0n;
  for (let i = l - 4; i >= 0; i -= 4) {
    const w = b.readUInt32LE(o + i);
    if (v !== 0n) v <<= 32n;
    if (w !== 0) v |= BigInt(w);
  }
  return v;
}

const TOP = handlers([
  [CTA.TUPLE_ORIG, (e, b, o, l) => walk(TUPLE, e, b, o, o + l, false)],
  [CTA.TUPLE_REPLY, (e, b, o, l) => walk(TUPLE, e, b, o, o + l, true)],
  [CTA.STATUS, (e, b, o) => { e.status = b.readUInt32BE(o); }],
  [CTA.PROTOINFO, nested(PROTOINFO)],
  [CTA.TIMEOUT, (e, b, o) => { e.timeout = b.readUInt32BE(o); }],
  [CTA.MARK, (e, b, o) => { e.mark = b.readUInt32BE(o); }],
  [CTA.COUNTERS_ORIG, (e, b, o, l) => walk(COUNTERS, e, b, o, o + l, false)],
  [CTA.COUNTERS_REPLY, (e, b, o, l) => walk(COUNTERS, e, b, o, o + l, true)],
  [CTA.ID, (e, b, o) => { e.id = b.readUInt32BE(o); }],
  [CTA.ZONE, (e, b, o) => { e.zone = b.readUInt16BE(o); }],
  [CTA.TIMESTAMP, nested(TIMESTAMP)],
  [CTA.LABELS, (e, b, o, l) => { if (l % 4 === 0) e.labels = labels(b, o, l); }],
]);

/**
 * One reply message (nlmsghdr first) → the connection it reports; undefined for anything that
 * is not a ctnetlink NEW message (NLMSG_DONE, …). An NLMSG_ERROR with an errno throws.
 */
export function decodeCtMessage(b: Buffer): CtEntry | undefined {
  if (b.length < 16) throw new Error(`ctnetlink: message of ${b.length} bytes is shorter than its header`);
  const len = b.readUInt32LE(0);
  if (len > b.length || len < 16) throw new Error(`ctnetlink: message length ${len} does not fit its ${b.length} bytes`);
  const type = b.readUInt16LE(4);
  if (type === NLMSG_ERROR) {
    const errno = -b.readInt32LE(16);
    if (errno) throw new Error(`ctnetlink: ${errnoName(errno)} (errno ${errno})`);
    return undefined;
  }
  if (type !== ((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW) || len < 20) return undefined;
  const e: CtEntry = {
    family: b[16]!, protocol: 0, orig: { src: '', dst: '', sport: 0, dport: 0 }, reply: { src: '', dst: '', sport: 0, dport: 0 },
    icmpId: undefined, icmpType: undefined, icmpCode: undefined, zone: 0, mark: 0, labels: 0n, status: 0,
    timeout: undefined, id: undefined, tcpState: '', counters: undefined, startSeconds: undefined,
  };
  walk(TOP, e, b, 20, len, false);
  return e;
}

/** Every connection in a dump's reply messages; `zone` keeps only that zone's. */
export function decodeCtDump(msgs: readonly Buffer[], zone?: number): CtEntry[] {
  const out: CtEntry[] = [];
  for (const m of msgs) {
    const e = decodeCtMessage(m);
    if (e && (zone === undefined || e.zone === zone)) out.push(e);
  }
  return out;
}

/** The reply to encodeStatsRequest: entries and bound (max undefined on kernels without it). */
export function decodeStats(msgs: readonly Buffer[]): { total: number; max?: number } {
  for (const b of msgs) {
    if (b.length < 20 || b.readUInt16LE(4) !== ((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET_STATS)) continue;
    const s: { total: number; max?: number } = { total: 0 };
    for (let off = 20, end = b.readUInt32LE(0); off + 8 <= end; off += (b.readUInt16LE(off) + 3) & ~3) {
      const type = b.readUInt16LE(off + 2) & NLA_TYPE_MASK;
      if (b.readUInt16LE(off) < 8) break;
      if (type === CTA_STATS_GLOBAL.ENTRIES) s.total = b.readUInt32BE(off + 4);
      if (type === CTA_STATS_GLOBAL.MAX_ENTRIES) s.max = b.readUInt32BE(off + 4);
    }
    return s;
  }
  throw new Error('ctnetlink: no IPCTNL_MSG_CT_GET_STATS reply');
}
