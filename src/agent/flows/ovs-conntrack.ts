// The box's own OVS userspace conntrack: `dpctl/dump-conntrack -m -s` asked of vswitchd over its
// unixctl socket (what `ovs-appctl -t <vswitchd ctl>` sends, without the process). Lines look like
// (measured, OVS 3.1):
//   tcp,orig=(src=10.42.0.2,dst=10.42.1.2,sport=53644,dport=5001),reply=(src=10.42.1.2,dst=10.42.0.2,sport=5001,dport=53644),id=0,zone=65520,status=0,timeout=29,mark=3,labels=0x2,protoinfo=(state_orig=ESTABLISHED,state_reply=ESTABLISHED,wscale_orig=10,…)
//   icmp,orig=(src=10.42.0.2,dst=10.42.1.2,id=11014,type=8,code=0),reply=(…,id=11014,type=0,code=0),id=0,zone=65520,status=0,mark=3
// There are no counters: they come from the learned flows of FlowAccounting (accounting.ts),
// matched by the tuple each direction has at the Output table.
import { unixctlCall, unixctlSocket } from '../ovs/unixctl.js';
import { tupleKey, type LearnedCounter } from './accounting.js';
import { PROTOCOL_NUMBERS, type ConnTuple, type ConntrackEntry, type ConntrackSource } from './conntrack.js';

/** Splits `a=1,b=(c=2,d=3),e` at the commas outside parentheses into [key, value] pairs. */
export function splitTopLevel(s: string): [string, string][] {
  const out: [string, string][] = [];
  let depth = 0;
  let start = 0;
  const push = (end: number) => {
    const part = s.slice(start, end);
    if (!part) return;
    const eq = part.indexOf('=');
    out.push(eq < 0 ? [part, ''] : [part.slice(0, eq), part.slice(eq + 1)]);
  };
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 40 /* ( */) depth++;
    else if (c === 41 /* ) */) depth--;
    else if (c === 44 /* , */ && depth === 0) {
      push(i);
      start = i + 1;
    }
  }
  push(s.length);
  return out;
}

const inner = (v: string) => new Map(splitTopLevel(v.replace(/^\(|\)$/g, '')));

function tuple(v: string): { t: ConnTuple; icmpId?: number } {
  const m = inner(v);
  const icmp = m.has('type');
  return {
    t: { src: m.get('src') ?? '', dst: m.get('dst') ?? '', sport: icmp ? 0 : Number(m.get('sport') ?? 0), dport: icmp ? 0 : Number(m.get('dport') ?? 0) },
    icmpId: icmp && m.has('id') ? Number(m.get('id')) : undefined,
  };
}

// The common shapes in one regex (the general parser below handles anything else).
const FAST = /^(tcp|udp|icmp|sctp),orig=\(src=([^,]+),dst=([^,]+),(?:sport=(\d+),dport=(\d+)|id=(\d+),type=\d+,code=\d+)\),reply=\(src=([^,]+),dst=([^,]+),(?:sport=(\d+),dport=(\d+)|id=\d+,type=\d+,code=\d+)\)(,.*)?$/;
const field = (tail: string, name: string): string | undefined => {
  const i = tail.indexOf(`,${name}=`);
  if (i < 0) return undefined;
  const start = i + name.length + 2;
  const end = tail.indexOf(',', start);
  return tail.slice(start, end < 0 ? tail.length : end).replace(/\)$/, '');
};

function parseFast(line: string): ConntrackEntry | undefined {
  const m = FAST.exec(line);
  if (!m) return undefined;
  const protocol = PROTOCOL_NUMBERS[m[1]!]!;
  const tail = m[11] ?? '';
  const icmp = m[6] !== undefined;
  const labels = field(tail, 'labels');
  const timeout = field(tail, 'timeout');
  const e: ConntrackEntry = {
    protocol,
    orig: { src: m[2]!, dst: m[3]!, sport: icmp ? 0 : Number(m[4]), dport: icmp ? 0 : Number(m[5]) },
    reply: { src: m[7]!, dst: m[8]!, sport: icmp ? 0 : Number(m[9]), dport: icmp ? 0 : Number(m[10]) },
    zone: Number(field(tail, 'zone') ?? 0), mark: Number(field(tail, 'mark') ?? 0), labels: labels ? BigInt(labels) : 0n,
    tcpState: protocol === 6 ? (field(tail, 'protoinfo=(state_orig') ?? '') : '',
  };
  if (icmp) e.icmpId = Number(m[6]);
  if (timeout !== undefined) e.timeout = Number(timeout);
  return e;
}

/** One dump-conntrack line; undefined for lines that are not entries. */
export function parseOvsConntrackLine(line: string): ConntrackEntry | undefined {
  return parseFast(line) ?? parseGeneral(line);
}

