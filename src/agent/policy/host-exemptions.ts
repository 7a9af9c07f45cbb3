// What the host firewall never cuts, whatever the rules say: the box's channel to its
// controller (MQTT, and the REST endpoint on the same host for certificate renewal and release
// downloads: every TCP port of the controller's address), its k3s API server, and its overlay's
// own packets in and out (the tunnel's, or WireGuard's: the pods' traffic inside them is policed
// in OVS once unwrapped). Antrea does not special-case these (its docs warn that a default-deny
// can take a Node out of the cluster); a Seine box cut from its controller could never be told
// to undo the rule, and one cut from its peers would cut its pods off the fleet.
import { lookup } from 'node:dns/promises';
import type { AgentConfig } from '../../api/config.js';
import { ipFamily } from '../../api/net.js';
import type { HostExemption, HostOverlayExemption } from '../../api/host-policy.js';
import { WG_EGRESS_PORT } from '../egress/wireguard-path.js';
import { createLogger } from '../../lib/log.js';
import { resolveKubeConnection } from '../inventory/kubeconfig.js';

const log = createLogger('policy/host');

/** IPv4 addresses of a URL's host (none for unix sockets or unresolvable names, logged). */
async function addressesOf(url: string): Promise<string[]> {
  let host: string;
  try {
    host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return [];
  }
  if (!host) return [];
  if (ipFamily(host)) return ipFamily(host) === 4 ? [host] : [];
  try {
    return (await lookup(host, { all: true, family: 4 })).map((a) => a.address);
  } catch (err) {
    log.warn({ err, host }, 'cannot resolve a host the host firewall keeps open');
    return [];
  }
}

/** OVS's own tunnel ports (Seine sets no dst_port). */
const TUNNEL_UDP_PORTS = { geneve: 6081, vxlan: 4789 } as const;

/** The overlay's packets, in and out: WireGuard's port (and the Egress VXLAN inside it), else the tunnel's. */
export function overlayExemptions(cfg: Pick<AgentConfig, 'trafficEncapMode' | 'tunnelType' | 'trafficEncryptionMode' | 'wireGuard'>): HostOverlayExemption[] {
  if (cfg.trafficEncryptionMode === 'wireGuard') {
    return [
      { protocol: 'udp', port: cfg.wireGuard.port, what: 'wireguard' },
      { protocol: 'udp', port: WG_EGRESS_PORT, device: cfg.wireGuard.interfaceName, what: 'wireguard-egress' },
    ];
  }
  if (cfg.trafficEncapMode === 'noEncap') return [];
  if (cfg.tunnelType === 'gre') return [{ protocol: 'gre', what: 'tunnel' }];
  return [{ protocol: 'udp', port: TUNNEL_UDP_PORTS[cfg.tunnelType], what: 'tunnel' }];
}

export async function hostExemptions(cfg: Pick<AgentConfig, 'controller' | 'inventory' | 'trafficEncapMode' | 'tunnelType' | 'trafficEncryptionMode' | 'wireGuard'>): Promise<HostExemption[]> {
  const out: HostExemption[] = [...overlayExemptions(cfg)];
  if (cfg.controller && !cfg.controller.url.includes('+unix:')) {
    for (const ip of await addressesOf(cfg.controller.url)) out.push({ ip, what: 'controller' });
  }
  if (cfg.inventory.source === 'kubernetes') {
    try {
      const server = resolveKubeConnection(cfg.inventory.kubeconfig).server;
      const port = Number(server.port || (server.protocol === 'https:' ? 443 : 80));
      for (const ip of await addressesOf(server.href)) out.push({ ip, port, what: 'kubernetes-api' });
    } catch (err) {
      log.warn({ err }, 'no Kubernetes API server address to keep open');
    }
  }
  return out;
}
