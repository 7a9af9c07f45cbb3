// Peers that select Nodes by label — upstream ClusterNetworkPolicy `nodes`, Antrea's
// `nodeSelector` — resolved to the addresses Antrea's controller puts in their address group
// (k8s.GetNodeAllAddrs): the Node's InternalIP and its gateway address, the first host address
// of each pod CIDR (traffic a box's host sends into its pods leaves from there). Only IPv4: the
// pipeline is IPv4 (addressMatch).
import type { InventoryNode } from '../../api/inventory.js';
import type { IPBlock } from '../../api/net.js';
import { ipFamily, parseCIDR } from '../../api/net.js';

function gatewayIPv4(podCIDR: string): string | undefined {
  const c = parseCIDR(podCIDR);
  if (!c || c.family !== 4 || c.prefixLength > 30) return undefined;
  const n = c.network + 1n;
  return [24n, 16n, 8n, 0n].map((s) => String((n >> s) & 0xffn)).join('.');
}

/** The nodes' addresses as /32 blocks, sorted and without repeats; a node with no address yet adds nothing. */
export function nodeAddressBlocks(nodes: readonly InventoryNode[]): IPBlock[] {
  const ips = new Set<string>();
  for (const n of nodes) {
    if (n.internalIP && ipFamily(n.internalIP) === 4) ips.add(n.internalIP);
    for (const cidr of n.podCIDRs.length ? n.podCIDRs : n.podCIDR ? [n.podCIDR] : []) {
      const gw = gatewayIPv4(cidr);
      if (gw) ips.add(gw);
    }
  }
  return [...ips].sort().map((ip) => ({ cidr: `${ip}/32` }));
}
