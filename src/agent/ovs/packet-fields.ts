// The fields of an Ethernet frame, named and formatted as OVS prints a packet's flow
// (`tcp,dl_src=…,nw_src=…,nw_tos=4,…,tp_dst=80,tcp_flags=syn`): what packet-in consumers read,
// taken from the frame a packet-in carries instead of from ovs-ofctl's text. One VLAN tag is
// skipped; IPv6 extension headers are not walked (Seine's traffic has none).
import { formatIpv4, formatIpv6, formatMac } from '../../lib/openflow/oxm.js';

export interface ParsedPacket {
  /** First token of OVS's flow string for the packet: icmp, tcp, udp, arp, ip, ipv6, … */
  protocol: string;
  /** Every field=value OVS would print for the packet (dl_src, nw_src, tp_dst, …). */
  fields: Record<string, string>;
  dlSrc?: string;
  dlDst?: string;
  nwSrc?: string;
  nwDst?: string;
  nwTtl?: number;
  /** IP DSCP (nw_tos >> 2): carries the Traceflow tag. */
  dscp?: number;
  tpSrc?: number;
  tpDst?: number;
  icmpType?: number;
  icmpCode?: number;
  tcpFlags?: string;
}

const TCP_FLAGS = ['fin', 'syn', 'rst', 'psh', 'ack', 'urg', 'ece', 'cwr', 'ns'];

/** OVS's `tcp_flags=` text: flag names joined by `|` in bit order, `0` for none. */
export function formatTcpFlags(flags: number): string {
  return TCP_FLAGS.filter((_, i) => flags & (1 << i)).join('|') || '0';
}

export function parseFrame(frame: Buffer): ParsedPacket {
  const fields: Record<string, string> = {};
  const p: ParsedPacket = { protocol: '', fields };
  if (frame.length < 14) return p;
  p.dlDst = fields.dl_dst = formatMac(frame.subarray(0, 6));
  p.dlSrc = fields.dl_src = formatMac(frame.subarray(6, 12));
  let type = frame.readUInt16BE(12);
  let off = 14;
  if ((type === 0x8100 || type === 0x88a8) && frame.length >= 18) {
    fields.dl_vlan = String(frame.readUInt16BE(14) & 0x0fff);
    type = frame.readUInt16BE(16);
    off = 18;
  }
  if (type === 0x0800 && frame.length >= off + 20) return ipv4(frame, off, p);
  if (type === 0x86dd && frame.length >= off + 40) return ipv6(frame, off, p);
  if (type === 0x0806 && frame.length >= off + 28) {
    p.protocol = 'arp';
    fields.arp_spa = p.nwSrc = formatIpv4(frame.subarray(off + 14, off + 18));
    fields.arp_tpa = p.nwDst = formatIpv4(frame.subarray(off + 24, off + 28));
    fields.arp_op = String(frame.readUInt16BE(off + 6));
    fields.arp_sha = formatMac(frame.subarray(off + 8, off + 14));
    fields.arp_tha = formatMac(frame.subarray(off + 18, off + 24));
    return p;
  }
  fields.dl_type = `0x${type.toString(16).padStart(4, '0')}`;
  return p;
}

function ipv4(frame: Buffer, off: number, p: ParsedPacket): ParsedPacket {
  const f = p.fields;
  const ihl = (frame[off]! & 0x0f) * 4;
  const tos = frame[off + 1]!;
  const proto = frame[off + 9]!;
  const frag = frame.readUInt16BE(off + 6);
  p.nwSrc = f.nw_src = formatIpv4(frame.subarray(off + 12, off + 16));
  p.nwDst = f.nw_dst = formatIpv4(frame.subarray(off + 16, off + 20));
  f.nw_tos = String(tos & 0xfc);
  f.nw_ecn = String(tos & 0x03);
  p.dscp = tos >> 2;
  p.nwTtl = frame[off + 8]!;
  f.nw_ttl = String(p.nwTtl);
  const later = (frag & 0x1fff) !== 0;
  f.nw_frag = later ? 'later' : frag & 0x2000 ? 'first' : 'no';
  return transport(frame, off + ihl, proto, later, p, false);
}

function ipv6(frame: Buffer, off: number, p: ParsedPacket): ParsedPacket {
  const f = p.fields;
  const vtc = frame.readUInt32BE(off);
  const tc = (vtc >>> 20) & 0xff;
  f.ipv6_label = `0x${(vtc & 0xfffff).toString(16).padStart(5, '0')}`;
  p.nwSrc = f.ipv6_src = formatIpv6(frame.subarray(off + 8, off + 24));
  p.nwDst = f.ipv6_dst = formatIpv6(frame.subarray(off + 24, off + 40));
  f.nw_tos = String(tc & 0xfc);
  f.nw_ecn = String(tc & 0x03);
  p.dscp = tc >> 2;
  p.nwTtl = frame[off + 7]!;
  f.nw_ttl = String(p.nwTtl);
  f.nw_frag = 'no';
  return transport(frame, off + 40, frame[off + 6]!, false, p, true);
}

function transport(frame: Buffer, off: number, proto: number, laterFragment: boolean, p: ParsedPacket, v6: boolean): ParsedPacket {
  const f = p.fields;
  const name = proto === 6 ? 'tcp' : proto === 17 ? 'udp' : proto === 132 ? 'sctp' : proto === 1 && !v6 ? 'icmp' : proto === 58 && v6 ? 'icmp6' : undefined;
  p.protocol = name ? (v6 && name !== 'icmp6' ? `${name}6` : name) : v6 ? 'ipv6' : 'ip';
  if (!name) f.nw_proto = String(proto);
  if (!name || laterFragment) return p;
  if (name === 'icmp' || name === 'icmp6') {
    if (frame.length < off + 2) return p;
    p.icmpType = frame[off]!;
    p.icmpCode = frame[off + 1]!;
    f[v6 ? 'icmpv6_type' : 'icmp_type'] = String(p.icmpType);
    f[v6 ? 'icmpv6_code' : 'icmp_code'] = String(p.icmpCode);
    return p;
  }
  if (frame.length < off + 4) return p;
  p.tpSrc = frame.readUInt16BE(off);
  p.tpDst = frame.readUInt16BE(off + 2);
  f.tp_src = String(p.tpSrc);
  f.tp_dst = String(p.tpDst);
  if (name === 'tcp' && frame.length >= off + 14) {
    p.tcpFlags = f.tcp_flags = formatTcpFlags(frame.readUInt16BE(off + 12) & 0x1ff);
  }
  return p;
}
