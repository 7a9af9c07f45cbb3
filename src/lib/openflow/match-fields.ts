// The header fields Seine's flows name, as a table: each OVS name (and its NXM/OXM alias)
// with its width, its value syntax and the two headers OVS puts on the wire for it — the
// OpenFlow 1.5 one (matches, set_field, copy_field: OXM when OpenFlow has the field, else the
// Nicira NXM) and the NXM one (learn specs, output:<field>, ct zone from a field). Numbers
// from OVS's include/openvswitch/meta-flow.h. A name not here is refused with its token.

/** A growable big-endian byte writer (one per message). */
export class OfWriter {
  buf: Buffer;
  len = 0;
  constructor(size = 256) {
    this.buf = Buffer.allocUnsafe(size);
  }
  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }
  u8(v: number): void {
    this.room(1);
    this.buf[this.len++] = v & 0xff;
  }
  u16(v: number): void {
    this.room(2);
    this.buf.writeUInt16BE(v & 0xffff, this.len);
    this.len += 2;
  }
  u32(v: number): void {
    this.room(4);
    this.buf.writeUInt32BE(v >>> 0, this.len);
    this.len += 4;
  }
  u64(v: bigint): void {
    this.room(8);
    this.buf.writeBigUInt64BE(BigInt.asUintN(64, v), this.len);
    this.len += 8;
  }
  /** `n` bytes of a big-endian unsigned value. */
  uint(v: bigint, n: number): void {
    this.room(n);
    if (n <= 4) {
      const x = Number(v);
      for (let i = n - 1; i >= 0; i--) this.buf[this.len + n - 1 - i] = (x / 2 ** (8 * i)) & 0xff;
    } else {
      for (let i = n - 1; i >= 0; i--) this.buf[this.len + n - 1 - i] = Number((v >> BigInt(8 * i)) & 0xffn);
    }
    this.len += n;
  }
  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  zeros(n: number): void {
    this.room(n);
    this.buf.fill(0, this.len, this.len + n);
    this.len += n;
  }
  /** Zero-pads from `start` to a multiple of 8. */
  pad8(start: number): void {
    const r = (this.len - start) % 8;
    if (r) this.zeros(8 - r);
  }
  setU16(at: number, v: number): void {
    this.buf.writeUInt16BE(v, at);
  }
  setU32(at: number, v: number): void {
    this.buf.writeUInt32BE(v >>> 0, at);
  }
  take(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}

export type FieldKind = 'int' | 'mac' | 'ipv4' | 'ipv6' | 'port';

export interface FieldDef {
  /** OVS's preferred name. */
  name: string;
  bytes: number;
  /** Significant bits (ip_dscp: 6, in_port: 16 …). */
  bits: number;
  kind: FieldKind;
  /** OpenFlow 1.5 header class and field (OXM basic 0x8000, packet regs 0x8001, NXM 0x0000/0x0001). */
  cls: number;
  field: number;
  /** The NXM header (learn, output_reg, ct zone); the OXM one when the field has no NXM header. */
  ncls: number;
  nfield: number;
  /** The field can only be matched when the packet is known to be Ethernet/IP/… (OVS's prerequisites). */
  prereq?: 'ip' | 'ipv4' | 'ipv6' | 'arp' | 'tcp' | 'udp' | 'sctp' | 'icmp' | 'icmpv6' | 'ct';
}

const defs: FieldDef[] = [];
const byName = new Map<string, FieldDef>();

function def(names: string[], bytes: number, kind: FieldKind, of15: [number, number], nxm: [number, number] | null, prereq?: FieldDef['prereq'], bits = bytes * 8): void {
  const d: FieldDef = { name: names[0]!, bytes, bits, kind, cls: of15[0], field: of15[1], ncls: (nxm ?? of15)[0], nfield: (nxm ?? of15)[1], prereq };
  defs.push(d);
  for (const n of names) byName.set(n, d);
}