/** Any dump-conntrack line, field by field (slower; for shapes the fast path does not know). */
export function parseGeneral(line: string): ConntrackEntry | undefined {
  const parts = splitTopLevel(line.trim());
  if (parts.length < 3) return undefined;
  const [protoName] = parts[0]!;
  const protocol = PROTOCOL_NUMBERS[protoName];
  if (protocol === undefined) return undefined;
  let orig: ReturnType<typeof tuple> | undefined;
  let reply: ReturnType<typeof tuple> | undefined;
  const e: Omit<ConntrackEntry, 'orig' | 'reply' | 'protocol'> = { zone: 0, mark: 0, labels: 0n, tcpState: '' };
  for (const [k, v] of parts.slice(1)) {
    switch (k) {
      case 'orig': orig = tuple(v); break;
      case 'reply': reply = tuple(v); break;
      case 'zone': e.zone = Number(v); break;
      case 'mark': e.mark = Number(v); break;
      case 'labels': e.labels = BigInt(v); break;
      case 'timeout': e.timeout = Number(v); break;
      case 'protoinfo': {
        // Antrea reports one state per connection; the original direction's is the one that moves first.
        if (protocol === 6) e.tcpState = inner(v).get('state_orig') ?? '';
        break;
      }
    }
  }
  if (!orig || !reply || !orig.t.src || !reply.t.src) return undefined;
  return { protocol, orig: orig.t, reply: reply.t, ...(orig.icmpId !== undefined ? { icmpId: orig.icmpId } : {}), ...e };
}

export function parseOvsConntrack(text: string, zone?: number): ConntrackEntry[] {
  const out: ConntrackEntry[] = [];
  for (const line of text.split('\n')) {
    const e = line ? parseOvsConntrackLine(line) : undefined;
    if (e && (zone === undefined || e.zone === zone)) out.push(e);
  }
  return out;
}

/**
 * Adds counters to userspace entries. At Output, forward packets look like the reply tuple
 * reversed (after DNAT/SNAT) and reply packets like the original tuple reversed (after un-NAT).
 */
export function attachCounters(entries: ConntrackEntry[], counters: readonly LearnedCounter[], nowS = Math.floor(Date.now() / 1000)): void {
  const byKey = new Map<string, LearnedCounter>();
  for (const c of counters) byKey.set(c.key, c);
  for (const e of entries) {
    const fwd = byKey.get(tupleKey(e.protocol, e.reply.dst, e.reply.src, e.reply.dport, e.reply.sport));
    const rev = byKey.get(tupleKey(e.protocol, e.orig.dst, e.orig.src, e.orig.dport, e.orig.sport));
    e.counters = { packets: fwd?.packets ?? 0, octets: fwd?.octets ?? 0, reversePackets: rev?.packets ?? 0, reverseOctets: rev?.octets ?? 0 };
    // The forward counter was learned from the connection's first packet (unless it idled out since).
    if (fwd && e.startSeconds === undefined) e.startSeconds = nowS - Math.floor(fwd.durationS);
  }
}

export interface OvsConntrackOptions {
  /** `<rundir>/ovs-vswitchd.ctl` of the box's own vswitchd. */
  vswitchdCtl: string;
  env?: NodeJS.ProcessEnv;
  /** Learned per-connection counters (a dump of FlowAccounting). */
  counters: () => Promise<LearnedCounter[]>;
}

export class OvsConntrackSource implements ConntrackSource {
  readonly name = 'ovs-userspace';
  private socket?: Promise<string>;
  constructor(private readonly opts: OvsConntrackOptions) {}

  async dump(zone: number): Promise<ConntrackEntry[]> {
    const [text, counters] = await Promise.all([
      this.appctl(['dpctl/dump-conntrack', '-m', '-s', `zone=${zone}`]),
      this.opts.counters(),
    ]);
    const entries = parseOvsConntrack(text, zone);
    attachCounters(entries, counters);
    return entries;
  }

  async stats(): Promise<{ total: number; max: number }> {
    const [s, m] = await Promise.all([this.appctl(['dpctl/ct-stats-show']), this.appctl(['dpctl/ct-get-maxconns'])]);
    return { total: Number(/Total:\s*(\d+)/.exec(s)?.[1] ?? 0), max: Number(m.trim()) || 0 };
  }

  /** ovs-appctl's request, sent straight to vswitchd's control socket (unixctl.ts): no process per poll. */
  private async appctl(args: string[]): Promise<string> {
    const [method, ...params] = args as [string, ...string[]];
    this.socket ??= unixctlSocket(this.opts.vswitchdCtl, this.opts.env);
    const socket = await this.socket.catch((err: unknown) => {
      this.socket = undefined; // vswitchd may not have written its pid file yet: look again next time
      throw err;
    });
    try {
      return await unixctlCall(socket, method, params);
    } catch (err) {
      // A restarted vswitchd (system OVS) listens on a new <pid>.ctl: resolve it again next time.
      if (!this.opts.vswitchdCtl.includes('/')) this.socket = undefined;
      throw err;
    }
  }
}
