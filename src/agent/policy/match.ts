// Match fragments for addresses and services, written the way OVS prints them where cheap.
import type { RuleService } from '../../policy/compute/types.js';
import { ipFamily } from '../../api/net.js';
import type { ServiceFrontend } from '../service/frontends.js';

/** A port range as value/mask pairs (OpenFlow has no range match): the classic prefix split. */
export function portRangeMasks(start: number, end: number): { value: number; mask: number }[] {
  const out: { value: number; mask: number }[] = [];
  let p = start;
  while (p <= end) {
    // Largest aligned block starting at p that stays within end.
    let size = p === 0 ? 0x10000 : p & -p;
    while (p + size - 1 > end) size >>= 1;
    out.push({ value: p, mask: 0xffff & ~(size - 1) });
    p += size;
  }
  return out;
}

const PROTO = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' } as const;

/** One match per OpenFlow flow the service needs (a port range may need several). */
export function serviceMatches(s: RuleService): string[][] {
  if (s.protocol === 'ICMP') {
    const m = ['icmp'];
    if (s.icmpType !== undefined) m.push(`icmp_type=${s.icmpType}`);
    if (s.icmpCode !== undefined) m.push(`icmp_code=${s.icmpCode}`);
    return [m];
  }
  const proto = PROTO[s.protocol];
  if (s.port === undefined) return [[proto]];
  if (s.endPort === undefined || s.endPort === s.port) return [[proto, `tp_dst=${s.port}`]];
  return portRangeMasks(s.port, s.endPort).map(({ value, mask }) =>
    mask === 0xffff ? [proto, `tp_dst=${value}`] : [proto, `tp_dst=0x${value.toString(16)}/0x${mask.toString(16)}`]);
}

/** IPv4 address or CIDR match on source or destination; undefined for IPv6 (not in the IPv4 pipeline yet). */
export function addressMatch(side: 'src' | 'dst', address: string): string[] | undefined {
  const bare = address.split('/')[0]!;
  if (ipFamily(bare) !== 4) return undefined;
  const text = address.endsWith('/32') ? bare : address;
  return ['ip', `nw_${side}=${text}`];
}

const IP_PROTO = { TCP: 6, UDP: 17, SCTP: 132 } as const;

/**
 * A connection to a Service frontend, by conntrack's original-direction tuple: the cluster
 * IP:port the client addressed, which the EndpointDNAT commit keeps while the packet itself now
 * carries the endpoint. It is there on every packet of the connection, retransmitted SYNs and
 * affinity-learned choices included, so a toServices rule never depends on which path chose the
 * endpoint; a connection made to an endpoint's own address does not match (Antrea's caveat).
 */
export function serviceFrontendMatch(f: ServiceFrontend): string[] {
  return ['ct_state=+trk-inv', 'ip', `ct_nw_dst=${f.clusterIP}`, `ct_nw_proto=${IP_PROTO[f.protocol]}`, `ct_tp_dst=${f.port}`];
}
