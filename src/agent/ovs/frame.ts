// Hand-built frames for packet-out (Traceflow injection, probes, tests): Ethernet + IPv4 +
// ICMP echo or TCP SYN, with correct checksums so the userspace datapath and conntrack
// accept them.
export interface Ipv4FrameSpec {
  srcMac: string;
  dstMac: string;
  srcIp: string;
  dstIp: string;
  ttl?: number;
  /** DSCP (6 bits); Traceflow carries its tag here. */
  dscp?: number;
  ipId?: number;
}

const mac = (m: string) => Buffer.from(m.split(':').join(''), 'hex');
const ip4 = (a: string) => Buffer.from(a.split('.').map(Number));

/** The Internet checksum (RFC 1071) of `buf`. */
export function checksum(buf: Buffer): number {
  let sum = 0;
  for (let i = 0; i < buf.length; i += 2) sum += (buf[i] << 8) + (i + 1 < buf.length ? buf[i + 1] : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function ipv4Frame(spec: Ipv4FrameSpec, proto: number, l4: Buffer): Buffer {
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip[1] = ((spec.dscp ?? 0) & 0x3f) << 2;
  ip.writeUInt16BE(20 + l4.length, 2);
  ip.writeUInt16BE(spec.ipId ?? 0, 4);
  ip.writeUInt16BE(0x4000, 6); // don't fragment
  ip[8] = spec.ttl ?? 64;
  ip[9] = proto;
  ip4(spec.srcIp).copy(ip, 12);
  ip4(spec.dstIp).copy(ip, 16);
  ip.writeUInt16BE(checksum(ip), 10);
  const eth = Buffer.concat([mac(spec.dstMac), mac(spec.srcMac), Buffer.from([0x08, 0x00])]);
  return Buffer.concat([eth, ip, l4]);
}

export function icmpEchoFrame(spec: Ipv4FrameSpec & { id?: number; seq?: number; payload?: Buffer }): Buffer {
  const payload = spec.payload ?? Buffer.alloc(56);
  const icmp = Buffer.alloc(8 + payload.length);
  icmp[0] = 8; // echo request
  icmp.writeUInt16BE(spec.id ?? 1, 4);
  icmp.writeUInt16BE(spec.seq ?? 1, 6);
  payload.copy(icmp, 8);
  icmp.writeUInt16BE(checksum(icmp), 2);
  return ipv4Frame(spec, 1, icmp);
}

export function tcpSynFrame(spec: Ipv4FrameSpec & { srcPort: number; dstPort: number; seq?: number; flags?: number }): Buffer {
  const tcp = Buffer.alloc(20);
  tcp.writeUInt16BE(spec.srcPort, 0);
  tcp.writeUInt16BE(spec.dstPort, 2);
  tcp.writeUInt32BE(spec.seq ?? 1, 4);
  tcp[12] = 5 << 4;
  tcp[13] = spec.flags ?? 0x02; // SYN unless told
  tcp.writeUInt16BE(65535, 14);
  const pseudo = Buffer.concat([ip4(spec.srcIp), ip4(spec.dstIp), Buffer.from([0, 6, 0, tcp.length])]);
  tcp.writeUInt16BE(checksum(Buffer.concat([pseudo, tcp])), 16);
  return ipv4Frame(spec, 6, tcp);
}

export function udpFrame(spec: Ipv4FrameSpec & { srcPort: number; dstPort: number; payload?: Buffer }): Buffer {
  const payload = spec.payload ?? Buffer.alloc(0);
  const udp = Buffer.alloc(8 + payload.length);
  udp.writeUInt16BE(spec.srcPort, 0);
  udp.writeUInt16BE(spec.dstPort, 2);
  udp.writeUInt16BE(udp.length, 4);
  payload.copy(udp, 8);
  const pseudo = Buffer.concat([ip4(spec.srcIp), ip4(spec.dstIp), Buffer.from([0, 17]), Buffer.from([udp.length >> 8, udp.length & 0xff])]);
  udp.writeUInt16BE(checksum(Buffer.concat([pseudo, udp])) || 0xffff, 6);
  return ipv4Frame(spec, 17, udp);
}