const OXM = 0x8000;
const NX0 = 0x0000;
const NX1 = 0x0001;
def(['in_port', 'NXM_OF_IN_PORT'], 2, 'port', [NX0, 0], [NX0, 0]);
def(['in_port_oxm', 'OXM_OF_IN_PORT'], 4, 'port', [OXM, 0], null);
def(['eth_dst', 'dl_dst', 'NXM_OF_ETH_DST', 'OXM_OF_ETH_DST'], 6, 'mac', [OXM, 3], [NX0, 1]);
def(['eth_src', 'dl_src', 'NXM_OF_ETH_SRC', 'OXM_OF_ETH_SRC'], 6, 'mac', [OXM, 4], [NX0, 2]);
def(['eth_type', 'dl_type', 'NXM_OF_ETH_TYPE', 'OXM_OF_ETH_TYPE'], 2, 'int', [OXM, 5], [NX0, 3]);
def(['nw_tos', 'NXM_OF_IP_TOS'], 1, 'int', [NX0, 5], [NX0, 5], 'ip');
def(['ip_dscp', 'OXM_OF_IP_DSCP'], 1, 'int', [OXM, 8], null, 'ip', 6);
def(['nw_ecn', 'ip_ecn', 'NXM_NX_IP_ECN', 'OXM_OF_IP_ECN'], 1, 'int', [OXM, 9], [NX1, 28], 'ip', 2);
def(['nw_ttl', 'NXM_NX_IP_TTL'], 1, 'int', [NX1, 29], [NX1, 29], 'ip');
def(['ip_proto', 'nw_proto', 'NXM_OF_IP_PROTO', 'OXM_OF_IP_PROTO'], 1, 'int', [OXM, 10], [NX0, 6], 'ip');
def(['ip_src', 'nw_src', 'NXM_OF_IP_SRC', 'OXM_OF_IPV4_SRC'], 4, 'ipv4', [OXM, 11], [NX0, 7], 'ipv4');
def(['ip_dst', 'nw_dst', 'NXM_OF_IP_DST', 'OXM_OF_IPV4_DST'], 4, 'ipv4', [OXM, 12], [NX0, 8], 'ipv4');
def(['tcp_src', 'NXM_OF_TCP_SRC', 'OXM_OF_TCP_SRC'], 2, 'int', [OXM, 13], [NX0, 9], 'tcp');
def(['tcp_dst', 'NXM_OF_TCP_DST', 'OXM_OF_TCP_DST'], 2, 'int', [OXM, 14], [NX0, 10], 'tcp');
def(['udp_src', 'NXM_OF_UDP_SRC', 'OXM_OF_UDP_SRC'], 2, 'int', [OXM, 15], [NX0, 11], 'udp');
def(['udp_dst', 'NXM_OF_UDP_DST', 'OXM_OF_UDP_DST'], 2, 'int', [OXM, 16], [NX0, 12], 'udp');
def(['sctp_src', 'OXM_OF_SCTP_SRC'], 2, 'int', [OXM, 17], null, 'sctp');
def(['sctp_dst', 'OXM_OF_SCTP_DST'], 2, 'int', [OXM, 18], null, 'sctp');
def(['icmp_type', 'NXM_OF_ICMP_TYPE', 'OXM_OF_ICMPV4_TYPE'], 1, 'int', [OXM, 19], [NX0, 13], 'icmp');
def(['icmp_code', 'NXM_OF_ICMP_CODE', 'OXM_OF_ICMPV4_CODE'], 1, 'int', [OXM, 20], [NX0, 14], 'icmp');
def(['arp_op', 'NXM_OF_ARP_OP', 'OXM_OF_ARP_OP'], 2, 'int', [OXM, 21], [NX0, 15], 'arp');
def(['arp_spa', 'NXM_OF_ARP_SPA', 'OXM_OF_ARP_SPA'], 4, 'ipv4', [OXM, 22], [NX0, 16], 'arp');
def(['arp_tpa', 'NXM_OF_ARP_TPA', 'OXM_OF_ARP_TPA'], 4, 'ipv4', [OXM, 23], [NX0, 17], 'arp');
def(['arp_sha', 'NXM_NX_ARP_SHA', 'OXM_OF_ARP_SHA'], 6, 'mac', [OXM, 24], [NX1, 17], 'arp');
def(['arp_tha', 'NXM_NX_ARP_THA', 'OXM_OF_ARP_THA'], 6, 'mac', [OXM, 25], [NX1, 18], 'arp');
def(['ipv6_src', 'NXM_NX_IPV6_SRC', 'OXM_OF_IPV6_SRC'], 16, 'ipv6', [OXM, 26], [NX1, 19], 'ipv6');
def(['ipv6_dst', 'NXM_NX_IPV6_DST', 'OXM_OF_IPV6_DST'], 16, 'ipv6', [OXM, 27], [NX1, 20], 'ipv6');
def(['ipv6_label', 'NXM_NX_IPV6_LABEL', 'OXM_OF_IPV6_FLABEL'], 4, 'int', [OXM, 28], [NX1, 27], 'ipv6', 20);
def(['icmpv6_type', 'NXM_NX_ICMPV6_TYPE', 'OXM_OF_ICMPV6_TYPE'], 1, 'int', [OXM, 29], [NX1, 21], 'icmpv6');
def(['icmpv6_code', 'NXM_NX_ICMPV6_CODE', 'OXM_OF_ICMPV6_CODE'], 1, 'int', [OXM, 30], [NX1, 22], 'icmpv6');
def(['tcp_flags', 'NXM_NX_TCP_FLAGS', 'OXM_OF_TCP_FLAGS'], 2, 'int', [OXM, 42], [NX1, 34], 'tcp', 12);
def(['tun_id', 'tunnel_id', 'NXM_NX_TUN_ID', 'OXM_OF_TUNNEL_ID'], 8, 'int', [OXM, 38], [NX1, 16]);
def(['tun_src', 'NXM_NX_TUN_IPV4_SRC'], 4, 'ipv4', [NX1, 31], [NX1, 31]);
def(['tun_dst', 'NXM_NX_TUN_IPV4_DST'], 4, 'ipv4', [NX1, 32], [NX1, 32]);
def(['pkt_mark', 'NXM_NX_PKT_MARK'], 4, 'int', [NX1, 33], [NX1, 33]);
def(['conj_id', 'NXM_NX_CONJ_ID'], 4, 'int', [NX1, 37], [NX1, 37]);
def(['ct_state', 'NXM_NX_CT_STATE'], 4, 'int', [NX1, 105], [NX1, 105]);
def(['ct_zone', 'NXM_NX_CT_ZONE'], 2, 'int', [NX1, 106], [NX1, 106]);
def(['ct_mark', 'NXM_NX_CT_MARK'], 4, 'int', [NX1, 107], [NX1, 107]);
def(['ct_label', 'NXM_NX_CT_LABEL'], 16, 'int', [NX1, 108], [NX1, 108]);
def(['ct_nw_proto', 'NXM_NX_CT_NW_PROTO'], 1, 'int', [NX1, 119], [NX1, 119], 'ct');
def(['ct_nw_src', 'NXM_NX_CT_NW_SRC'], 4, 'ipv4', [NX1, 120], [NX1, 120], 'ct');
def(['ct_nw_dst', 'NXM_NX_CT_NW_DST'], 4, 'ipv4', [NX1, 121], [NX1, 121], 'ct');
def(['ct_ipv6_src', 'NXM_NX_CT_IPV6_SRC'], 16, 'ipv6', [NX1, 122], [NX1, 122], 'ct');
def(['ct_ipv6_dst', 'NXM_NX_CT_IPV6_DST'], 16, 'ipv6', [NX1, 123], [NX1, 123], 'ct');
def(['ct_tp_src', 'NXM_NX_CT_TP_SRC'], 2, 'int', [NX1, 124], [NX1, 124], 'ct');
def(['ct_tp_dst', 'NXM_NX_CT_TP_DST'], 2, 'int', [NX1, 125], [NX1, 125], 'ct');
def(['metadata', 'OXM_OF_METADATA'], 8, 'int', [OXM, 2], null);
for (let i = 0; i < 16; i++) def([`reg${i}`, `NXM_NX_REG${i}`], 4, 'int', [NX1, i], [NX1, i]);
for (let i = 0; i < 8; i++) def([`xreg${i}`, `OXM_OF_PKT_REG${i}`], 8, 'int', [0x8001, i], null);
for (let i = 0; i < 4; i++) def([`xxreg${i}`, `NXM_NX_XXREG${i}`], 16, 'int', [NX1, 111 + i], [NX1, 111 + i]);
// Not in Seine's own flows, but OVS may put them in a packet-in's metadata or a flow's match.
def(['vlan_vid', 'OXM_OF_VLAN_VID'], 2, 'int', [OXM, 6], null, undefined, 13);
def(['vlan_pcp', 'OXM_OF_VLAN_PCP'], 1, 'int', [OXM, 7], null, undefined, 3);
def(['packet_type', 'OXM_OF_PACKET_TYPE'], 4, 'int', [OXM, 44], null);
def(['tun_flags', 'NXM_NX_TUN_FLAGS'], 2, 'int', [NX1, 40], [NX1, 40]);
def(['tun_ipv6_src', 'NXM_NX_TUN_IPV6_SRC'], 16, 'ipv6', [NX1, 109], [NX1, 109]);
def(['tun_ipv6_dst', 'NXM_NX_TUN_IPV6_DST'], 16, 'ipv6', [NX1, 110], [NX1, 110]);

