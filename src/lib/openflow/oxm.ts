// Reading OXM/NXM TLVs (the match of a flow stats entry, the metadata of a packet-in) into named
// fields, and writing the few Seine sends itself (a packet-out's in_port). A TLV is a 32-bit header
// (class 16 bits, field 7, has-mask 1, payload length 8), the value, then the mask when present;
// the experimenter class (0xffff) puts a 32-bit experimenter id after the header. OpenFlow 1.5
// carries registers as 64-bit xregs (OXM class 0x8001): they are split back into reg(2i) (high
// half) and reg(2i+1) (low half), so callers see the names OVS prints. Names are OVS's printing
// names (dl_src, nw_src, tp_dst …); numbers from include/openvswitch/meta-flow.h.

export type OxmKind = 'int' | 'mac' | 'ipv4' | 'ipv6' | 'port' | 'ct_state';

export interface OxmField {
  name: string;
  kind: OxmKind;
  value: Buffer;
  /** Present when the TLV had a mask (a wildcarded field). */
  mask?: Buffer;
}

const OXM_BASIC = 0x8000;
const PACKET_REGS = 0x8001;
const NXM0 = 0x0000;
const NXM1 = 0x0001;
const EXPERIMENTER = 0xffff;

const FIELDS = new Map<number, [string, OxmKind]>();
const key = (cls: number, field: number) => cls * 128 + field;
const add = (cls: number, field: number, name: string, kind: OxmKind = 'int') => FIELDS.set(key(cls, field), [name, kind]);

add(OXM_BASIC, 0, 'in_port', 'port');
add(OXM_BASIC, 2, 'metadata');
add(OXM_BASIC, 3, 'dl_dst', 'mac');
add(OXM_BASIC, 4, 'dl_src', 'mac');
add(OXM_BASIC, 5, 'dl_type');
add(OXM_BASIC, 6, 'vlan_vid');
add(OXM_BASIC, 7, 'vlan_pcp');
add(OXM_BASIC, 8, 'ip_dscp');
add(OXM_BASIC, 9, 'nw_ecn');
add(OXM_BASIC, 10, 'nw_proto');
add(OXM_BASIC, 11, 'nw_src', 'ipv4');
add(OXM_BASIC, 12, 'nw_dst', 'ipv4');
add(OXM_BASIC, 13, 'tcp_src');
add(OXM_BASIC, 14, 'tcp_dst');
add(OXM_BASIC, 15, 'udp_src');
add(OXM_BASIC, 16, 'udp_dst');
add(OXM_BASIC, 17, 'sctp_src');
add(OXM_BASIC, 18, 'sctp_dst');
add(OXM_BASIC, 19, 'icmp_type');
add(OXM_BASIC, 20, 'icmp_code');
add(OXM_BASIC, 21, 'arp_op');
add(OXM_BASIC, 22, 'arp_spa', 'ipv4');
add(OXM_BASIC, 23, 'arp_tpa', 'ipv4');
add(OXM_BASIC, 24, 'arp_sha', 'mac');
add(OXM_BASIC, 25, 'arp_tha', 'mac');
add(OXM_BASIC, 26, 'ipv6_src', 'ipv6');
add(OXM_BASIC, 27, 'ipv6_dst', 'ipv6');
add(OXM_BASIC, 28, 'ipv6_label');
add(OXM_BASIC, 29, 'icmpv6_type');
add(OXM_BASIC, 30, 'icmpv6_code');
add(OXM_BASIC, 38, 'tun_id');
add(OXM_BASIC, 42, 'tcp_flags');
add(OXM_BASIC, 44, 'packet_type');
add(NXM0, 0, 'in_port', 'port');
add(NXM0, 1, 'dl_dst', 'mac');
add(NXM0, 2, 'dl_src', 'mac');
add(NXM0, 3, 'dl_type');
add(NXM0, 5, 'nw_tos');
add(NXM0, 6, 'nw_proto');
add(NXM0, 7, 'nw_src', 'ipv4');
add(NXM0, 8, 'nw_dst', 'ipv4');
add(NXM0, 9, 'tcp_src');
add(NXM0, 10, 'tcp_dst');
add(NXM0, 11, 'udp_src');
add(NXM0, 12, 'udp_dst');
add(NXM0, 13, 'icmp_type');
add(NXM0, 14, 'icmp_code');
add(NXM0, 15, 'arp_op');
add(NXM0, 16, 'arp_spa', 'ipv4');
add(NXM0, 17, 'arp_tpa', 'ipv4');
for (let i = 0; i < 16; i++) add(NXM1, i, `reg${i}`);
add(NXM1, 16, 'tun_id');
add(NXM1, 17, 'arp_sha', 'mac');
add(NXM1, 18, 'arp_tha', 'mac');
add(NXM1, 19, 'ipv6_src', 'ipv6');
add(NXM1, 20, 'ipv6_dst', 'ipv6');
add(NXM1, 21, 'icmpv6_type');
add(NXM1, 22, 'icmpv6_code');
add(NXM1, 27, 'ipv6_label');
add(NXM1, 28, 'nw_ecn');
add(NXM1, 29, 'nw_ttl');
add(NXM1, 31, 'tun_src', 'ipv4');
add(NXM1, 32, 'tun_dst', 'ipv4');
add(NXM1, 33, 'pkt_mark');
add(NXM1, 34, 'tcp_flags');
add(NXM1, 37, 'conj_id');
add(NXM1, 40, 'tun_flags');
add(NXM1, 105, 'ct_state', 'ct_state');
add(NXM1, 106, 'ct_zone');
add(NXM1, 107, 'ct_mark');
add(NXM1, 108, 'ct_label');
add(NXM1, 109, 'tun_ipv6_src', 'ipv6');
add(NXM1, 110, 'tun_ipv6_dst', 'ipv6');
for (let i = 0; i < 4; i++) add(NXM1, 111 + i, `xxreg${i}`);
add(NXM1, 119, 'ct_nw_proto');
add(NXM1, 120, 'ct_nw_src', 'ipv4');
add(NXM1, 121, 'ct_nw_dst', 'ipv4');
add(NXM1, 122, 'ct_ipv6_src', 'ipv6');
add(NXM1, 123, 'ct_ipv6_dst', 'ipv6');
add(NXM1, 124, 'ct_tp_src');
add(NXM1, 125, 'ct_tp_dst');

