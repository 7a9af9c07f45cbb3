// Per-connection packet and byte counters from OVS itself. The userspace datapath's conntrack
// keeps no counters (shared/reference/ovs-lab.md), so the pipeline learns one OpenFlow flow per
// connection and direction and lets OVS count:
//
//   Output           every forwarded packet: resubmit(,FlowAccounting), then output
//   FlowAccounting   learned flows (priority 100, one per direction and 5-tuple) count; a
//                    packet that has none (the first of a connection, or after the learned
//                    flow idled out) hits the learner, which learns both directions and forks
//                    a copy through ct(table=FlowAccounting): a recirculation sees the flows it
//                    just learned (a resubmit in the same pass would not), so the first packet
//                    counts too. The copy ends there; the original goes on to its output.
//   DenyAccounting   the same for denied packets, learned by the policy drop flows with the
//                    rule (conjunction id) or K8s isolation in the learned flow's cookie.
//
// Learned flows carry a cookie with the LEARNED bit; the bridge treats them as foreign (never
// adopted or deleted by reconciles), so counts survive agent restarts. OVS counts frames: the
// parser subtracts the 14-byte Ethernet header per packet so octets are IP bytes, as kernel
// conntrack counts them.
import { Category, CATEGORY_MASK, encodeCookie, type CookieAllocator, type CookieFilter } from '../ovs/cookie.js';
import type { Flow, OvsFlow } from '../ovs/flow.js';
import type { Pipeline } from '../ovs/pipeline.js';
import { CT_ZONE } from '../connectivity/registers.js';
import type { FlowDescCursor } from '../../lib/openflow/flow-stats.js';

const LEARNED_BIT = 1n << 39n;
const KIND_SHIFT = 32n;
/** What a learned flow counts (bits 32-35 of its cookie's object id). */
// SessionAffinity: the client → endpoint choices ClientIP Services learn (src/agent/service), foreign like the counters.
export const LearnedKind = { Connection: 1, DeniedByRule: 2, IsolatedIngress: 3, IsolatedEgress: 4, SessionAffinity: 5 } as const;
export type LearnedKindCode = (typeof LearnedKind)[keyof typeof LearnedKind];

const CATEGORY = BigInt(Category.FlowAccounting) << 40n;
/** Every learned flow (the bridge's `foreign` filter). */
export const LEARNED_FLOWS: CookieFilter = { value: CATEGORY | LEARNED_BIT, mask: CATEGORY_MASK | LEARNED_BIT };

/** Learned flows of one kind. */
export const learnedFilter = (kind: LearnedKindCode): CookieFilter => ({
  value: LEARNED_FLOWS.value | (BigInt(kind) << KIND_SHIFT),
  mask: LEARNED_FLOWS.mask | (0xfn << KIND_SHIFT),
});

/** Cookie of a learned flow (round 0: no incarnation wrote it). */
export function learnedCookie(kind: LearnedKindCode, conjId = 0): bigint {
  return encodeCookie({ round: 0, category: Category.FlowAccounting, objectId: LEARNED_BIT | (BigInt(kind) << KIND_SHIFT) | BigInt(conjId >>> 0) });
}

export function decodeLearnedCookie(cookie: bigint): { kind: number; conjId: number } | undefined {
  if ((cookie & LEARNED_FLOWS.mask) !== LEARNED_FLOWS.value) return undefined;
  return { kind: Number((cookie >> KIND_SHIFT) & 0xfn), conjId: Number(cookie & 0xffffffffn) };
}

/** Learned flows idle out after this long without a packet; the next packet learns them again. */
export const COUNTER_IDLE_TIMEOUT_S = 300;
export const DENY_IDLE_TIMEOUT_S = 60;
const LEARN_PRIORITY = 100;
/** reg9 bit 31 marks the learner's forked copy, so a copy that still finds no learned flow ends instead of forking again. */
const FORKED = '0x80000000/0x80000000';
const NOT_FORKED = 'reg9=0/0x80000000';

type Proto = 'tcp' | 'udp' | 'ip';
const PROTOS: Proto[] = ['tcp', 'udp', 'ip'];
const L4: Record<'tcp' | 'udp', [string, string]> = { tcp: ['NXM_OF_TCP_SRC[]', 'NXM_OF_TCP_DST[]'], udp: ['NXM_OF_UDP_SRC[]', 'NXM_OF_UDP_DST[]'] };