/** Every field of the table (the decoder reads it the other way: header → field). */
export const FIELD_DEFS: readonly FieldDef[] = defs;

export function fieldByName(name: string): FieldDef | undefined {
  return byName.get(name);
}

/** The 32-bit OXM/NXM header: class, field, has-mask, payload length. */
export function oxmHeader(cls: number, field: number, hasMask: boolean, payload: number): number {
  return ((cls << 16) | (field << 9) | (hasMask ? 0x100 : 0) | payload) >>> 0;
}

/** The OpenFlow 1.5 header of a field as a subfield reference (no mask). */
export const of15Header = (f: FieldDef): number => oxmHeader(f.cls, f.field, false, f.bytes);
/** The NXM header of a field (learn specs, output_reg, ct zone). */
export const nxmHeader = (f: FieldDef): number => oxmHeader(f.ncls, f.nfield, false, f.bytes);

/** One OXM TLV: header, value, and the mask unless it covers the whole field. */
export function putOxm(w: OfWriter, f: FieldDef, value: bigint, mask: bigint | undefined): void {
  const masked = mask !== undefined && mask !== allOnes(f.bytes);
  w.u32(oxmHeader(f.cls, f.field, masked, masked ? f.bytes * 2 : f.bytes));
  w.uint(masked ? value & mask : value, f.bytes);
  if (masked) w.uint(mask, f.bytes);
}

