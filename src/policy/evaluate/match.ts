// Does a rule's peer set contain an address, do its services contain a connection: the same
// questions the datapath's conjunction clauses answer (agent/policy/match.ts writes them as
// OpenFlow matches), asked of the computed rules directly. Peer sets are compiled once per
// PeerSet object (compute shares one object between rules with equal peers), so many queries
// over one world cost a hash lookup and a few integer compares each.
import { ipFamily, ipToBigInt, parseCIDR } from '../../api/net.js';
import type { PeerSet, RuleService } from '../compute/types.js';

/** An address parsed once per query: IPv4 as a 32-bit unsigned number, IPv6 as a bigint. */
export interface Address {
  text: string;
  v4?: number;
  v6?: bigint;
}

export function parseAddress(text: string): Address | undefined {
  const v4 = ipv4ToNumber(text);
  if (v4 !== undefined) return { text, v4 };
  if (ipFamily(text) === 6) return { text, v6: ipToBigInt(text) };
  return undefined;
}

/** Dotted-quad IPv4 as an unsigned number, by hand (impact preview parses one per connection end); undefined if it is not one. */
function ipv4ToNumber(text: string): number | undefined {
  let n = 0;
  let octet = -1;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (octet < 0 || ++dots > 3) return undefined;
      n = n * 256 + octet;
      octet = -1;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      // No leading zeros, as Go's net.ParseIP (and ipFamily) refuse them.
      if (digits === 1 && octet === 0) return undefined;
      octet = (octet < 0 ? 0 : octet * 10) + (c - 48);
      if (++digits > 3 || octet > 255) return undefined;
    } else return undefined;
  }
  if (dots !== 3 || octet < 0) return undefined;
  return n * 256 + octet;
}

interface CompiledPeers {
  ips: Set<string>;
  /** IPv4 blocks as [network, mask] pairs on unsigned 32-bit numbers. */
  v4: [number, number][];
  v6: { network: bigint; shift: bigint }[];
}

const compiled = new WeakMap<PeerSet, CompiledPeers>();

function compile(peers: PeerSet): CompiledPeers {
  let c = compiled.get(peers);
  if (c) return c;
  c = { ips: new Set(peers.ips), v4: [], v6: [] };
  for (const text of peers.cidrs) {
    const cidr = parseCIDR(text);
    if (!cidr) continue; // compute only produces normalized CIDRs
    if (cidr.family === 4) {
      const mask = cidr.prefixLength === 0 ? 0 : (0xffffffff << (32 - cidr.prefixLength)) >>> 0;
      c.v4.push([Number(cidr.network) >>> 0, mask]);
    } else {
      const shift = BigInt(128 - cidr.prefixLength);
      c.v6.push({ network: cidr.network >> shift, shift });
    }
  }
  compiled.set(peers, c);
  return c;
}

/** True when the peer set holds the address (an `any` set holds every address). */
export function peersContain(peers: PeerSet, addr: Address): boolean {
  if (peers.any) return true;
  const c = compile(peers);
  if (c.ips.has(addr.text)) return true;
  if (addr.v4 !== undefined) {
    for (const [network, mask] of c.v4) if (((addr.v4 & mask) >>> 0) === network) return true;
  } else if (addr.v6 !== undefined) {
    for (const b of c.v6) if (addr.v6 >> b.shift === b.network) return true;
  }
  return false;
}

/**
 * The connection a query describes. Fields left out are wildcards, as Antrea's evaluation
 * ignores ports altogether: without a protocol every rule's services match, without a port
 * (or ICMP type/code) the rule's port (type/code) constraint is not checked.
 */
export interface Connection {
  protocol?: 'TCP' | 'UDP' | 'SCTP' | 'ICMP';
  port?: number;
  icmpType?: number;
  icmpCode?: number;
}

/** True when a rule with these services (undefined: every service) matches the connection. */
export function servicesMatch(services: readonly RuleService[] | undefined, conn: Connection): boolean {
  if (!services || conn.protocol === undefined) return true;
  for (const s of services) {
    if (s.protocol !== conn.protocol) continue;
    if (s.protocol === 'ICMP') {
      if (s.icmpType !== undefined && conn.icmpType !== undefined && s.icmpType !== conn.icmpType) continue;
      if (s.icmpCode !== undefined && conn.icmpCode !== undefined && s.icmpCode !== conn.icmpCode) continue;
      return true;
    }
    if (s.port === undefined || conn.port === undefined) return true;
    if (conn.port >= s.port && conn.port <= (s.endPort ?? s.port)) return true;
  }
  return false;
}
