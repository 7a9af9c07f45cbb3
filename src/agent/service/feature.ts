// Service load balancing as a datapath feature: its flows and select groups join the
// datapath's one bundle. Recomputed from the inventory on every sync; the agent asks for a
// sync when a Service or EndpointSlice changes (and pods change anyway), and the bridge
// applies only the difference, so an endpoint change is one group rewrite plus its
// EndpointDNAT flow — established connections never look at the group again (conntrack).
import type { Inventory } from '../../api/inventory.js';
import type { CookieAllocator } from '../ovs/cookie.js';
import type { Flow } from '../ovs/flow.js';
import { allocateGroupIds, type Group } from '../ovs/group.js';
import type { Pipeline } from '../ovs/pipeline.js';
import { groupKeys, serviceFlows, type ServiceFlowContext } from './flows.js';
import { planServices, serviceIndex, type ServicePortPlan } from './plan.js';

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
  private lastGroups: Group[] = [];
  private plans: ServicePortPlan[] = [];
  private index = new Map<string, ServicePortPlan>();
  private endpointsByGroup = new Map<number, Set<string>>();

  constructor(private readonly o: ServiceFeatureOptions) {}

  async flows(pipeline: Pipeline, cookies: CookieAllocator): Promise<Flow[]> {
    const plans = planServices(this.o.inventory(), this.o.nodeName);
    const groupIds = allocateGroupIds(groupKeys(plans));
    const { flows, groups } = serviceFlows(plans, { gatewayIP: this.o.gatewayIP, pods: await this.o.pods(), groupIds }, pipeline, cookies);
    this.noteRemovedEndpoints(plans, groupIds);
    this.plans = plans;
    this.index = serviceIndex(plans);
    this.lastGroups = groups;
    return flows;
  }

  /** The groups of the last flows() call (the datapath asks right after). */
  groups(): Group[] {
    return this.lastGroups;
  }

  /** The Service port behind a cluster IP, port and protocol (flow records, Traceflow). */
  serviceAt(ip: string, port: number, protocol: string): ServicePortPlan | undefined {
    return this.index.get(`${ip}:${port}/${protocol.toUpperCase()}`);
  }

  /** Antrea's destinationServicePortName (`namespace/name:port`) for a connection's original destination. */
  servicePortName(ip: string, port: number, protocol: number): string | undefined {
    const p = this.serviceAt(ip, port, PROTOCOL_NAMES[protocol] ?? '');
    return p && `${p.namespace}/${p.name}:${p.portName}`;
  }

  /** Installed Service ports and endpoints (metrics). */
  counts(): { services: number; endpoints: number } {
    return { services: new Set(this.plans.map((p) => `${p.namespace}/${p.name}`)).size, endpoints: this.plans.reduce((n, p) => n + p.clusterEndpoints.length, 0) };
  }

  private noteRemovedEndpoints(plans: readonly ServicePortPlan[], groupIds: ReadonlyMap<string, number>): void {
    const next = new Map<number, Set<string>>();
    for (const p of plans) {
      if (!p.affinitySeconds) continue;
      next.set(groupIds.get(p.key)!, new Set(p.clusterEndpoints.map((e) => `${e.ip}:${e.port}`)));
      if (p.nodePort) next.set(groupIds.get(`${p.key}/nodePort`)!, new Set(p.nodePortEndpoints.map((e) => `${e.ip}:${e.port}`)));
    }
    const shrunk = [...this.endpointsByGroup].filter(([id, before]) => [...before].some((e) => !next.get(id)?.has(e))).map(([id]) => id);
    this.endpointsByGroup = next;
    if (shrunk.length) this.o.onEndpointsRemoved?.(shrunk);
  }
}