const ONES = new Map<number, bigint>();
export function allOnes(bytes: number): bigint {
  let v = ONES.get(bytes);
  if (v === undefined) ONES.set(bytes, (v = (1n << BigInt(bytes * 8)) - 1n));
  return v;
}

// ---- values -------------------------------------------------------------------------------

/** OpenFlow 1.0 port numbers of the reserved ports (OVS's ofp_port_t). */
export const RESERVED_PORTS: Record<string, number> = {
  IN_PORT: 0xfff8, TABLE: 0xfff9, NORMAL: 0xfffa, FLOOD: 0xfffb, ALL: 0xfffc, CONTROLLER: 0xfffd, LOCAL: 0xfffe, ANY: 0xffff, NONE: 0xffff,
};

/** A port as OVS's 16-bit ofp_port_t (number or reserved name); undefined if it is neither. */
export function parsePort(s: string): number | undefined {
  const r = RESERVED_PORTS[s.toUpperCase()];
  if (r !== undefined) return r;
  if (!/^(0x[0-9a-f]+|\d+)$/i.test(s)) return undefined;
  const n = Number(s);
  return n <= 0xffff ? n : undefined;
}

/** OpenFlow 1.1+ 32-bit port number of an ofp_port_t (reserved ports move to 0xffffff00+). */
export const portToOf11 = (p: number): number => (p >= 0xff00 ? (p + 0xffff0000) >>> 0 : p);

export function parseUint(s: string, what: string): bigint {
  if (!/^(0x[0-9a-f]+|\d+)$/i.test(s)) throw new Error(`${what}: "${s}" is not a number`);
  return BigInt(s);
}

function parseIpv4(s: string, what: string): bigint {
  // By hand: this runs for most flows of a policy bundle.
  let v = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57 && digits < 3) {
      octet = octet * 10 + c - 48;
      digits++;
    } else if (c === 46 && digits && dots < 3) {
      if (octet > 255) break;
      v = v * 256 + octet;
      octet = digits = 0;
      dots++;
    } else {
      dots = -1;
      break;
    }
  }
  if (dots !== 3 || !digits || octet > 255) throw new Error(`${what}: "${s}" is not an IPv4 address`);
  return BigInt(v * 256 + octet);
}

function parseMac(s: string, what: string): bigint {
  if (!/^[0-9a-f]{1,2}(:[0-9a-f]{1,2}){5}$/i.test(s)) throw new Error(`${what}: "${s}" is not a MAC address`);
  return s.split(':').reduce((v, b) => (v << 8n) | BigInt(parseInt(b, 16)), 0n);
}

