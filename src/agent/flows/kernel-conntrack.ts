// Kernel conntrack through the conntrack tool (conntrack-tools), for boxes on the kernel
// datapath. Counters need net.netfilter.nf_conntrack_acct=1, start times
// nf_conntrack_timestamp=1. `conntrack -L -o extended,id,ktimestamp` lines (measured, 1.4.7):
//   ipv4     2 tcp      6 299 ESTABLISHED src=10.42.0.2 dst=10.42.1.2 sport=40000 dport=5001 packets=3 bytes=180 src=10.42.1.2 dst=10.42.0.2 sport=5001 dport=40000 packets=2 bytes=112 [ASSURED] mark=3 zone=65520 use=1 id=1880587263
//   ipv4     2 icmp     1 29 src=… dst=… type=8 code=0 id=77 packets=0 bytes=0 [UNREPLIED] src=… dst=… type=0 code=0 id=77 packets=0 bytes=0 mark=0 use=1
//   … mark=0 zone=65520 delta-time=12 [start=Wed Nov 25 22:28:42 2026] use=1 id=3244683609
// The first src= opens the original tuple, the second the reply tuple. The tool prints ct_label
// only through a connlabel.conf name map (`labels=` with names or bit numbers), so policy
// enrichment from labels needs that map on such a box.
import { readFile, writeFile } from 'node:fs/promises';
import { run } from '../../lib/exec.js';
import { createLogger } from '../../lib/log.js';
import { type ConnTuple, type ConntrackEntry, type ConntrackSource } from './conntrack.js';

const TCP_STATES = new Set(['NONE', 'SYN_SENT', 'SYN_RECV', 'ESTABLISHED', 'FIN_WAIT', 'CLOSE_WAIT', 'LAST_ACK', 'TIME_WAIT', 'CLOSE', 'LISTEN', 'SYN_SENT2']);

/** One line of `conntrack -L -o extended[,id,ktimestamp]`; undefined for anything else. */
export function parseKernelConntrackLine(line: string, now = Date.now()): ConntrackEntry | undefined {
  const tokens = line.trim().split(/\s+/);
  // ipv4 2 tcp 6 299 [STATE] key=value…
  if (tokens.length < 6 || (tokens[0] !== 'ipv4' && tokens[0] !== 'ipv6')) return undefined;
  const protocol = Number(tokens[3]);
  if (!Number.isInteger(protocol)) return undefined;
  const e: ConntrackEntry = {
    protocol, orig: { src: '', dst: '', sport: 0, dport: 0 }, reply: { src: '', dst: '', sport: 0, dport: 0 },
    zone: 0, mark: 0, labels: 0n, tcpState: '', timeout: Number(tokens[4]),
    counters: { packets: 0, octets: 0, reversePackets: 0, reverseOctets: 0 },
  };
  let side = -1; // 0 original, 1 reply
  let i = 5;
  if (TCP_STATES.has(tokens[5]!)) {
    e.tcpState = tokens[5]!;
    i = 6;
  }
  const tupleOf = (): ConnTuple => (side === 0 ? e.orig : e.reply);
  const rest = tokens.slice(i).join(' ');
  // [start=Wed Nov 25 22:28:42 2026] contains spaces: take it out first.
  const start = /\[start=([^\]]+)\]/.exec(rest);
  if (start) {
    const t = Date.parse(start[1]!);
    if (!Number.isNaN(t)) e.startSeconds = Math.floor(t / 1000);
  }
  for (const tok of rest.replace(/\[start=[^\]]+\]/, '').split(/\s+/)) {
    const eq = tok.indexOf('=');
    if (eq < 0) continue; // [ASSURED], [UNREPLIED], [OFFLOAD]
    const k = tok.slice(0, eq);
    const v = tok.slice(eq + 1);
    switch (k) {
      case 'src': side++; tupleOf().src = v; break;
      case 'dst': tupleOf().dst = v; break;
      case 'sport': tupleOf().sport = Number(v); break;
      case 'dport': tupleOf().dport = Number(v); break;
      case 'id':
        // ICMP's echo id sits inside a tuple; the entry id comes after use=.
        if (side >= 0 && protocol === 1 && e.icmpId === undefined) e.icmpId = Number(v);
        break;
      case 'packets': if (side === 0) e.counters!.packets = Number(v); else e.counters!.reversePackets = Number(v); break;
      case 'bytes': if (side === 0) e.counters!.octets = Number(v); else e.counters!.reverseOctets = Number(v); break;
      case 'mark': e.mark = Number(v); break;
      case 'zone': e.zone = Number(v); break;
      case 'labels': e.labels = parseLabels(v); break;
      case 'delta-time': if (e.startSeconds === undefined) e.startSeconds = Math.floor(now / 1000) - Number(v); break;
    }
  }
  if (side < 1 || !e.orig.src || !e.reply.src) return undefined;
  return e;
}

