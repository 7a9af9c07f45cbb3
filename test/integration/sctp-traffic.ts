// SCTP pokes without the kernel's SCTP stack, and listeners for host-network "pods".
//
// The host kernel has no SCTP (socket(IPPROTO_SCTP) fails with EPROTONOSUPPORT and there is no
// module to load), but raw IP sockets of protocol 132 work without it. So an SCTP poke here is
// the first half of an association set-up, made by hand: the client sends an INIT (CRC32c
// checksum, random initiate tag and source port) and counts the poke allowed when the INIT-ACK
// comes back — what agnhost's `connect --protocol=sctp` waits for first. The server is a raw
// socket in the destination's network namespace that answers INIT with INIT-ACK on the ports
// it "listens" on and with ABORT elsewhere, as an SCTP stack does for a closed port. No answer
// within the timeout is `dropped`; an ABORT or an ICMP unreachable quoting our INIT is
// `rejected` — the same verdicts as Traffic's TCP/UDP probes.
//
// A raw socket bound to protocol 132 also keeps the kernel from answering an SCTP packet with
// ICMP protocol-unreachable (ip_local_deliver_finish sends it only when no raw socket took the
// packet), so the responder must run in every namespace that receives SCTP.
//
// The same script serves TCP and UDP echo bound to one address, for host-network pods (upstream's
// `centaur` StatefulSet): a UDP socket bound to 0.0.0.0 in a box's host namespace would answer a
// pod from the gateway address instead of the node address the pod asked.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Lab } from '../../src/lab/lab.js';
import type { BoxState, PodState } from '../../src/lab/state.js';
import { run } from '../../src/lib/exec.js';
import { sleep } from '../../src/lib/process.js';
import { ECHO_LISTENERS_PY, type Verdict } from './traffic.js';

const PYTHON = '/usr/bin/python3';

const L4_PY = String.raw`
import errno, os, random, select, socket, struct, sys, threading, time

IPPROTO_SCTP = 132
INIT, INIT_ACK, ABORT = 1, 2, 6

def _table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t
T = _table()

def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = T[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF

def packet(sport, dport, vtag, chunks):
    # RFC 9260 6.8: CRC32c over the packet with a zero checksum field, stored least significant byte first.
    body = struct.pack('!HHII', sport, dport, vtag, 0) + chunks
    return body[:8] + struct.pack('<I', crc32c(body)) + body[12:]

def chunk(ctype, flags, value):
    c = struct.pack('!BBH', ctype, flags, 4 + len(value)) + value
    return c + b'\0' * (-len(c) % 4)

def init_fields(tag):
    # initiate tag, a_rwnd, outbound streams, inbound streams, initial TSN
    return struct.pack('!IIHHI', tag, 65535, 10, 10, random.getrandbits(32))

def parse(pkt):
    """IPv4 packet -> (src, dst, sport, dport, vtag, first chunk type, chunk value) or None when not a valid SCTP packet."""
    ihl = (pkt[0] & 0x0F) * 4
    sctp = pkt[ihl:]
    if len(sctp) < 16:
        return None
    (got,) = struct.unpack('<I', sctp[8:12])
    if crc32c(sctp[:8] + b'\0\0\0\0' + sctp[12:]) != got:
        return None  # a bad checksum is dropped silently, as an SCTP stack does
    sport, dport, vtag = struct.unpack('!HHI', sctp[:8])
    ctype, _, clen = struct.unpack('!BBH', sctp[12:16])
    return socket.inet_ntoa(pkt[12:16]), socket.inet_ntoa(pkt[16:20]), sport, dport, vtag, ctype, sctp[16:12 + clen]

def ip_header(src, dst):
    # IP_HDRINCL: the kernel fills total length, id and checksum; the source is the address the peer asked.
    return struct.pack('!BBHHHBBH4s4s', 0x45, 0, 0, 0, 0x4000, 64, IPPROTO_SCTP, 0, socket.inet_aton(src), socket.inet_aton(dst))

def serve_sctp(s, ports):
    while True:
        pkt, _ = s.recvfrom(65535)
        p = parse(pkt)
        if not p:
            continue
        src, dst, sport, dport, vtag, ctype, value = p
        if ctype != INIT or vtag != 0 or len(value) < 16:
            continue  # only INITs start anything; INIT-ACKs for our own clients and ABORTs are not ours
        (peer_tag,) = struct.unpack('!I', value[:4])
        if dport in ports:
            cookie = struct.pack('!HH', 7, 4 + 16) + os.urandom(16)  # State Cookie parameter
            reply = chunk(INIT_ACK, 0, init_fields(random.getrandbits(32) or 1) + cookie)
        else:
            reply = chunk(ABORT, 0, b'')  # tag of the INIT's initiate tag, T bit clear (RFC 9260 8.4)
        s.sendto(ip_header(dst, src) + packet(dport, sport, peer_tag, reply), (src, 0))

${ECHO_LISTENERS_PY}

def ports(arg):
    return [int(p) for p in arg.split(',') if p]

def serve(addr, tcp, udp, sctp):
    # Every socket is bound before the SCTP answers start: the caller's readiness check is an SCTP poke.
    ts = echo_threads(addr, ports(tcp), ports(udp))
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, IPPROTO_SCTP)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    ts.append(threading.Thread(target=serve_sctp, args=(s, set(ports(sctp))), daemon=True))
    for t in ts: t.start()
    print('listening', flush=True)
    for t in ts: t.join()

def probe(host, port, timeout):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, IPPROTO_SCTP)
    icmp = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    sport = random.randint(32768, 60999)
    tag = random.getrandbits(32) or 1
    s.sendto(packet(sport, port, 0, chunk(INIT, 0, init_fields(tag))), (host, 0))
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            print('dropped'); return
        ready, _, _ = select.select([s, icmp], [], [], left)
        for r in ready:
            pkt, _ = r.recvfrom(65535)
            if r is icmp:
                ihl = (pkt[0] & 0x0F) * 4
                itype, code = pkt[ihl], pkt[ihl + 1]
                inner = pkt[ihl + 8:]
                if itype != 3 or len(inner) < 24 or inner[9] != IPPROTO_SCTP or socket.inet_ntoa(inner[16:20]) != host:
                    continue
                iihl = (inner[0] & 0x0F) * 4
                isport, idport = struct.unpack('!HH', inner[iihl:iihl + 4])
                if (isport, idport) == (sport, port):
                    print('rejected', 'icmp-unreachable-%d' % code); return
                continue
            p = parse(pkt)
            if not p:
                continue
            src, _, psport, pdport, vtag, ctype, value = p
            if src != host or psport != port or pdport != sport or vtag != tag:
                continue
            if ctype == INIT_ACK:
                # Close what we opened, as a client that gives up would: ABORT with the server's tag.
                (peer_tag,) = struct.unpack('!I', value[:4])
                s.sendto(packet(sport, port, peer_tag, chunk(ABORT, 0, b'')), (host, 0))
                print('allowed'); return
            if ctype == ABORT:
                print('rejected', 'sctp-abort'); return

if sys.argv[1] == 'serve':
    serve(*sys.argv[2:6])
else:
    probe(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
`;

