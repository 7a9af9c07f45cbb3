// Egress on the box: realizes the Egresses of the desired document with the controller's
// decisions (EgressAssignment). The box holding an Egress IP puts it on its uplink and SNATs
// every selected pod (its own, and those other boxes tunnel to it); the other boxes tunnel
// their selected pods' outbound traffic to it (flows.ts). An IP the box no longer holds is
// released. Pods not selected are masqueraded to the box IP (snat-rules.ts).
import type { EgressAssignment } from '../../api/egress.js';
import type { DesiredObject } from '../../api/node-state.js';
import { parseObjectKey } from '../../api/node-state.js';
import { errorMessage } from '../../lib/errors.js';
import { createLogger } from '../../lib/log.js';
import type { PeerBox } from '../connectivity/flows.js';
import { cidrContains, parsePodCidr } from '../ipam/pod-cidr.js';
import type { FlowFeature } from '../datapath.js';
import type { RealizeOutcome, Realizer, RealizerRegistry } from '../sync/realizers.js';
import { reconcileEgressIPs } from './egress-ip.js';
import { egressFlows, type EgressTunnel } from './flows.js';
import { applyNatPlan, natChainExists, type SnatRule } from './snat-rules.js';
import { gatewayIP } from '../route/node-routes.js';
import { syncWgEgressPath, syncWgEgressPodRules, WG_EGRESS_DEV, type WgEgressPodRule } from './wireguard-path.js';

const log = createLogger('egress');

export interface EgressAgentOptions {
  node: string;
  podCIDR: string;
  serviceCIDR: string;
  gatewayMac: string;
  peers: () => PeerBox[];
  /** The device holding the node's internal IP (where Egress IPs go); undefined: none found. */
  uplink: () => Promise<string | undefined>;
  /** Converges the flows (the feature's flows are read from this object). */
  syncDatapath: () => Promise<void>;
  /** trafficEncryptionMode wireGuard: remote egress boxes are reached wrapped inside WireGuard (wireguard-path.ts). */
  wireGuard?: { mtu: number };
}

export class EgressAgent implements Realizer {
  private tunnels: EgressTunnel[] = [];
  /** The tunnels the flows were last synced with (JSON); undefined until a sync succeeded. */
  private syncedTunnels?: string;
  private snat: SnatRule[] = [];
  private readonly ownCidr;

  constructor(private readonly o: EgressAgentOptions) {
    this.ownCidr = parsePodCidr(o.podCIDR);
  }

  register(registry: RealizerRegistry): void {
    registry.registerRealizer({ kind: 'Egress', group: 'crd.antrea.io' }, this);
  }

  readonly feature: FlowFeature = {
    name: 'egress',
    flows: (pipeline, cookies) => egressFlows(this.tunnels, this.o.gatewayMac, pipeline, cookies),
  };

  /**
   * Masquerading for the box's pods, before any Egress arrives (and without a controller).
   * `keepExisting`: a restarted agent leaves the chain it finds (with its Egress SNAT rules) in
   * place until it realizes its persisted desired state, so no new connection leaves with the
   * wrong address meanwhile.
   */
  async start(keepExisting = false): Promise<void> {
    // The WireGuard path is set up either way: this box may be the egress box before any Egress reaches it.
    if (keepExisting && (await natChainExists())) await this.syncWireGuardPath().catch((err) => log.warn({ err: errorMessage(err) }, 'egress over WireGuard not set up'));
    else await this.refresh();
  }

  /** Re-applies the chain (the peers' pod CIDRs changed). */
  async refresh(): Promise<void> {
    await this.applyNat().catch((err) => log.warn({ err: errorMessage(err) }, 'pod masquerading not installed (apt-get install iptables)'));
    await this.syncWireGuardPath().catch((err) => log.warn({ err: errorMessage(err) }, 'egress over WireGuard not set up'));
  }

