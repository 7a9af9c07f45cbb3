// OVS match text (`tcp,in_port=1,nw_src=10.0.0.0/24,reg0=0x3/0xf,ct_state=+trk-new`) → the
// OpenFlow 1.5 `ofp_match` (OXM TLVs), laid out the way OVS itself encodes a match
// (lib/nx-match.c nx_put_raw): a fixed field order whatever order the text used, aliases
// resolved (`nw_tos=4` and `ip_dscp=1` are one field, `nw_src` of an `arp` flow is arp_spa,
// `tp_dst` of a `tcp` flow is tcp_dst), registers packed in pairs as OpenFlow 1.5's 64-bit
// packet registers. So two texts of one match give the same bytes: the bytes are the match's
// identity (the agent's text and OVS's printed text meet on them).
import { allOnes, fieldByName, OfWriter, parseFieldValue, putOxm, type FieldDef } from './match-fields.js';

/** Shorthand protocol keywords: eth_type and ip_proto. */
const PROTOCOLS: Record<string, [number, number?]> = {
  ip: [0x0800], ipv4: [0x0800], ipv6: [0x86dd], arp: [0x0806], rarp: [0x8035],
  tcp: [0x0800, 6], udp: [0x0800, 17], sctp: [0x0800, 132], icmp: [0x0800, 1],
  tcp6: [0x86dd, 6], udp6: [0x86dd, 17], sctp6: [0x86dd, 132], icmp6: [0x86dd, 58],
};

/** Flow slots (OVS's struct flow): aliases that depend on the protocol share one slot. */
type Slot =
  | 'conj_id' | 'in_port' | 'eth_src' | 'eth_dst' | 'eth_type' | 'nw_src' | 'nw_dst' | 'ipv6_src' | 'ipv6_dst'
  | 'nw_tos' | 'nw_ecn' | 'nw_ttl' | 'ipv6_label' | 'nw_proto' | 'tp_src' | 'tp_dst' | 'tcp_flags' | 'arp_sha' | 'arp_tha'
  | 'tun_id' | 'tun_src' | 'tun_dst' | 'pkt_mark' | 'ct_state' | 'ct_zone' | 'ct_mark' | 'ct_label'
  | 'ct_nw_src' | 'ct_nw_dst' | 'ct_ipv6_src' | 'ct_ipv6_dst' | 'ct_nw_proto' | 'ct_tp_src' | 'ct_tp_dst' | 'metadata';

/** Field name → slot, for names that are an alias of a protocol-dependent slot. */
const SLOT_OF: Record<string, Slot> = {
  ip_src: 'nw_src', ip_dst: 'nw_dst', arp_spa: 'nw_src', arp_tpa: 'nw_dst', ip_proto: 'nw_proto', arp_op: 'nw_proto',
  tcp_src: 'tp_src', udp_src: 'tp_src', sctp_src: 'tp_src', icmp_type: 'tp_src', icmpv6_type: 'tp_src',
  tcp_dst: 'tp_dst', udp_dst: 'tp_dst', sctp_dst: 'tp_dst', icmp_code: 'tp_dst', icmpv6_code: 'tp_dst',
  in_port_oxm: 'in_port', ip_ecn: 'nw_ecn', tunnel_id: 'tun_id',
};

/** ct_state flag names → bits (OVS's CS_*). */
const CT_STATE: Record<string, number> = { new: 0x01, est: 0x02, rel: 0x04, rpl: 0x08, inv: 0x10, trk: 0x20, snat: 0x40, dnat: 0x80 };

interface Val {
  value: bigint;
  mask: bigint;
}

export class MatchError extends Error {
  constructor(readonly token: string, reason: string) {
    super(`match "${token}": ${reason}`);
    this.name = 'MatchError';
  }
}

/** A parsed match: slot values with masks (all-ones mask = exact), plus the 16 registers. */
export class ParsedMatch {
  readonly slots = new Map<Slot, Val>();
  readonly regs = new Map<number, Val>();
  /** Fields named explicitly (tcp_src …), to check their protocol once it is known. */
  readonly named: { token: string; need: string }[] = [];

  clear(): void {
    this.slots.clear();
    this.regs.clear();
    this.named.length = 0;
  }

