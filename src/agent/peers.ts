// The other boxes as the datapath needs them, from the inventory's Node objects: pod CIDR,
// underlay address, whether traffic to them is tunnelled (Antrea's trafficEncapMode) or
// encrypted (trafficEncryptionMode wireGuard, with the peer's public key).
import type { AgentConfig } from '../api/config.js';
import type { PeerBox } from './connectivity/flows.js';
import { ipToInt } from './ipam/pod-cidr.js';
import type { Inventory } from '../api/inventory.js';

export interface Underlay {
  ip: string;
  prefixLength: number;
}

export function sameSubnet(a: string, b: string, prefixLength: number): boolean {
  const mask = prefixLength === 0 ? 0 : (~0 << (32 - prefixLength)) >>> 0;
  return ((ipToInt(a) & mask) >>> 0) === ((ipToInt(b) & mask) >>> 0);
}

/** Whether `ip` is in `cidr` (a.b.c.d/len). */
export function inCidr(ip: string, cidr: string): boolean {
  const [net, len] = cidr.split('/');
  return sameSubnet(ip, net!, Number(len));
}

/**
 * `wireGuard`: every peer is reached through the WireGuard device, never the tunnel; a peer
 * that has not published its public key yet is left out (its pods are unreachable until it
 * does — never sent in the clear).
 */
export function peersFrom(inv: Inventory, self: string, mode: AgentConfig['trafficEncapMode'], own?: Underlay, wireGuard = false): PeerBox[] {
  const peers: PeerBox[] = [];
  for (const n of inv.nodes.values()) {
    if (n.name === self || !n.podCIDR || !n.internalIP) continue;
    if (wireGuard) {
      if (n.wireGuardPublicKey) peers.push({ name: n.name, podCIDR: n.podCIDR, underlayIP: n.internalIP, encap: false, wireGuard: true, publicKey: n.wireGuardPublicKey });
      continue;
    }
    const encap = mode === 'encap' || (mode === 'hybrid' && !(own && sameSubnet(own.ip, n.internalIP, own.prefixLength)));
    peers.push({ name: n.name, podCIDR: n.podCIDR, underlayIP: n.internalIP, encap });
  }
  return peers.sort((a, b) => a.name.localeCompare(b.name));
}
