// The addresses a Service answers on, as clients address them: its cluster IP with each port and
// protocol. Network policy's `toServices` matches a connection by these (its destination before
// the Service's DNAT), so the rule names the Service, not whichever endpoint served it. The same
// Services as planServices balances: a cluster IP, IPv4, not ExternalName.
import type { Protocol } from '../../api/k8s-core.js';
import type { Inventory } from '../../api/inventory.js';

export interface ServiceFrontend {
  clusterIP: string;
  protocol: Protocol;
  port: number;
}

/** `namespace/name` → the Service's frontends (sorted); Services that nothing balances are absent. */
export function serviceFrontends(inv: Inventory): Map<string, ServiceFrontend[]> {
  const out = new Map<string, ServiceFrontend[]>();
  for (const svc of inv.services?.values() ?? []) {
    if (!svc.clusterIP || svc.type === 'ExternalName' || svc.clusterIP.includes(':')) continue;
    const ip = svc.clusterIP;
    const ports = svc.ports.map((p) => ({ clusterIP: ip, protocol: p.protocol, port: p.port }));
    ports.sort((a, b) => a.port - b.port || (a.protocol < b.protocol ? -1 : a.protocol > b.protocol ? 1 : 0));
    out.set(`${svc.namespace}/${svc.name}`, ports);
  }
  return out;
}