  get ethType(): number | undefined {
    const v = this.slots.get('eth_type');
    return v ? Number(v.value) : undefined;
  }
  get nwProto(): number | undefined {
    const v = this.slots.get('nw_proto');
    return v ? Number(v.value) : undefined;
  }
}

const T = {
  eth_src: fieldByName('eth_src')!, eth_dst: fieldByName('eth_dst')!, eth_type: fieldByName('eth_type')!,
  ip_src: fieldByName('ip_src')!, ip_dst: fieldByName('ip_dst')!, ipv6_src: fieldByName('ipv6_src')!, ipv6_dst: fieldByName('ipv6_dst')!,
  ip_dscp: fieldByName('ip_dscp')!, ip_ecn: fieldByName('ip_ecn')!, nw_ttl: fieldByName('nw_ttl')!, ipv6_label: fieldByName('ipv6_label')!,
  ip_proto: fieldByName('ip_proto')!, tcp_src: fieldByName('tcp_src')!, tcp_dst: fieldByName('tcp_dst')!, tcp_flags: fieldByName('tcp_flags')!,
  udp_src: fieldByName('udp_src')!, udp_dst: fieldByName('udp_dst')!, sctp_src: fieldByName('sctp_src')!, sctp_dst: fieldByName('sctp_dst')!,
  icmp_type: fieldByName('icmp_type')!, icmp_code: fieldByName('icmp_code')!, icmpv6_type: fieldByName('icmpv6_type')!, icmpv6_code: fieldByName('icmpv6_code')!,
  arp_op: fieldByName('arp_op')!, arp_spa: fieldByName('arp_spa')!, arp_tpa: fieldByName('arp_tpa')!, arp_sha: fieldByName('arp_sha')!, arp_tha: fieldByName('arp_tha')!,
  tun_id: fieldByName('tun_id')!, tun_src: fieldByName('tun_src')!, tun_dst: fieldByName('tun_dst')!, pkt_mark: fieldByName('pkt_mark')!,
  ct_state: fieldByName('ct_state')!, ct_zone: fieldByName('ct_zone')!, ct_mark: fieldByName('ct_mark')!, ct_label: fieldByName('ct_label')!,
  ct_nw_src: fieldByName('ct_nw_src')!, ct_nw_dst: fieldByName('ct_nw_dst')!, ct_ipv6_src: fieldByName('ct_ipv6_src')!, ct_ipv6_dst: fieldByName('ct_ipv6_dst')!,
  ct_nw_proto: fieldByName('ct_nw_proto')!, ct_tp_src: fieldByName('ct_tp_src')!, ct_tp_dst: fieldByName('ct_tp_dst')!,
  metadata: fieldByName('metadata')!, conj_id: fieldByName('conj_id')!, in_port_oxm: fieldByName('in_port_oxm')!,
};
const XREG = Array.from({ length: 8 }, (_, i) => fieldByName(`xreg${i}`)!);

/** Splits at top-level commas (not inside parentheses). */
export function splitTop(text: string): string[] {
  // Most matches have no parentheses and no spaces: one native split.
  if (text.indexOf('(') < 0 && text.indexOf(' ') < 0 && text.indexOf(',,') < 0 && !text.startsWith(',') && !text.endsWith(',')) return text ? text.split(',') : [];
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 40 /* ( */) depth++;
    else if (c === 41 /* ) */) depth--;
    else if (c === 44 /* , */ && depth === 0) {
      if (i > start) out.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  if (start < text.length) {
    const last = text.slice(start).trim();
    if (last) out.push(last);
  }
  return out;
}

function setSlot(m: ParsedMatch, slot: Slot, v: Val, token: string): void {
  const old = m.slots.get(slot);
  if (old && (old.value !== v.value || old.mask !== v.mask)) throw new MatchError(token, `conflicts with an earlier value of ${slot}`);
  m.slots.set(slot, v);
}