  /** The device, tables and marks every WireGuard box has, as egress box and as source box. */
  private async syncWireGuardPath(): Promise<void> {
    if (!this.o.wireGuard) return;
    const peers = this.o.peers().filter((p) => p.wireGuard).map((p) => ({ podCIDR: p.podCIDR, gatewayIP: gatewayIP(p.podCIDR) }));
    await syncWgEgressPath({ gatewayIP: this.ownCidr.gateway, mtu: this.o.wireGuard.mtu, peers, clusterCIDRs: this.clusterCIDRs() });
  }

  private clusterCIDRs(): string[] {
    return [this.ownCidr.cidr, this.o.serviceCIDR, ...this.o.peers().map((p) => p.podCIDR)];
  }

  async realize(objects: ReadonlyMap<string, DesiredObject>): Promise<ReadonlyMap<string, RealizeOutcome>> {
    const outcomes = new Map<string, RealizeOutcome>();
    const held = new Set<string>();
    const snat: SnatRule[] = [];
    const tunnels: EgressTunnel[] = [];
    const wrapped: WgEgressPodRule[] = [];
    const peers = new Map(this.o.peers().map((p) => [p.name, p]));
    for (const [key, obj] of objects) {
      const a: EgressAssignment | undefined = obj.egress;
      const name = parseObjectKey(key)?.name ?? key;
      if (!a?.egressIP || !a.egressNode) {
        outcomes.set(key, { ok: false, reason: a?.reason ?? 'no egress IP or node assigned by the controller' });
        continue;
      }
      if (a.egressNode === this.o.node) {
        held.add(a.egressIP);
        for (const podIP of a.podIPs) snat.push({ podIP, egressIP: a.egressIP, egress: name });
        outcomes.set(key, { ok: true });
        continue;
      }
      const local = a.podIPs.filter((ip) => cidrContains(this.ownCidr, ip));
      const peer = peers.get(a.egressNode);
      if (local.length && !peer) outcomes.set(key, { ok: false, reason: `egress node ${a.egressNode} is not a known peer (no internal IP or pod CIDR yet)` });
      else if (local.length && peer!.wireGuard && this.o.wireGuard) {
        for (const podIP of local) wrapped.push({ podIP, gatewayIP: gatewayIP(peer!.podCIDR) });
        outcomes.set(key, { ok: true });
      } else if (local.length && !peer!.encap) outcomes.set(key, { ok: false, reason: `egress node ${a.egressNode} is reached without a tunnel (noEncap): remote Egress needs encap` });
      else {
        for (const podIP of local) tunnels.push({ egress: key, podIP, egressNodeIP: peer!.underlayIP });
        outcomes.set(key, { ok: true });
      }
    }
    // The IP and the SNAT rules first, then the flows: a pod's traffic moves here only once
    // this box can send it out.
    const failAll = (reason: string) => {
      for (const key of objects.keys()) outcomes.set(key, { ok: false, reason });
    };
    try {
      const dev = await this.o.uplink();
      if (held.size && !dev) failAll('no uplink device holds the node\'s internal IP: cannot hold an egress IP');
      else if (dev) await reconcileEgressIPs(dev, held);
      this.snat = snat;
      await this.applyNat();
      // After the egress box's SNAT is known here; before the flows, which do not change for these pods (they leave through the gateway).
      if (this.o.wireGuard) {
        await this.syncWireGuardPath();
        await syncWgEgressPodRules(wrapped);
      }
    } catch (err) {
      failAll(`egress SNAT: ${errorMessage(err)}`);
    }
    this.tunnels = tunnels;
    // Every desired document comes here, Egresses or not; the flows depend on the tunnels alone,
    // so only a change asks for a datapath sync. Asking always cost every document a second
    // full sync behind the policy realizer's (measured: docs/agent.md, Speed).
    const key = JSON.stringify(tunnels);
    if (key !== this.syncedTunnels) {
      await this.o.syncDatapath();
      this.syncedTunnels = key;
    }
    return outcomes;
  }

  private applyNat(): Promise<void> {
    return applyNatPlan({
      podCIDR: this.ownCidr.cidr,
      clusterCIDRs: this.clusterCIDRs(),
      snat: this.snat,
      ...(this.o.wireGuard ? { passDevs: [WG_EGRESS_DEV] } : {}),
    });
  }
}
