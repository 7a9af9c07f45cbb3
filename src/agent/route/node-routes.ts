// Host routes to the other boxes' pod CIDRs, on the box's own network stack (the root netns
// on a real box, the box namespace in the lab). In encap mode the route points at the peer's
// gateway IP "onlink" through the local gateway port, so OVS tunnels it (Antrea's trick: the
// ARPResponder answers for the remote gateway). In noEncap mode it points at the peer's
// underlay IP and the underlay network carries pod traffic unencapsulated. With WireGuard it
// points into the WireGuard device (src/agent/wireguard).
// Routes Seine owns carry `proto 250`, so it never removes a route it did not add. Read and
// written over rtnetlink (src/lib/netlink/route.ts).
import { NetlinkError } from '../../lib/netlink/message.js';
import { isGone, withRtnetlink, type Route } from '../../lib/netlink/route.js';
import { parsePodCidr } from '../ipam/pod-cidr.js';

export const SEINE_ROUTE_PROTO = 250;

export interface PeerRoute {
  /** Remote pod CIDR, e.g. 10.42.1.0/24. */
  dst: string;
  via: string;
  /** Absent: the kernel picks the device that reaches `via`. */
  dev?: string;
  onlink: boolean;
}

export type RouteStep = { action: 'add'; route: PeerRoute } | { action: 'del'; route: PeerRoute };

export interface PeerNode {
  podCIDR: string;
  underlayIP: string;
  /** True when traffic to this peer is tunnelled (encap, or hybrid across subnets). */
  encap: boolean;
  /** Encrypted: routed into the WireGuard device. */
  wireGuard?: boolean;
}

/** The gateway IP of a pod CIDR: its first host address (k3s/Antrea convention). */
export const gatewayIP = (podCIDR: string): string => parsePodCidr(podCIDR).gateway;

export function desiredPeerRoutes(peers: PeerNode[], gatewayDev: string, underlayDev?: string, wireGuardDev?: string): PeerRoute[] {
  return peers.map((p) =>
    // The peer's gateway "onlink" through the WireGuard device: a NOARP device, so no neighbour
    // is resolved; the device picks the peer by the destination (its allowed IPs).
    p.wireGuard && wireGuardDev
      ? { dst: p.podCIDR, via: gatewayIP(p.podCIDR), dev: wireGuardDev, onlink: true }
      : p.encap
      ? { dst: p.podCIDR, via: gatewayIP(p.podCIDR), dev: gatewayDev, onlink: true }
      : { dst: p.podCIDR, via: p.underlayIP, dev: underlayDev, onlink: false },
  );
}

/** `current` is what the kernel reports (always with a device); a desired route without one accepts any. */
const same = (current: PeerRoute, desired: PeerRoute) =>
  current.dst === desired.dst && current.via === desired.via && current.onlink === desired.onlink && (desired.dev === undefined || current.dev === desired.dev);

/** Pure plan: delete owned routes that differ from desired, add the missing ones. */
export function planRoutes(current: PeerRoute[], desired: PeerRoute[]): RouteStep[] {
  const steps: RouteStep[] = [];
  for (const c of current) if (!desired.some((d) => same(c, d))) steps.push({ action: 'del', route: c });
  for (const d of desired) if (!current.some((c) => same(c, d))) steps.push({ action: 'add', route: d });
  return steps;
}

export async function listOwnedRoutes(): Promise<PeerRoute[]> {
  return withRtnetlink(undefined, (rt) => {
    const owned = rt.routes({ protocol: SEINE_ROUTE_PROTO }).filter((r): r is Route & { gateway: string } => r.gateway !== undefined);
    const names = owned.length ? new Map(rt.links().map((l) => [l.index, l.name])) : new Map<number, string>();
    return owned.map((r) => ({ dst: r.dst, via: r.gateway, dev: names.get(r.oif ?? 0) ?? '', onlink: r.onlink }));
  });
}

export async function applyRouteSteps(steps: RouteStep[]): Promise<void> {
  withRtnetlink(undefined, (rt) => {
    for (const s of steps) {
      const r = { dst: s.route.dst, gateway: s.route.via, dev: s.route.dev, onlink: s.route.onlink, protocol: SEINE_ROUTE_PROTO };
      if (s.action === 'add') {
        rt.replaceRoute(r);
        continue;
      }
      // Already gone (ESRCH), or its device went with it: the goal is reached.
      try {
        rt.delRoute(r);
      } catch (err) {
        if (!isGone(err) && !(err instanceof NetlinkError && err.code === 'ESRCH')) throw err;
      }
    }
  });
}

export async function reconcilePeerRoutes(desired: PeerRoute[]): Promise<RouteStep[]> {
  const steps = planRoutes(await listOwnedRoutes(), desired);
  await applyRouteSteps(steps);
  return steps;
}