function parseCtState(text: string, token: string): Val {
  if (/^(0x[0-9a-f]+|\d+)(\/(0x[0-9a-f]+|\d+))?$/i.test(text)) {
    const [v, mk] = text.split('/');
    const mask = mk === undefined ? 0xffffffffn : BigInt(mk);
    return { value: BigInt(v!) & mask, mask };
  }
  let value = 0;
  let mask = 0;
  const re = /([+-])([a-z]+)/g;
  let seen = 0;
  for (let r; (r = re.exec(text)); ) {
    const bit = CT_STATE[r[2]!];
    if (bit === undefined) throw new MatchError(token, `unknown ct_state flag "${r[2]}"`);
    mask |= bit;
    if (r[1] === '+') value |= bit;
    seen += r[0].length;
  }
  if (seen !== text.length || !seen) throw new MatchError(token, 'ct_state must be +flag/-flag… or value[/mask]');
  return { value: BigInt(value), mask: BigInt(mask) };
}

/** Parses OVS match text into slots (no encoding yet). */
export function parseMatch(text: string, into?: ParsedMatch): ParsedMatch {
  const m = into ?? new ParsedMatch();
  if (into) into.clear();
  for (const token of splitTop(text)) {
    const eq = token.indexOf('=');
    if (eq < 0) {
      const p = PROTOCOLS[token];
      if (!p) throw new MatchError(token, 'unknown keyword');
      setSlot(m, 'eth_type', { value: BigInt(p[0]), mask: 0xffffn }, token);
      if (p[1] !== undefined) setSlot(m, 'nw_proto', { value: BigInt(p[1]), mask: 0xffn }, token);
      continue;
    }
    const name = token.slice(0, eq);
    const text = token.slice(eq + 1);
    if (name === 'ct_state') {
      setSlot(m, 'ct_state', parseCtState(text, token), token);
      continue;
    }
    const reg = /^(x{0,2})reg(\d+)$/.exec(name);
    if (reg) {
      const f = fieldByName(name);
      if (!f) throw new MatchError(token, 'unknown register');
      const { value, mask = allOnes(f.bytes) } = parseValue(f, text, token);
      const n = f.bytes / 4; // 32-bit registers covered
      const first = Number(reg[2]) * n;
      for (let i = 0; i < n; i++) {
        const sh = BigInt(32 * (n - 1 - i));
        const rv = { value: (value >> sh) & 0xffffffffn, mask: (mask >> sh) & 0xffffffffn };
        if (rv.mask) m.regs.set(first + i, rv);
      }
      continue;
    }
    if (name === 'tp_src' || name === 'tp_dst') {
      // The protocol-neutral L4 port names (tcp_src, udp_src, icmp_type … by nw_proto).
      const { value, mask = 0xffffn } = parseValue(T.tcp_src, text, token);
      setSlot(m, name, { value, mask }, token);
      continue;
    }
    const f = fieldByName(name === 'in_port' ? 'in_port_oxm' : name);
    if (!f || name.startsWith('NXM_') || name.startsWith('OXM_')) throw new MatchError(token, 'unknown field');
    if (name === 'nw_tos' || name === 'ip_dscp') {
      // One slot, the TOS byte: nw_tos=4 and ip_dscp=1 are the same match.
      const { value } = parseValue(f, text, token);
      if (name === 'nw_tos' && value & 3n) throw new MatchError(token, 'nw_tos must have its two low (ECN) bits zero');
      setSlot(m, 'nw_tos', { value: name === 'ip_dscp' ? value << 2n : value, mask: 0xfcn }, token);
      continue;
    }
    const slot = (SLOT_OF[name] ?? SLOT_OF[f.name] ?? f.name) as Slot;
    const { value, mask = allOnes(f.bytes) } = parseValue(f, text, token);
    setSlot(m, slot, { value, mask }, token);
    if (SLOT_OF[name] && f.prereq) m.named.push({ token, need: f.prereq });
  }
  return m;
}

function parseValue(f: FieldDef, text: string, token: string): { value: bigint; mask?: bigint } {
  try {
    return parseFieldValue(f, text, f.name);
  } catch (err) {
    throw new MatchError(token, (err as Error).message);
  }
}

const IP = 0x0800;
const IPV6 = 0x86dd;
const ARP = 0x0806;
const RARP = 0x8035;

function need(m: ParsedMatch, slot: Slot, ok: boolean, what: string): void {
  if (!ok && m.slots.has(slot)) throw new MatchError(slot, `needs ${what} in the match (OVS: prerequisites not met)`);
}