/** Decodes back-to-back TLVs; unknown fields keep a `class:field` name so nothing is lost silently. */
export function decodeOxm(buf: Buffer): OxmField[] {
  const out: OxmField[] = [];
  let pos = 0;
  while (pos + 4 <= buf.length) {
    const cls = buf.readUInt16BE(pos);
    const field = buf[pos + 2]! >> 1;
    const hasMask = (buf[pos + 2]! & 1) === 1;
    let len = buf[pos + 3]!;
    let start = pos + 4;
    if (cls === EXPERIMENTER) {
      start += 4;
      len -= 4;
    }
    const end = start + len;
    if (len < 0 || end > buf.length) throw new Error(`OXM TLV at offset ${pos} (class 0x${cls.toString(16)} field ${field}) runs past the end`);
    const width = hasMask ? len / 2 : len;
    const value = buf.subarray(start, start + width);
    const mask = hasMask ? buf.subarray(start + width, end) : undefined;
    pos = end;
    if (cls === PACKET_REGS && width === 8) {
      // xreg i = reg(2i) << 32 | reg(2i+1): a half whose mask is zero was not matched.
      for (const [half, off] of [[0, 0], [1, 4]] as const) {
        const m = mask?.subarray(off, off + 4);
        if (m && m.readUInt32BE(0) === 0) continue;
        const f: OxmField = { name: `reg${field * 2 + half}`, kind: 'int', value: value.subarray(off, off + 4) };
        if (m && m.readUInt32BE(0) !== 0xffffffff) f.mask = m;
        out.push(f);
      }
      continue;
    }
    const known = cls === EXPERIMENTER ? undefined : FIELDS.get(key(cls, field));
    out.push({ name: known?.[0] ?? `0x${cls.toString(16)}:${field}`, kind: known?.[1] ?? 'int', value, ...(mask ? { mask } : {}) });
  }
  return out;
}