/** The learn() action for one direction of the current packet's 5-tuple (`ip`: protocol, src, dst). */
function learn(table: number, proto: Proto, reverse: boolean, cookie: bigint, idle: number): string {
  const ip = reverse ? ['NXM_OF_IP_SRC[]=NXM_OF_IP_DST[]', 'NXM_OF_IP_DST[]=NXM_OF_IP_SRC[]'] : ['NXM_OF_IP_SRC[]', 'NXM_OF_IP_DST[]'];
  const head = proto === 'ip' ? ['NXM_OF_IP_PROTO[]'] : [`nw_proto=${proto === 'tcp' ? 6 : 17}`];
  let l4: string[] = [];
  if (proto !== 'ip') {
    const [s, d] = L4[proto];
    l4 = reverse ? [`${s}=${d}`, `${d}=${s}`] : [s, d];
  }
  const spec = [`table=${table}`, `idle_timeout=${idle}`, `priority=${LEARN_PRIORITY}`, `cookie=0x${cookie.toString(16)}`, 'eth_type=0x800', ...head, ...ip, ...l4];
  return `learn(${spec.join(',')})`;
}

/** The learner flows of FlowAccounting (the miss flow, drop, comes with the pipeline). */
export function accountingFlows(pipeline: Pipeline, cookies: CookieAllocator): Flow[] {
  if (!pipeline.has('FlowAccounting')) return [];
  const table = pipeline.id('FlowAccounting');
  const cookie = cookies.cookie('FlowAccounting');
  const counted = learnedCookie(LearnedKind.Connection);
  return PROTOS.map((proto) => ({
    table: 'FlowAccounting' as const,
    priority: proto === 'ip' ? 1 : 2,
    match: ['ct_state=+trk', proto, NOT_FORKED],
    actions: [
      learn(table, proto, false, counted, COUNTER_IDLE_TIMEOUT_S),
      learn(table, proto, true, counted, COUNTER_IDLE_TIMEOUT_S),
      `set_field:${FORKED}->reg9`,
      `ct(table=${table},zone=${CT_ZONE})`,
    ],
    cookie,
  }));
}

/**
 * A policy drop flow, split per protocol so each variant first learns a per-connection deny
 * counter (DenyAccounting) and forks a copy there to be counted, then does `actions`. Without
 * the DenyAccounting table: the flow unchanged.
 */
export function withDenyAccounting(flow: Flow, pipeline: Pipeline, kind: LearnedKindCode, conjId = 0): Flow[] {
  if (!pipeline.has('DenyAccounting')) return [flow];
  const table = pipeline.id('DenyAccounting');
  const cookie = learnedCookie(kind, conjId);
  const rest = flow.actions.filter((a) => a !== 'drop');
  return PROTOS.map((proto) => ({
    ...flow,
    // `ip` last and lower: an OpenFlow table picks the highest priority, and tcp/udp must win.
    priority: proto === 'ip' ? flow.priority : flow.priority + 1,
    match: [...flow.match.filter((m) => m !== 'ip'), proto],
    // No 'drop' (OVS refuses it next to other actions): an action list that never outputs drops.
    actions: [learn(table, proto, false, cookie, DENY_IDLE_TIMEOUT_S), `ct(table=${table},zone=${CT_ZONE})`, ...rest],
  }));
}

/** One direction's counters as OVS holds them, by the tuple key the learned flow matches. */
export interface LearnedCounter {
  key: string;
  kind: number;
  conjId: number;
  protocol: number;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  packets: number;
  /** IP bytes (frame bytes minus 14 per packet). */
  octets: number;
  /** Seconds since OVS installed (learned) the flow. */
  durationS: number;
}

export const tupleKey = (protocol: number, src: string, dst: string, sport: number, dport: number) => `${protocol}|${src}|${sport}|${dst}|${dport}`;

const ETHERNET_HEADER = 14;

const CATEGORY_NUM = Category.FlowAccounting;
// One learned flow line of `dump-flows` (with stats), as OVS prints it.
const LEARNED_LINE = /cookie=0x([0-9a-f]+), duration=([\d.]+)s, table=\d+, n_packets=(\d+), n_bytes=(\d+),[^\n]*? priority=\d+,([^ \n]+) actions=/g;

/**
 * Learned flows straight from `dump-flows` text (stats on): 20k lines parse in a few tens of ms,
 * where the general flow parser plus BigInt cookie decoding took hundreds.
 */