function parseIpv6(s: string, what: string): bigint {
  const bad = () => new Error(`${what}: "${s}" is not an IPv6 address`);
  let text = s;
  const groups: number[] = [];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  let tail: number[] = [];
  if (v4) {
    const x = Number(parseIpv4(v4[1]!, what));
    tail = [Math.floor(x / 65536), x % 65536];
    text = text.slice(0, -v4[1]!.length);
    if (text.endsWith(':') && !text.endsWith('::')) text = text.slice(0, -1);
  }
  const halves = text.split('::');
  if (halves.length > 2) throw bad();
  const part = (h: string) => (h ? h.split(':').map((g) => (/^[0-9a-f]{1,4}$/i.test(g) ? parseInt(g, 16) : NaN)) : []);
  const head = part(halves[0]!);
  const rest = halves.length === 2 ? part(halves[1]!) : [];
  const known = head.length + rest.length + tail.length;
  if (head.some(Number.isNaN) || rest.some(Number.isNaN) || known > 8 || (halves.length === 1 && known !== 8)) throw bad();
  groups.push(...head, ...Array<number>(8 - known).fill(0), ...rest, ...tail);
  return groups.reduce((v, g) => (v << 16n) | BigInt(g), 0n);
}

function prefixMask(len: number, bits: number, what: string): bigint {
  if (!Number.isInteger(len) || len < 0 || len > bits) throw new Error(`${what}: prefix length ${len} out of range`);
  return len === 0 ? 0n : ((1n << BigInt(len)) - 1n) << BigInt(bits - len);
}

/** A value of a field (`10.0.0.0/24`, `0x3/0xf`, `aa:…/ff:…`, `LOCAL`), masked when a mask is given. */
export function parseFieldValue(f: FieldDef, text: string, what = f.name): { value: bigint; mask?: bigint } {
  const slash = text.indexOf('/');
  const v = slash < 0 ? text : text.slice(0, slash);
  const m = slash < 0 ? undefined : text.slice(slash + 1);
  let value: bigint;
  let mask: bigint | undefined;
  switch (f.kind) {
    case 'ipv4':
      value = parseIpv4(v, what);
      if (m !== undefined) mask = m.includes('.') ? parseIpv4(m, what) : prefixMask(Number(m), 32, what);
      break;
    case 'ipv6':
      value = parseIpv6(v, what);
      if (m !== undefined) mask = m.includes(':') ? parseIpv6(m, what) : prefixMask(Number(m), 128, what);
      break;
    case 'mac':
      value = parseMac(v, what);
      if (m !== undefined) mask = parseMac(m, what);
      break;
    case 'port': {
      const p = parsePort(v);
      if (p === undefined) throw new Error(`${what}: "${v}" is not a port`);
      value = BigInt(f.bytes === 4 ? portToOf11(p) : p);
      if (m !== undefined) throw new Error(`${what}: a port cannot be masked`);
      break;
    }
    default:
      value = parseUint(v, what);
      if (m !== undefined) mask = parseUint(m, what);
  }
  const max = allOnes(f.bytes);
  if (value > max || (mask !== undefined && mask > max)) throw new Error(`${what}: "${text}" does not fit in ${f.bytes * 8} bits`);
  if (f.bits < f.bytes * 8 && value >> BigInt(f.bits)) throw new Error(`${what}: "${text}" does not fit in ${f.bits} bits`);
  return mask === undefined ? { value } : { value: value & mask, mask };
}

/** `NXM_NX_REG0[0..3]`, `reg4[28]`, `NXM_OF_ETH_SRC[]`, `ct_mark` (whole field). */
export interface Subfield {
  field: FieldDef;
  ofs: number;
  nBits: number;
}

export function parseSubfield(text: string, whole = true): Subfield {
  const m = /^([A-Za-z0-9_]+)(?:\[(?:(\d+)(?:\.\.(\d+))?)?\])?$/.exec(text);
  const field = m ? byName.get(m[1]!) : undefined;
  if (!m || !field) throw new Error(`unknown field "${text}"`);
  if (m[2] === undefined) {
    if (!whole && !text.endsWith('[]')) throw new Error(`"${text}": a subfield needs [bits]`);
    return { field, ofs: 0, nBits: field.bits };
  }
  const lo = Number(m[2]);
  const hi = m[3] === undefined ? lo : Number(m[3]);
  if (hi < lo || hi >= field.bytes * 8) throw new Error(`"${text}": bits out of range of ${field.name} (${field.bytes * 8} bits)`);
  return { field, ofs: lo, nBits: hi - lo + 1 };
}

export const nxmOfsNbits = (s: Subfield): number => (s.ofs << 6) | (s.nBits - 1);