/** `labels=0x…` (hex) or a comma list of set bit numbers. */
function parseLabels(v: string): bigint {
  if (/^0x[0-9a-f]+$/i.test(v)) return BigInt(v);
  let out = 0n;
  for (const b of v.split(',')) if (/^\d+$/.test(b)) out |= 1n << BigInt(b);
  return out;
}

export function parseKernelConntrack(text: string, zone?: number, now = Date.now()): ConntrackEntry[] {
  const out: ConntrackEntry[] = [];
  for (const line of text.split('\n')) {
    const e = line ? parseKernelConntrackLine(line, now) : undefined;
    if (e && (zone === undefined || e.zone === zone)) out.push(e);
  }
  return out;
}

const log = createLogger('flows.kernel');

/** The sysctls kernel flow records need: per-connection counters, and start times. */
export const CONNTRACK_SYSCTLS = ['net.netfilter.nf_conntrack_acct', 'net.netfilter.nf_conntrack_timestamp'] as const;

export class KernelConntrackSource implements ConntrackSource {
  readonly name = 'kernel';
  /** `netns`: read another network namespace's table (`ip netns exec`). */
  constructor(private readonly opts: { netns?: string } = {}) {}

  /**
   * Turns on conntrack accounting and timestamps in this network namespace (the agent's), as
   * flow counters need; logs what it set. Returns each sysctl's value before.
   */
  async enableAccounting(): Promise<Record<string, number>> {
    const before: Record<string, number> = {};
    for (const name of CONNTRACK_SYSCTLS) {
      const file = `/proc/sys/${name.replace(/\./g, '/')}`;
      before[name] = Number((await readFile(file, 'utf8')).trim());
      if (before[name] !== 1) await writeFile(file, '1\n');
    }
    const set = CONNTRACK_SYSCTLS.filter((n) => before[n] !== 1);
    if (set.length) log.info({ set: set.map((n) => `${n}=1`), before }, `kernel conntrack: set ${set.map((n) => `${n}=1`).join(', ')} for flow counters and start times`);
    else log.info({ sysctls: CONNTRACK_SYSCTLS }, 'kernel conntrack: accounting and timestamps already on');
    return before;
  }

  async dump(zone: number): Promise<ConntrackEntry[]> {
    try {
      const r = await this.cmd('conntrack', ['-L', '-o', 'extended,id,ktimestamp', '-w', String(zone)]);
      return parseKernelConntrack(r, zone);
    } catch (err) {
      if (err instanceof Error && /command not found/.test(err.message)) {
        throw new Error('the conntrack tool is missing: kernel flows are not recorded on this box until it is installed (apt-get install conntrack)');
      }
      throw err;
    }
  }

  async stats(): Promise<{ total: number; max: number }> {
    const r = await this.cmd('sysctl', ['-n', 'net.netfilter.nf_conntrack_count', 'net.netfilter.nf_conntrack_max']);
    const [total, max] = r.trim().split(/\s+/).map(Number);
    return { total: total ?? 0, max: max ?? 0 };
  }

  private async cmd(cmd: string, args: string[]): Promise<string> {
    const r = this.opts.netns ? await run('ip', ['netns', 'exec', this.opts.netns, cmd, ...args]) : await run(cmd, args);
    return r.stdout;
  }
}