/**
 * An ofp_match (type OFPMT_OXM, length, TLVs, padding to 8) at `offset`: its fields and the
 * padded length it occupies.
 */
export function decodeMatch(buf: Buffer, offset = 0): { fields: OxmField[]; paddedLength: number } {
  const len = buf.readUInt16BE(offset + 2);
  if (buf.readUInt16BE(offset) !== 1 || len < 4) throw new Error(`ofp_match of type ${buf.readUInt16BE(offset)} and length ${len}: expected an OXM match`);
  return { fields: decodeOxm(buf.subarray(offset + 4, offset + len)), paddedLength: (len + 7) & ~7 };
}

/** An ofp_match carrying only OXM_OF_IN_PORT (a packet-out's metadata). */
export function inPortMatch(port: number): Buffer {
  const m = Buffer.alloc(16);
  m.writeUInt16BE(1, 0);
  m.writeUInt16BE(12, 2);
  m.writeUInt32BE(0x80000004, 4); // OXM_OF_IN_PORT, 4 bytes
  m.writeUInt32BE(port >>> 0, 8);
  return m;
}

/** A value as an unsigned integer (fields up to 16 bytes). */
export function oxmBigInt(b: Buffer): bigint {
  let v = 0n;
  for (const byte of b) v = (v << 8n) | BigInt(byte);
  return v;
}

/** A value of up to 6 bytes as a number. */
export function oxmNumber(b: Buffer): number {
  let v = 0;
  for (const byte of b) v = v * 256 + byte;
  return v;
}

export const formatMac = (b: Buffer): string => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
export const formatIpv4 = (b: Buffer): string => `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;

export function formatIpv6(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  // RFC 5952: the longest run (≥ 2) of zero groups becomes '::'.
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i >= 2) [best, bestLen] = [i, j - i];
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

const CT_STATES = ['new', 'est', 'rel', 'rpl', 'inv', 'trk', 'snat', 'dnat'];
const RESERVED_PORTS: Record<number, string> = { 0xfff8: 'IN_PORT', 0xfff9: 'TABLE', 0xfffa: 'NORMAL', 0xfffb: 'FLOOD', 0xfffc: 'ALL', 0xfffd: 'CONTROLLER', 0xfffe: 'LOCAL', 0xffff: 'ANY' };

/** A port number (16 or 32 bits) as OVS prints it: a number, or a reserved port's name. */
export function formatPort(b: Buffer): number | string {
  let p = oxmNumber(b);
  if (b.length === 4 && p >= 0xffffff00) p -= 0xffff0000; // OF1.1+ reserved ports → OF1.0 numbering
  return RESERVED_PORTS[p] ?? p;
}

/** The value as OVS prints it in a flow or packet-in: hex for integers, dotted/colon forms for addresses. */
export function formatOxmValue(f: OxmField): string {
  switch (f.kind) {
    case 'mac': return formatMac(f.value) + (f.mask ? `/${formatMac(f.mask)}` : '');
    case 'ipv4': return formatIpv4(f.value) + (f.mask ? `/${formatIpv4(f.mask)}` : '');
    case 'ipv6': return formatIpv6(f.value) + (f.mask ? `/${formatIpv6(f.mask)}` : '');
    case 'port': return String(formatPort(f.value));
    case 'ct_state': {
      const v = oxmNumber(f.value);
      if (!f.mask) return CT_STATES.filter((_, i) => v & (1 << i)).join('|') || '0';
      const m = oxmNumber(f.mask);
      return CT_STATES.map((n, i) => (m & (1 << i) ? `${v & (1 << i) ? '+' : '-'}${n}` : '')).join('');
    }
    default: {
      const v = `0x${oxmBigInt(f.value).toString(16)}`;
      return f.mask ? `${v}/0x${oxmBigInt(f.mask).toString(16)}` : v;
    }
  }
}
