// How boxes reach each other's pods: Antrea's tunnel types, its noEncap mode, and hybrid
// (tunnel only between boxes on different underlay subnets; the lab then puts boxes on two
// subnets joined by a router). Kept apart from spec.ts so the CLI can offer the choices
// without loading zod.
export const ENCAPS = ['geneve', 'vxlan', 'gre', 'noEncap', 'hybrid'] as const;
export type Encap = (typeof ENCAPS)[number];
export const DEFAULT_ENCAP: Encap = 'geneve';

/** The agent settings that implement a lab encap choice. */
export function agentTrafficMode(encap: Encap): { trafficEncapMode: 'encap' | 'noEncap' | 'hybrid'; tunnelType: 'geneve' | 'vxlan' | 'gre' } {
  if (encap === 'noEncap' || encap === 'hybrid') return { trafficEncapMode: encap, tunnelType: 'geneve' };
  return { trafficEncapMode: 'encap', tunnelType: encap };
}