/** OVS's prerequisite checks: a field is only matchable once the packet type it lives in is matched. */
function checkPrereqs(m: ParsedMatch): void {
  const et = m.ethType;
  const proto = m.nwProto;
  const isIp = et === IP || et === IPV6;
  need(m, 'nw_src', et === IP || et === ARP || et === RARP, 'ip or arp');
  need(m, 'nw_dst', et === IP || et === ARP || et === RARP, 'ip or arp');
  need(m, 'nw_proto', isIp || et === ARP || et === RARP, 'ip, ipv6 or arp');
  need(m, 'ipv6_src', et === IPV6, 'ipv6');
  need(m, 'ipv6_dst', et === IPV6, 'ipv6');
  need(m, 'ipv6_label', et === IPV6, 'ipv6');
  for (const s of ['nw_tos', 'nw_ecn', 'nw_ttl'] as const) need(m, s, isIp, 'ip or ipv6');
  need(m, 'arp_sha', et === ARP || et === RARP, 'arp');
  need(m, 'arp_tha', et === ARP || et === RARP, 'arp');
  const l4 = isIp && (proto === 6 || proto === 17 || proto === 132 || proto === 1 || proto === 58);
  need(m, 'tp_src', l4, 'tcp, udp, sctp or icmp');
  need(m, 'tp_dst', l4, 'tcp, udp, sctp or icmp');
  need(m, 'tcp_flags', isIp && proto === 6, 'tcp');
  // OVS's is_ct_valid: a state that implies a valid connection (+new, +est, +rel, +rpl, +snat,
  // +dnat), or +trk with an explicit -inv; +trk alone is refused.
  const cs = m.slots.get('ct_state');
  const on = cs ? cs.value & cs.mask : 0n;
  const valid = (on & 0xcfn) !== 0n || ((on & 0x20n) !== 0n && !!cs && (cs.mask & 0x10n) !== 0n && (cs.value & 0x10n) === 0n);
  for (const s of ['ct_nw_src', 'ct_nw_dst', 'ct_ipv6_src', 'ct_ipv6_dst', 'ct_nw_proto', 'ct_tp_src', 'ct_tp_dst'] as const) need(m, s, valid, 'a valid ct_state (+trk-inv, +new, +est, …)');
  for (const { token, need: n } of m.named) {
    const ok =
      n === 'arp' ? et === ARP || et === RARP
      : n === 'ipv4' ? et === IP
      : n === 'ip' ? isIp
      : n === 'tcp' ? isIp && proto === 6
      : n === 'udp' ? isIp && proto === 17
      : n === 'sctp' ? isIp && proto === 132
      : n === 'icmp' ? et === IP && proto === 1
      : n === 'icmpv6' ? et === IPV6 && proto === 58
      : true;
    if (!ok) throw new MatchError(token, `needs ${n} in the match (OVS: prerequisites not met)`);
  }
}

function put(w: OfWriter, s: ParsedMatch['slots'], f: FieldDef, slot: Slot): void {
  const v = s.get(slot);
  if (v && v.mask) putOxm(w, f, v.value & v.mask, v.mask);
}

