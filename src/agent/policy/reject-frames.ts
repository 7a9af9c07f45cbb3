// The answers a Reject rule sends back, built from the rejected frame's bytes: a TCP RST for
// TCP (RFC 793 §3.4 reset generation, as Linux's tcp_v4_send_reset), an ICMP destination
// unreachable "host administratively prohibited" (type 3 code 10, Antrea's choice for every
// non-TCP protocol) carrying the original IP header and 8 bytes otherwise. Addresses are the
// rejected packet's swapped, so the answer looks as if the destination sent it. A packet to a
// Service port without endpoints gets "port unreachable" (type 3 code 3) instead, as kube-proxy's
// REJECT and AntreaProxy answer it.
import { checksum } from '../ovs/frame.js';

export const ICMP_DEST_UNREACHABLE = 3;
export const ICMP_HOST_ADMIN_PROHIBITED = 10;
export const ICMP_PORT_UNREACHABLE = 3;

const TCP = 6;
const ICMP = 1;
const ETH_IPV4 = 0x0800;
const TCP_FIN = 0x01;
const TCP_SYN = 0x02;
const TCP_RST = 0x04;
const TCP_ACK = 0x10;
/** ICMP types that are queries (echo, timestamp, …): only those may be answered with an ICMP error (RFC 1122 3.2.2). */
const ICMP_QUERIES = new Set([8, 13, 15, 17]);

export interface RejectFrame {
  kind: 'tcp-rst' | 'icmp-unreachable';
  frame: Buffer;
}

interface Ipv4View {
  eth: Buffer; // 14 bytes (VLAN tags dropped)
  ip: Buffer; // the IP header with options
  l4: Buffer; // from the transport header to the end of the IP datagram
}

function parse(frame: Buffer): Ipv4View | undefined {
  let off = 12;
  while (off + 2 <= frame.length && frame.readUInt16BE(off) === 0x8100) off += 4;
  if (off + 2 > frame.length || frame.readUInt16BE(off) !== ETH_IPV4) return undefined;
  const ipStart = off + 2;
  if (frame.length < ipStart + 20 || frame[ipStart]! >> 4 !== 4) return undefined;
  const ihl = (frame[ipStart]! & 0x0f) * 4;
  const total = Math.min(frame.readUInt16BE(ipStart + 2), frame.length - ipStart);
  if (ihl < 20 || total < ihl) return undefined;
  // Fragments other than the first carry no transport header to answer.
  if ((frame.readUInt16BE(ipStart + 6) & 0x1fff) !== 0) return undefined;
  const eth = Buffer.concat([frame.subarray(0, 12), Buffer.from([0x08, 0x00])]);
  return { eth, ip: frame.subarray(ipStart, ipStart + ihl), l4: frame.subarray(ipStart + ihl, ipStart + total) };
}

/** Ethernet + a fresh 20-byte IPv4 header from `src` to `dst` around `l4`. */
function reply(v: Ipv4View, proto: number, l4: Buffer): Buffer {
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + l4.length, 2);
  ip.writeUInt16BE(0x4000, 6); // DF
  ip[8] = 64;
  ip[9] = proto;
  v.ip.copy(ip, 12, 16, 20); // src = the rejected packet's destination
  v.ip.copy(ip, 16, 12, 16); // dst = its source
  ip.writeUInt16BE(checksum(ip), 10);
  const eth = Buffer.alloc(14);
  v.eth.copy(eth, 0, 6, 12); // dst MAC = its source MAC
  v.eth.copy(eth, 6, 0, 6); // src MAC = its destination MAC
  eth.writeUInt16BE(ETH_IPV4, 12);
  return Buffer.concat([eth, ip, l4]);
}

function tcpChecksum(ip: Buffer, tcp: Buffer): number {
  const pseudo = Buffer.alloc(12);
  ip.copy(pseudo, 0, 12, 20);
  pseudo[9] = TCP;
  pseudo.writeUInt16BE(tcp.length, 10);
  return checksum(Buffer.concat([pseudo, tcp]));
}

/** The RST answering a TCP segment, or undefined for a RST (never answer one) or a truncated header. */
export function tcpReset(frame: Buffer): RejectFrame | undefined {
  const v = parse(frame);
  if (!v || v.ip[9] !== TCP || v.l4.length < 20) return undefined;
  const flags = v.l4[13]!;
  if (flags & TCP_RST) return undefined;
  const dataOff = (v.l4[12]! >> 4) * 4;
  const payload = Math.max(0, v.l4.length - dataOff);
  const tcp = Buffer.alloc(20);
  v.l4.copy(tcp, 0, 2, 4); // src port = its destination port
  v.l4.copy(tcp, 2, 0, 2);
  if (flags & TCP_ACK) {
    // Its ACK says which sequence number it expects: a bare RST with that sequence number.
    v.l4.copy(tcp, 4, 8, 12);
    tcp[13] = TCP_RST;
  } else {
    // Acknowledge what it sent (SYN and FIN count one) so the sender accepts the RST.
    const seg = payload + (flags & TCP_SYN ? 1 : 0) + (flags & TCP_FIN ? 1 : 0);
    tcp.writeUInt32BE((v.l4.readUInt32BE(4) + seg) >>> 0, 8);
    tcp[13] = TCP_RST | TCP_ACK;
  }
  tcp[12] = 5 << 4;
  const out = reply(v, TCP, tcp);
  tcp.writeUInt16BE(tcpChecksum(out.subarray(14, 34), tcp), 16);
  tcp.copy(out, 34);
  return { kind: 'tcp-rst', frame: out };
}

/** ICMP type 3 (code 10 unless told) with the original IP header + 8 bytes; undefined for ICMP errors (RFC 1122: never answer one). */
export function icmpUnreachable(frame: Buffer, code = ICMP_HOST_ADMIN_PROHIBITED): RejectFrame | undefined {
  const v = parse(frame);
  if (!v) return undefined;
  if (v.ip[9] === ICMP && (v.l4.length < 1 || !ICMP_QUERIES.has(v.l4[0]!))) return undefined;
  const quoted = Buffer.concat([v.ip, v.l4.subarray(0, 8)]);
  const icmp = Buffer.alloc(8 + quoted.length);
  icmp[0] = ICMP_DEST_UNREACHABLE;
  icmp[1] = code;
  quoted.copy(icmp, 8);
  icmp.writeUInt16BE(checksum(icmp), 2);
  return { kind: 'icmp-unreachable', frame: reply(v, ICMP, icmp) };
}

/** The answer Antrea gives a rejected packet: RST for TCP, ICMP unreachable (with `icmpCode`) for the rest. */
export function rejectFrame(frame: Buffer, icmpCode = ICMP_HOST_ADMIN_PROHIBITED): RejectFrame | undefined {
  const v = parse(frame);
  if (!v) return undefined;
  return v.ip[9] === TCP ? tcpReset(frame) : icmpUnreachable(frame, icmpCode);
}