export function learnedCountersFromText(text: string): LearnedCounter[] {
  const out: LearnedCounter[] = [];
  for (const m of text.matchAll(LEARNED_LINE)) {
    const hex = m[1]!;
    // 64-bit cookie as two numbers: high 32 bits hold round(16) | category(8) | learned bit + kind (object id bits 32-39).
    const high = hex.length > 8 ? parseInt(hex.slice(0, -8), 16) : 0;
    if (((high >>> 8) & 0xff) !== CATEGORY_NUM || !(high & 0x80)) continue;
    const fields = parseLearnedMatch(m[5]!);
    if (!fields) continue;
    const packets = Number(m[3]);
    out.push({
      kind: high & 0xf, conjId: parseInt(hex.slice(-8), 16), ...fields,
      key: tupleKey(fields.protocol, fields.src, fields.dst, fields.sport, fields.dport),
      packets, octets: Math.max(0, Number(m[4]) - ETHERNET_HEADER * packets), durationS: Number(m[2]),
    });
  }
  return out;
}

// OXM basic fields of a learned flow's match as OVS dumps it in OpenFlow 1.5.
const OXM = 0x8000;
const F_IP_PROTO = 10;
const F_IPV4_SRC = 11;
const F_IPV4_DST = 12;
const L4_FIELDS: Record<number, [number, number]> = { 6: [13, 14], 17: [15, 16], 132: [17, 18] };
const ip4At = (b: Buffer, at: number) => `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;

/**
 * Learned flows straight from the binary flow stats reply: the cookie read as two numbers, the
 * 5-tuple from the match TLVs in place, no text and no object per field (10k connections, two
 * learned flows each, on every exporter poll).
 */
export function learnedCountersOf(c: FlowDescCursor): LearnedCounter[] {
  const out: LearnedCounter[] = [];
  while (c.next()) {
    const high = c.cookieHigh;
    if (((high >>> 8) & 0xff) !== CATEGORY_NUM || !(high & 0x80)) continue;
    const b = c.buffer;
    const src = c.findTlv(OXM, F_IPV4_SRC);
    const dst = c.findTlv(OXM, F_IPV4_DST);
    const proto = c.findTlv(OXM, F_IP_PROTO);
    if (src < 0 || dst < 0 || proto < 0) continue;
    const protocol = b[proto]!;
    let sport = 0;
    let dport = 0;
    const l4 = L4_FIELDS[protocol];
    if (l4) {
      const s = c.findTlv(OXM, l4[0]);
      const d = c.findTlv(OXM, l4[1]);
      if (s >= 0) sport = b.readUInt16BE(s);
      if (d >= 0) dport = b.readUInt16BE(d);
    }
    const srcIp = ip4At(b, src);
    const dstIp = ip4At(b, dst);
    const packets = c.packets;
    out.push({
      kind: high & 0xf, conjId: c.cookieLow, protocol, src: srcIp, dst: dstIp, sport, dport,
      key: tupleKey(protocol, srcIp, dstIp, sport, dport),
      packets, octets: Math.max(0, c.bytes - ETHERNET_HEADER * packets), durationS: c.durationS,
    });
  }
  return out;
}

/** Learned flows (dumped with stats) as counters; other flows are skipped. */
export function learnedCounters(flows: readonly OvsFlow[]): LearnedCounter[] {
  const out: LearnedCounter[] = [];
  for (const f of flows) {
    const c = decodeLearnedCookie(f.cookie);
    if (!c) continue;
    const m = parseLearnedMatch(f.match);
    if (!m) continue;
    const packets = f.nPackets ?? 0;
    out.push({ ...c, ...m, key: tupleKey(m.protocol, m.src, m.dst, m.sport, m.dport), packets, octets: Math.max(0, (f.nBytes ?? 0) - ETHERNET_HEADER * packets), durationS: f.durationS ?? 0 });
  }
  return out;
}

/** `tcp,nw_src=…,nw_dst=…,tp_src=…,tp_dst=…` / `udp,…` / `ip,nw_src=…,nw_dst=…,nw_proto=N`. */
export function parseLearnedMatch(match: string): { protocol: number; src: string; dst: string; sport: number; dport: number } | undefined {
  let protocol = -1;
  let src = '';
  let dst = '';
  let sport = 0;
  let dport = 0;
  for (const part of match.split(',')) {
    const eq = part.indexOf('=');
    const k = eq < 0 ? part : part.slice(0, eq);
    const v = eq < 0 ? '' : part.slice(eq + 1);
    switch (k) {
      case 'tcp': protocol = 6; break;
      case 'udp': protocol = 17; break;
      case 'icmp': protocol = 1; break;
      case 'sctp': protocol = 132; break;
      case 'nw_proto': protocol = Number(v); break;
      case 'nw_src': src = v; break;
      case 'nw_dst': dst = v; break;
      case 'tp_src': sport = Number(v); break;
      case 'tp_dst': dport = Number(v); break;
    }
  }
  return protocol >= 0 && src && dst ? { protocol, src, dst, sport, dport } : undefined;
}