/** Upstream's host-network pod: a box's host namespace and its node address. */
export function hostNetworkPod(box: BoxState, namespace: string, name: string): PodState {
  return { namespace, name, phase: 'running', box: box.name, netns: box.netns, sandboxId: '', labels: {}, ports: [], ip: box.underlayIP };
}

export class SctpTraffic {
  constructor(private readonly lab: Lab, readonly timeoutS = 1) {}

  private get script(): string {
    return path.join(this.lab.dir, 'l4.py');
  }

  async install(): Promise<void> {
    await writeFile(this.script, L4_PY);
  }

  /**
   * Serves SCTP on `sctp` ports (INIT-ACK; ABORT on any other port) in the pod's namespace, and
   * TCP/UDP echo bound to the pod's address on `tcp`/`udp` (host-network pods; ordinary pods get
   * theirs from Traffic). A lab process, so `lab down` stops it; resolves when every port answers.
   */
  async serve(pod: PodState, ports: { sctp: number[]; tcp?: number[]; udp?: number[] }): Promise<void> {
    const bound = ports.tcp?.length || ports.udp?.length ? pod.ip! : '';
    await this.lab.startProcess({
      role: `l4-${pod.namespace}-${pod.name}`,
      command: 'ip',
      args: ['netns', 'exec', pod.netns, PYTHON, '-u', this.script, 'serve', bound, (ports.tcp ?? []).join(','), (ports.udp ?? []).join(','), ports.sctp.join(',')],
    });
    const end = Date.now() + 5000;
    const local = bound || '127.0.0.1';
    for (;;) {
      const checks = await Promise.all(ports.sctp.map((p) => this.probeIn(pod.netns, local, p)));
      if (checks.every((c) => c.verdict === 'allowed')) return;
      if (Date.now() > end) throw new Error(`SCTP responder in ${pod.namespace}/${pod.name} not up: ${checks.map((c) => c.detail).join(', ')}`);
      await sleep(100);
    }
  }

  async probeIn(netns: string, host: string, port: number, timeoutS = this.timeoutS): Promise<{ verdict: Verdict; detail: string; ms: number }> {
    const t0 = Date.now();
    const r = await run('ip', ['netns', 'exec', netns, PYTHON, this.script, 'probe', host, String(port), String(timeoutS)], { allowFailure: true });
    const ms = Date.now() - t0;
    const out = r.stdout.trim();
    const verdict = out.split(' ')[0] as Verdict;
    if (!['allowed', 'dropped', 'rejected'].includes(verdict)) throw new Error(`sctp probe failed: ${r.stderr || out}`);
    return { verdict, detail: `sctp ${out}`, ms };
  }

  /** One SCTP association attempt (INIT → INIT-ACK) from a pod to a pod. */
  probe(from: PodState, to: PodState, port: number): Promise<{ verdict: Verdict; detail: string; ms: number }> {
    return this.probeIn(from.netns, to.ip!, port);
  }
}
