// A Traceflow to a Service (destination.service), resolved on the sender's box: like Antrea's
// agent, the packet goes to the Service's ClusterIP and the box's own load balancing picks the
// endpoint (the LB observation shows which). Resolved here, not on the controller, because the
// boxes are the ones that watch Services and EndpointSlices; the endpoints are returned so the
// controller can ask their nodes to listen as receivers. Problems name the spec field.
import type { TraceflowResolveParams, TraceflowResolveResult } from '../../api/traceflow.js';
import type { Inventory, InventoryServicePort } from '../../api/inventory.js';
import { planServices } from '../service/plan.js';

const portText = (p: InventoryServicePort) => `${p.port}/${p.protocol}`;

export function resolveServiceDestination(inv: Inventory, node: string, req: TraceflowResolveParams): TraceflowResolveResult {
  const { namespace, name } = req.service;
  const key = `${namespace}/${name}`;
  const svc = inv.services?.get(key);
  const problem = (field: string, text: string): TraceflowResolveResult => ({ problem: `${field}: ${text}` });
  if (!svc) return problem('destination.service', `Service ${key} does not exist (node ${node} knows no such Service)`);
  if (!svc.clusterIP || svc.type === 'ExternalName') return problem('destination.service', `Service ${key} has no ClusterIP (headless or ExternalName)`);
  if (svc.clusterIP.includes(':')) return problem('destination.service', `Service ${key} has an IPv6 ClusterIP; IPv6 tracing is not supported yet`);
  const ports = svc.ports.map(portText).join(', ') || 'none';

  // ICMP (and live traffic with no protocol) is not load balanced: the packet just goes to the ClusterIP.
  let chosen: InventoryServicePort | undefined;
  let protocol = req.protocol;
  if (protocol === undefined && !req.live) {
    // Nothing about the packet in the spec: the Service's first port says what to send.
    chosen = svc.ports[0];
    if (!chosen) return problem('destination.service', `Service ${key} has no ports; set packet.transportHeader`);
    if (chosen.protocol === 'SCTP') return problem('destination.service', `Service ${key}'s first port ${portText(chosen)} is SCTP, which Traceflow cannot inject; set packet.transportHeader.tcp or .udp`);
    protocol = chosen.protocol === 'TCP' ? 'tcp' : 'udp';
  } else if (protocol === 'tcp' || protocol === 'udp') {
    const field = `packet.transportHeader.${protocol}`;
    const upper = protocol.toUpperCase();
    const same = svc.ports.filter((p) => p.protocol === upper);
    if (req.dstPort !== undefined) {
      chosen = same.find((p) => p.port === req.dstPort);
      if (!chosen) return problem(`${field}.dstPort`, `Service ${key} has no ${upper} port ${req.dstPort} (ports: ${ports})`);
    } else if (!req.live) {
      // Several ports of the protocol: the first in the Service's spec, as for an unnamed choice in kubectl.
      chosen = same[0];
      if (!chosen) return problem(field, `Service ${key} has no ${upper} port (ports: ${ports})`);
    }
  }

  // The endpoints this box balances the chosen port to (internalTrafficPolicy Local: its own only);
  // without a chosen port, any port's (live traffic of any protocol may be balanced); none for
  // ICMP, which load balancing never touches.
  const plans = protocol === 'icmp' ? [] : planServices(inv, node).filter((p) => p.namespace === namespace && p.name === name && (!chosen || p.portName === chosen.name));
  const endpointIPs = [...new Set(plans.flatMap((p) => p.clusterEndpoints.map((e) => e.ip)))].sort();
  return {
    destination: {
      dstIP: svc.clusterIP,
      ...(protocol ? { protocol } : {}),
      ...(chosen ? { dstPort: chosen.port } : req.dstPort !== undefined ? { dstPort: req.dstPort } : {}),
      endpointIPs,
    },
  };
}
