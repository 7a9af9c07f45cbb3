// Which Service ports this box balances and to which endpoints: a pure function of the
// inventory (Services and their EndpointSlices) and the box's node name, like the service
// change trackers of AntreaProxy (pkg/agent/proxy) reduced to what the flows need.
import type { Protocol } from '../../api/k8s-core.js';
import type { Inventory, InventoryEndpointSlice, InventoryService } from '../../api/inventory.js';

export interface ServiceEndpoint {
  ip: string;
  port: number;
  nodeName?: string;
}

export interface ServicePortPlan {
  /** `namespace/name:port-name` ('' port name for a single unnamed port): the owner of its flows and group. */
  key: string;
  namespace: string;
  name: string;
  portName: string;
  clusterIP: string;
  protocol: Protocol;
  port: number;
  /** 0 unless NodePort. */
  nodePort: number;
  /** ClientIP affinity timeout, 0 for none. */
  affinitySeconds: number;
  /** Endpoints for traffic to the cluster IP (only this box's with internalTrafficPolicy Local). */
  clusterEndpoints: ServiceEndpoint[];
  /** Endpoints for traffic to the node port (only this box's with externalTrafficPolicy Local). */
  nodePortEndpoints: ServiceEndpoint[];
  /** The port has serving endpoints somewhere in the cluster (without any, its packets are rejected; with only remote ones under a Local policy, dropped, as kube-proxy does). */
  hasEndpoints: boolean;
  /** externalTrafficPolicy Cluster: NodePort connections are SNATed to the gateway IP so replies come back through this box. */
  nodePortSNAT: boolean;
}

const byIpPort = (a: ServiceEndpoint, b: ServiceEndpoint) => a.ip.localeCompare(b.ip, 'en', { numeric: true }) || a.port - b.port;

/** The serving endpoints of one Service port across its slices (terminating ones take no new connections). */
function endpointsOf(svc: InventoryService, portName: string, protocol: Protocol, slices: readonly InventoryEndpointSlice[]): ServiceEndpoint[] {
  const out = new Map<string, ServiceEndpoint>();
  for (const slice of slices) {
    const port = slice.ports.find((p) => p.name === portName && p.protocol === protocol);
    if (!port) continue;
    for (const e of slice.endpoints) {
      if (!e.serving || e.terminating) continue;
      out.set(`${e.ip}:${port.port}`, { ip: e.ip, port: port.port, ...(e.nodeName ? { nodeName: e.nodeName } : {}) });
    }
  }
  return [...out.values()].sort(byIpPort);
}

/** The EndpointSlices of each Service (`namespace/name`), in the inventory's order. */
export function slicesByService(inv: Inventory): Map<string, InventoryEndpointSlice[]> {
  const out = new Map<string, InventoryEndpointSlice[]>();
  for (const s of inv.endpointSlices?.values() ?? []) {
    if (!s.service) continue;
    const k = `${s.namespace}/${s.service}`;
    const list = out.get(k);
    if (list) list.push(s);
    else out.set(k, [s]);
  }
  return out;
}

/** The ports one Service balances on this box, sorted by key (none for headless, ExternalName and IPv6 ones). */
export function planService(svc: InventoryService, slices: readonly InventoryEndpointSlice[], nodeName: string): ServicePortPlan[] {
  if (!svc.clusterIP || svc.type === 'ExternalName' || svc.clusterIP.includes(':')) return []; // headless, external or IPv6: nothing to balance
  const plans: ServicePortPlan[] = [];
  for (const p of svc.ports) {
    const all = endpointsOf(svc, p.name, p.protocol, slices);
    const local = all.filter((e) => e.nodeName === nodeName);
    plans.push({
      key: `${svc.namespace}/${svc.name}:${p.name}`,
      namespace: svc.namespace,
      name: svc.name,
      portName: p.name,
      clusterIP: svc.clusterIP,
      protocol: p.protocol,
      port: p.port,
      nodePort: p.nodePort,
      affinitySeconds: svc.affinitySeconds,
      clusterEndpoints: svc.internalTrafficPolicy === 'Local' ? local : all,
      nodePortEndpoints: svc.externalTrafficPolicy === 'Local' ? local : all,
      hasEndpoints: all.length > 0,
      nodePortSNAT: svc.externalTrafficPolicy !== 'Local',
    });
  }
  return plans.sort(byKey);
}

export const byKey = (a: { key: string }, b: { key: string }): number => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

/** Every Service port of the inventory, sorted by key (the full recompute; ServiceFeature keeps it per Service). */
export function planServices(inv: Inventory, nodeName: string): ServicePortPlan[] {
  const slices = slicesByService(inv);
  const plans: ServicePortPlan[] = [];
  for (const svc of inv.services?.values() ?? []) plans.push(...planService(svc, slices.get(`${svc.namespace}/${svc.name}`) ?? [], nodeName));
  return plans.sort(byKey);
}

/** Cluster IP → Service port, for naming the destination of flow records and Traceflow. */
export function serviceIndex(plans: readonly ServicePortPlan[]): Map<string, ServicePortPlan> {
  return new Map(plans.map((p) => [`${p.clusterIP}:${p.port}/${p.protocol}`, p]));
}
