// Rule ports and protocols as services. Named ports stay unresolved here (PortSpec) because
// they resolve per pod: against the target pod's container ports for ingress, the peer pod's
// for egress (Kubernetes: a named port is a port of the destination pod).
import type { InventoryPod } from '../../api/inventory.js';
import { NotSupportedError } from './errors.js';
import type { IcmpService, RuleService, TransportService } from './types.js';

export type PortSpec = { protocol: TransportService['protocol']; port?: number | string; endPort?: number } | IcmpService;

interface PortEntry {
  protocol?: 'TCP' | 'UDP' | 'SCTP' | undefined;
  port?: number | string | undefined;
  endPort?: number | undefined;
  sourcePort?: number | undefined;
  sourceEndPort?: number | undefined;
}
interface ProtocolEntry {
  icmp?: { icmpType?: number | undefined; icmpCode?: number | undefined } | undefined;
  igmp?: unknown;
}

/** undefined: every service (no ports and no protocols given). */
export function portSpecs(ports: readonly PortEntry[] | undefined, protocols: readonly ProtocolEntry[] | undefined, path: string): PortSpec[] | undefined {
  if (!ports?.length && !protocols?.length) return undefined;
  const specs: PortSpec[] = [];
  ports?.forEach((p, i) => {
    if (p.sourcePort !== undefined) throw new NotSupportedError(`${path}.ports[${i}].sourcePort`, 'sourcePort');
    const spec: PortSpec = { protocol: p.protocol ?? 'TCP' };
    if (p.port !== undefined) spec.port = p.port;
    if (p.endPort !== undefined && p.endPort !== p.port) spec.endPort = p.endPort;
    specs.push(spec);
  });
  protocols?.forEach((p, i) => {
    if (p.igmp !== undefined) throw new NotSupportedError(`${path}.protocols[${i}].igmp`, 'IGMP');
    const s: IcmpService = { protocol: 'ICMP' };
    if (p.icmp?.icmpType !== undefined) s.icmpType = p.icmp.icmpType;
    if (p.icmp?.icmpCode !== undefined) s.icmpCode = p.icmp.icmpCode;
    specs.push(s);
  });
  return specs;
}

export const hasNamedPort = (specs: readonly PortSpec[] | undefined): boolean => !!specs?.some((s) => s.protocol !== 'ICMP' && typeof s.port === 'string');

/** The specs as services for one pod: named ports become that pod's numbers, or vanish when it has none by that name and protocol. */
export function resolveFor(specs: readonly PortSpec[], pod: InventoryPod | undefined): RuleService[] {
  const out: RuleService[] = [];
  for (const s of specs) {
    if (s.protocol === 'ICMP' || typeof s.port !== 'string') {
      out.push(s as RuleService);
      continue;
    }
    const named = pod?.ports.find((p) => p.name === s.port && p.protocol === s.protocol);
    if (named) out.push({ protocol: s.protocol, port: named.port });
  }
  return dedupe(out);
}

function dedupe(services: RuleService[]): RuleService[] {
  const seen = new Map<string, RuleService>();
  for (const s of services) seen.set(serviceKey(s), s);
  return [...seen.values()];
}

export function serviceKey(s: RuleService): string {
  return s.protocol === 'ICMP' ? `ICMP:${s.icmpType ?? '*'}:${s.icmpCode ?? '*'}` : `${s.protocol}:${s.port ?? '*'}-${s.endPort ?? ''}`;
}

export const servicesSignature = (services: readonly RuleService[]): string => services.map(serviceKey).join(',');
