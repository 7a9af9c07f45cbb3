// Service load balancing as a datapath feature: its flows and select groups join the
// datapath's one bundle. On every sync it brings its kept per-Service state to the inventory
// (realization.ts: only the Services whose object or EndpointSlices changed are planned and
// built again) and returns the same Flow objects for everything else, which the bridge's
// reconcile recognises and skips: an endpoint change costs that one Service's plan and a diff
// of its flows (one group rewrite plus its EndpointDNAT flow) — and established connections
// never look at the group again (conntrack).
import type { Inventory } from '../../api/inventory.js';
import type { CookieAllocator } from '../ovs/cookie.js';
import type { Flow } from '../ovs/flow.js';
import type { Group } from '../ovs/group.js';
import type { Pipeline } from '../ovs/pipeline.js';
import { hairpinFlows, serviceFixedFlows, type ServiceFlowContext } from './flows.js';
import { serviceIndex, type ServicePortPlan } from './plan.js';
import { ServiceRealization } from './realization.js';

const PROTOCOL_NAMES: Record<number, string> = { 6: 'TCP', 17: 'UDP', 132: 'SCTP' };

export interface ServiceFeatureOptions {
  nodeName: string;
  inventory: () => Inventory;
  gatewayIP: string;
  pods: () => Promise<ServiceFlowContext['pods']>;
  /** Called with the group ids whose endpoint set lost members (their learned affinities must go). */
  onEndpointsRemoved?: (groupIds: number[]) => void;
}

export class ServiceFeature {
  readonly name = 'service';
  /** Unchanged Services hand the same Flow objects again (the datapath takes them as they are). */
  readonly keepsFlows = true;
  private state?: ServiceRealization;
  private fixed: Flow[] = [];
  /** Hairpin flows by pod (key, address, port): the same objects while the pod stays. */
  private hairpin = new Map<string, Flow[]>();
  private last?: { services: Flow[]; hairpin: Flow[][]; flows: Flow[] };
  private indexed?: { plans: ServicePortPlan[]; index: Map<string, ServicePortPlan> };

  constructor(private readonly o: ServiceFeatureOptions) {}

  async flows(pipeline: Pipeline, cookies: CookieAllocator): Promise<Flow[]> {
    if (this.state?.pipeline !== pipeline || this.state.cookies !== cookies) {
      // A new incarnation's cookies (or pipeline): nothing kept applies.
      this.state = new ServiceRealization(this.o.nodeName, pipeline, cookies);
      this.fixed = serviceFixedFlows(this.o.gatewayIP, pipeline, cookies);
      this.hairpin.clear();
      this.last = undefined;
    }
    const pods = await this.o.pods();
    const { shrunk } = this.state.update(this.o.inventory());
    const hairpin = new Map<string, Flow[]>();
    for (const pod of pods) {
      const k = `${pod.key}|${pod.ip}|${pod.ofport}`;
      hairpin.set(k, this.hairpin.get(k) ?? hairpinFlows([pod], pipeline, cookies));
    }
    this.hairpin = hairpin;
    const services = this.state.flows();
    const pinned = [...hairpin.values()];
    // Unchanged: the very same array, so nothing downstream has to look at it again.
    if (this.last?.services !== services || this.last.hairpin.length !== pinned.length || this.last.hairpin.some((f, i) => f !== pinned[i])) {
      const flows = [...this.fixed, ...services];
      for (const f of pinned) flows.push(...f);
      this.last = { services, hairpin: pinned, flows };
    }
    if (shrunk.length) this.o.onEndpointsRemoved?.(shrunk);
    return this.last.flows;
  }

  /** The groups of the last flows() call (the datapath asks right after). */
  groups(): Group[] {
    return this.state?.groups() ?? [];
  }

  /** The Service port behind a cluster IP, port and protocol (flow records, Traceflow). */
  serviceAt(ip: string, port: number, protocol: string): ServicePortPlan | undefined {
    return this.index().get(`${ip}:${port}/${protocol.toUpperCase()}`);
  }

  /** Antrea's destinationServicePortName (`namespace/name:port`) for a connection's original destination. */
  servicePortName(ip: string, port: number, protocol: number): string | undefined {
    const p = this.serviceAt(ip, port, PROTOCOL_NAMES[protocol] ?? '');
    return p && `${p.namespace}/${p.name}:${p.portName}`;
  }

  /** Installed Service ports and endpoints (metrics). */
  counts(): { services: number; endpoints: number } {
    const plans = this.state?.plans() ?? [];
    return { services: new Set(plans.map((p) => `${p.namespace}/${p.name}`)).size, endpoints: plans.reduce((n, p) => n + p.clusterEndpoints.length, 0) };
  }

  /** Cluster IP:port/protocol → Service port, rebuilt only after the plans changed. */
  private index(): Map<string, ServicePortPlan> {
    const plans = this.state?.plans() ?? [];
    if (this.indexed?.plans !== plans) this.indexed = { plans, index: serviceIndex(plans) };
    return this.indexed.index;
  }
}
