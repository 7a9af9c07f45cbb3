// Reading OXM/NXM TLVs (the match of a flow stats entry, the metadata of a packet-in) into named
// fields, and writing the few Seine sends itself (a packet-out's in_port). A TLV is a 32-bit header
// (class 16 bits, field 7, has-mask 1, payload length 8), the value, then the mask when present;
// the experimenter class (0xffff) puts a 32-bit experimenter id after the header. OpenFlow 1.5
// carries registers as 64-bit xregs (OXM class 0x8001): they are split back into reg(2i) (high
// half) and reg(2i+1) (low half), so callers see the names OVS prints. Names are OVS's printing
// names (dl_src, nw_src, tp_dst …); numbers from include/openvswitch/meta-flow.h.

import { FIELD_DEFS, RESERVED_PORTS, type FieldKind } from './match-fields.js';

export type OxmKind = FieldKind | 'ct_state';

export interface OxmField {
  name: string;
  kind: OxmKind;
  value: Buffer;
  /** Present when the TLV had a mask (a wildcarded field). */
  mask?: Buffer;
}

const PACKET_REGS = 0x8001;
const EXPERIMENTER = 0xffff;

// The encoder's field table (match-fields.ts), read the other way: both headers of each field
// (its OpenFlow 1.5 one and its NXM one) lead to the name OVS prints for it.
const PRINT_NAMES: Record<string, string> = {
  in_port_oxm: 'in_port', eth_dst: 'dl_dst', eth_src: 'dl_src', eth_type: 'dl_type', ip_proto: 'nw_proto', ip_src: 'nw_src', ip_dst: 'nw_dst',
};
const FIELDS = new Map<number, [string, OxmKind]>();
const key = (cls: number, field: number) => cls * 128 + field;
for (const f of FIELD_DEFS) {
  const entry: [string, OxmKind] = [PRINT_NAMES[f.name] ?? f.name, f.name === 'ct_state' ? 'ct_state' : f.kind];
  FIELDS.set(key(f.cls, f.field), entry);
  FIELDS.set(key(f.ncls, f.nfield), entry);
}

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
// The encoder's reserved-port names, by number (0xffff prints as ANY, as OVS does, not NONE).
const PORT_NAMES = new Map(Object.entries(RESERVED_PORTS).filter(([name]) => name !== 'NONE').map(([name, port]) => [port, name]));

/** A port number (16 or 32 bits) as OVS prints it: a number, or a reserved port's name. */
export function formatPort(b: Buffer): number | string {
  let p = oxmNumber(b);
  if (b.length === 4 && p >= 0xffffff00) p -= 0xffff0000; // OF1.1+ reserved ports → OF1.0 numbering
  return PORT_NAMES.get(p) ?? p;
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
