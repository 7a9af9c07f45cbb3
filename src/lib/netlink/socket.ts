// A netlink socket: one request at a time, answered synchronously. Netlink replies come back
// in microseconds (the kernel handles the request inside sendmsg and queues the answer), so
// blocking the main thread costs less than handing the call to the thread pool, and callers
// keep a plain call-and-return shape. The socket is opened inside a network namespace when
// asked, and stays bound to it: every request on it acts there, whatever thread sends it.
import { loadNative } from './native.js';
import { NLMSG_DONE, NLMSG_ERROR, NLM_F, NetlinkError, decodeError, decodeHeader, splitMessages } from './message.js';

export const NETLINK_ROUTE = 0;
export const NETLINK_NETFILTER = 12;

export interface NetlinkSocket {
  /**
   * Send one message (its seq and pid are set here) and return every reply message, one Buffer
   * per nlmsghdr, up to NLMSG_DONE for a dump or the ACK/NLMSG_ERROR of this seq. The closing
   * DONE and a zero-error ACK are not returned. A non-zero error throws a NetlinkError whose
   * `code` is the errno's name (EEXIST …).
   */
  request(msg: Buffer): Buffer[];
  close(): void;
  readonly fd: number;
}

export interface OpenNetlinkOptions {
  /** A network namespace path (/run/netns/NAME, /proc/PID/ns/net); default: the caller's. */
  netns?: string;
  /** SO_RCVBUF(FORCE) in bytes, for big dumps (conntrack). */
  rcvbuf?: number;
}

/** protocol: NETLINK_ROUTE=0, NETLINK_NETFILTER=12. */
export function openNetlink(protocol: number, opts: OpenNetlinkOptions = {}): NetlinkSocket {
  const native = loadNative();
  let fd = -1;
  let portId = 0;
  withErrno(() => ([fd, portId] = native.openSocket(protocol, opts.netns || undefined, opts.rcvbuf ?? 0)), undefined);
  let seq = Math.floor(Math.random() * 0x7fffffff);
  let closed = false;
  const where = opts.netns ? ` in ${opts.netns}` : '';
  return {
    fd,
    request(msg: Buffer): Buffer[] {
      if (closed) throw new Error('netlink: request on a closed socket');
      seq = (seq + 1) >>> 0 || 1;
      msg.writeUInt32LE(seq, 8);
      msg.writeUInt32LE(portId, 12);
      let raw: Buffer;
      try {
        raw = native.request(fd, msg, seq);
      } catch (err) {
        const errno = (err as { errno?: number }).errno;
        throw errno ? new NetlinkError(`netlink${where}: ${(err as Error).message}`, errno) : err;
      }
      const out: Buffer[] = [];
      for (const m of splitMessages(raw)) {
        const h = decodeHeader(m);
        if (h.type === NLMSG_DONE) {
          // A dump can end in an error too (the kernel puts it in DONE's body).
          const errno = h.body.length >= 4 ? -h.body.readInt32LE(0) : 0;
          if (errno > 0) throw new NetlinkError(`netlink dump${where} (type ${msg.readUInt16LE(4)})`, errno);
          continue;
        }
        if (h.type === NLMSG_ERROR) {
          const { errno, kernelMessage } = decodeError(h);
          if (errno !== 0) throw new NetlinkError(`netlink${where} (type ${msg.readUInt16LE(4)})`, errno, kernelMessage);
          continue;
        }
        if (h.flags & NLM_F.DUMP_INTR) {
          // The table changed under the dump: the caller's view may be inconsistent; ask again.
          throw new NetlinkError(`netlink dump${where} interrupted by a concurrent change`, 4 /* EINTR */);
        }
        out.push(m);
      }
      return out;
    },
    close() {
      if (closed) return;
      closed = true;
      native.closeSocket(fd);
    },
  };
}

/** Namespace-bound helpers that need a thread inside the namespace (see src/native/netlink.c). */
export function writeSysctl(netns: string | undefined, key: string, value: string): void {
  withErrno(() => loadNative().writeSysctl(netns || undefined, key, value), netns);
}

/** What `ethtool -K IF tx off` does. */
export function ethtoolTxOff(netns: string | undefined, ifname: string): void {
  withErrno(() => loadNative().ethtoolTxOff(netns || undefined, ifname), netns);
}

/** The addon's errors carry a numeric errno; give them the errno's name as `code`. */
function withErrno(fn: () => unknown, netns: string | undefined): void {
  try {
    fn();
  } catch (err) {
    const errno = (err as { errno?: number }).errno;
    throw errno ? new NetlinkError(`${(err as Error).message}${netns ? ` (in ${netns})` : ''}`, errno) : err;
  }
}