/** Writes the OXM TLVs of a parsed match in OVS's order (no ofp_match header). */
export function putMatchFields(w: OfWriter, m: ParsedMatch): void {
  checkPrereqs(m);
  const s = m.slots;
  put(w, s, T.conj_id, 'conj_id');
  put(w, s, T.in_port_oxm, 'in_port');
  put(w, s, T.eth_src, 'eth_src');
  put(w, s, T.eth_dst, 'eth_dst');
  put(w, s, T.eth_type, 'eth_type');
  const et = m.ethType;
  if (et === IP || et === IPV6) {
    if (et === IP) {
      put(w, s, T.ip_src, 'nw_src');
      put(w, s, T.ip_dst, 'nw_dst');
    } else {
      put(w, s, T.ipv6_src, 'ipv6_src');
      put(w, s, T.ipv6_dst, 'ipv6_dst');
    }
    const tos = s.get('nw_tos');
    if (tos) putOxm(w, T.ip_dscp, tos.value >> 2n, undefined);
    const ecn = s.get('nw_ecn');
    if (ecn) putOxm(w, T.ip_ecn, ecn.value, undefined);
    put(w, s, T.nw_ttl, 'nw_ttl');
    put(w, s, T.ipv6_label, 'ipv6_label');
    const proto = m.nwProto;
    if (proto !== undefined) {
      put(w, s, T.ip_proto, 'nw_proto');
      if (proto === 6) {
        put(w, s, T.tcp_src, 'tp_src');
        put(w, s, T.tcp_dst, 'tp_dst');
        put(w, s, T.tcp_flags, 'tcp_flags');
      } else if (proto === 17) {
        put(w, s, T.udp_src, 'tp_src');
        put(w, s, T.udp_dst, 'tp_dst');
      } else if (proto === 132) {
        put(w, s, T.sctp_src, 'tp_src');
        put(w, s, T.sctp_dst, 'tp_dst');
      } else if (proto === 1 && et === IP) {
        put(w, s, T.icmp_type, 'tp_src');
        put(w, s, T.icmp_code, 'tp_dst');
      } else if (proto === 58 && et === IPV6) {
        put(w, s, T.icmpv6_type, 'tp_src');
        put(w, s, T.icmpv6_code, 'tp_dst');
      }
    }
  } else if (et === ARP || et === RARP) {
    const op = s.get('nw_proto');
    if (op) putOxm(w, T.arp_op, op.value, undefined);
    put(w, s, T.arp_spa, 'nw_src');
    put(w, s, T.arp_tpa, 'nw_dst');
    put(w, s, T.arp_sha, 'arp_sha');
    put(w, s, T.arp_tha, 'arp_tha');
  }
  put(w, s, T.tun_id, 'tun_id');
  put(w, s, T.tun_src, 'tun_src');
  put(w, s, T.tun_dst, 'tun_dst');
  // OpenFlow 1.5: registers travel as 64-bit packet registers, xreg<i> = reg<2i> << 32 | reg<2i+1>.
  for (let i = 0; i < 8; i++) {
    const hi = m.regs.get(2 * i);
    const lo = m.regs.get(2 * i + 1);
    if (!hi && !lo) continue;
    const value = ((hi?.value ?? 0n) << 32n) | (lo?.value ?? 0n);
    const mask = ((hi?.mask ?? 0n) << 32n) | (lo?.mask ?? 0n);
    putOxm(w, XREG[i]!, value, mask);
  }
  put(w, s, T.pkt_mark, 'pkt_mark');
  put(w, s, T.ct_state, 'ct_state');
  put(w, s, T.ct_zone, 'ct_zone');
  put(w, s, T.ct_mark, 'ct_mark');
  put(w, s, T.ct_label, 'ct_label');
  put(w, s, T.ct_nw_src, 'ct_nw_src');
  put(w, s, T.ct_ipv6_src, 'ct_ipv6_src');
  put(w, s, T.ct_nw_dst, 'ct_nw_dst');
  put(w, s, T.ct_ipv6_dst, 'ct_ipv6_dst');
  const ctProto = s.get('ct_nw_proto');
  if (ctProto && ctProto.value) {
    put(w, s, T.ct_nw_proto, 'ct_nw_proto');
    put(w, s, T.ct_tp_src, 'ct_tp_src');
    put(w, s, T.ct_tp_dst, 'ct_tp_dst');
  }
  put(w, s, T.metadata, 'metadata');
}

/** Reused by putMatch and matchKey, which encode right after parsing (fewer allocations per flow). */
const scratch = new ParsedMatch();

/** The whole `ofp_match` (type OXM, length, TLVs, padding to 8). */
export function putMatch(w: OfWriter, text: string): void {
  const start = w.len;
  w.u16(1); // OFPMT_OXM
  w.u16(0);
  putMatchFields(w, parseMatch(text, scratch));
  w.setU16(start + 2, w.len - start);
  w.pad8(start);
}

/** The match's identity: its OXM TLVs as a string key (two texts of one match give one key). */
export function matchKey(text: string): string {
  const w = new OfWriter(128);
  putMatchFields(w, parseMatch(text, scratch));
  return w.take().toString('latin1');
}
