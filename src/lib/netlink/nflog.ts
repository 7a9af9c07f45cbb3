// nfnetlink_log (subsystem 4): the packets iptables' NFLOG target hands to userspace, read from
// one NFLOG group in the socket's network namespace (the group is per namespace, so each lab
// box reads only its own). The socket binds the group once; afterwards the kernel sends each
// logged packet unasked, and poll() drains them without blocking (seine_native's drain).
//
//   config  = nfgenmsg {AF_UNSPEC, 0, res_id = group (big-endian)}
//             + NFULA_CFG_CMD {BIND} / NFULA_CFG_MODE {copy range (be32), COPY_PACKET, pad}
//   packet  = nfgenmsg + NFULA_PREFIX (NUL-terminated) + NFULA_PAYLOAD (the IP packet) + …
import { attr, decodeHeader, encodeMessage, NLM_F, NLMSG_ERROR, parseAttrs, readString, splitMessages } from './message.js';
import { loadNative } from './native.js';
import { NETLINK_NETFILTER, openNetlink, type NetlinkSocket } from './socket.js';

const NFNL_SUBSYS_ULOG = 4;
const NFULNL_MSG_PACKET = 0;
const NFULNL_MSG_CONFIG = 1;
const NFULA_CFG_CMD = 1;
const NFULA_CFG_MODE = 2;
const NFULNL_CFG_CMD_BIND = 1;
const NFULNL_COPY_PACKET = 2;
const NFULA_PAYLOAD = 9;
const NFULA_PREFIX = 10;

export interface NflogPacket {
  prefix: string;
  /** The packet from its IP header, cut to the copy range. */
  payload: Buffer;
}

export interface NflogOptions {
  /** Network namespace path; default the caller's. */
  netns?: string;
  /** Bytes of each packet copied (headers are enough to log a connection). */
  copyRange?: number;
}

function configMessage(group: number, attrs: Buffer[]): Buffer {
  const nfgen = Buffer.alloc(4);
  nfgen.writeUInt16BE(group, 2);
  return encodeMessage((NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG, NLM_F.REQUEST | NLM_F.ACK, Buffer.concat([nfgen, ...attrs]));
}

export class NflogGroup {
  /** Messages the kernel dropped because the socket was full (ENOBUFS seen). */
  overflows = 0;

  private constructor(private readonly sock: NetlinkSocket, private readonly drainFd: (fd: number) => Buffer) {}

  /** Binds `group` (EBUSY when another socket of the namespace has it). */
  static open(group: number, opts: NflogOptions = {}): NflogGroup {
    const native = loadNative();
    const drain = native.drain?.bind(native);
    if (!drain) throw new Error('seine_native has no drain(): rebuild it (npx node-gyp rebuild --directory=src/native)');
    const sock = openNetlink(NETLINK_NETFILTER, { ...(opts.netns ? { netns: opts.netns } : {}), rcvbuf: 1 << 20 });
    try {
      sock.request(configMessage(group, [attr(NFULA_CFG_CMD, Buffer.from([NFULNL_CFG_CMD_BIND]))]));
      const mode = Buffer.alloc(6);
      mode.writeUInt32BE(opts.copyRange ?? 128, 0);
      mode.writeUInt8(NFULNL_COPY_PACKET, 4);
      sock.request(configMessage(group, [attr(NFULA_CFG_MODE, mode)]));
    } catch (err) {
      sock.close();
      throw err;
    }
    return new NflogGroup(sock, drain);
  }

  /** Every packet logged since the last poll (never blocks). */
  poll(): NflogPacket[] {
    let raw: Buffer;
    try {
      raw = this.drainFd(this.sock.fd);
    } catch (err) {
      if ((err as { errno?: number }).errno === 105 /* ENOBUFS */) {
        this.overflows++;
        return [];
      }
      throw err;
    }
    const out: NflogPacket[] = [];
    for (const m of splitMessages(raw)) {
      const h = decodeHeader(m);
      if (h.type === NLMSG_ERROR || h.type !== ((NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET) || h.body.length < 4) continue;
      const attrs = parseAttrs(h.body.subarray(4));
      const payload = attrs.get(NFULA_PAYLOAD);
      if (!payload) continue;
      out.push({ prefix: readString(attrs.get(NFULA_PREFIX) ?? Buffer.alloc(0)), payload });
    }
    return out;
  }

  close(): void {
    this.sock.close();
  }
}

export interface IPv4Summary {
  src: string;
  dst: string;
  /** IANA protocol number. */
  protocol: number;
  /** undefined without ports (ICMP, or a cut packet). */
  srcPort?: number;
  dstPort?: number;
  /** IP total length. */
  length: number;
}

/** The addresses, protocol and ports of an IPv4 packet; undefined for anything else. */
export function summarizeIPv4(p: Buffer): IPv4Summary | undefined {
  if (p.length < 20 || p[0]! >> 4 !== 4) return undefined;
  const ihl = (p[0]! & 15) * 4;
  const ip = (o: number) => `${p[o]}.${p[o + 1]}.${p[o + 2]}.${p[o + 3]}`;
  const s: IPv4Summary = { src: ip(12), dst: ip(16), protocol: p[9]!, length: p.readUInt16BE(2) };
  // TCP, UDP, SCTP: ports first in the transport header.
  if ([6, 17, 132].includes(s.protocol) && p.length >= ihl + 4) {
    s.srcPort = p.readUInt16BE(ihl);
    s.dstPort = p.readUInt16BE(ihl + 2);
  }
  return s;
}
