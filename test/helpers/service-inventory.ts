// Hand-built Services and EndpointSlices for the Service realization tests: a dozen Services
// (ClusterIP, NodePort, ClientIP affinity; two ports; six sharing one endpoint) and snapshots
// the way the agent's inventory store makes them (a new Map, the same objects where nothing changed).
import type { Inventory, InventoryEndpointSlice, InventoryService } from '../../src/api/inventory.js';

export const NODE = 'box1';

export type Inv = { services: Map<string, InventoryService>; endpointSlices: Map<string, InventoryEndpointSlice> };

export const svc = (name: string, i: number, o: Partial<InventoryService> = {}): InventoryService => ({
  namespace: 'shop', name, type: 'ClusterIP', clusterIP: `10.43.0.${i}`, affinitySeconds: 0, externalTrafficPolicy: 'Cluster', internalTrafficPolicy: 'Cluster',
  ports: [{ name: 'http', protocol: 'TCP', port: 80, nodePort: 0 }, { name: 'dns', protocol: 'UDP', port: 53, nodePort: 0 }], ...o,
});
export const slice = (service: string, suffix: string, ips: string[], o: Partial<InventoryEndpointSlice> = {}): InventoryEndpointSlice => ({
  namespace: 'shop', name: `${service}-${suffix}`, service,
  ports: [{ name: 'http', protocol: 'TCP', port: 8080 }, { name: 'dns', protocol: 'UDP', port: 5353 }],
  endpoints: ips.map((ip, k) => ({ ip, serving: true, terminating: false, nodeName: k % 2 ? 'box2' : NODE })), ...o,
});

export function start(): Inv {
  const inv: Inv = { services: new Map(), endpointSlices: new Map() };
  for (let i = 1; i <= 12; i++) {
    const name = `s${i}`;
    inv.services.set(`shop/${name}`, svc(name, i, i % 3 === 0 ? { type: 'NodePort', ports: [{ name: 'http', protocol: 'TCP', port: 80, nodePort: 30000 + i }] } : i % 4 === 0 ? { affinitySeconds: 600 } : {}));
    // Services 1–6 share endpoint 10.42.9.9 (one EndpointDNAT flow for all of them).
    const s = slice(name, 'a', [`10.42.${i}.1`, `10.42.${i}.2`, `10.42.${i}.3`, ...(i <= 6 ? ['10.42.9.9'] : [])]);
    inv.endpointSlices.set(`shop/${s.name}`, s);
  }
  return inv;
}

/** The store's way: a new Map per snapshot, the same objects for what did not change. */
export const snapshot = (inv: Inv): Inventory => ({ nodes: new Map(), namespaces: new Map(), pods: new Map(), services: new Map(inv.services), endpointSlices: new Map(inv.endpointSlices) });

export const setSlice = (inv: Inv, s: InventoryEndpointSlice) => inv.endpointSlices.set(`shop/${s.name}`, s);
export const editSvc = (inv: Inv, name: string, o: Partial<InventoryService>) => inv.services.set(`shop/${name}`, { ...inv.services.get(`shop/${name}`)!, ...o });
