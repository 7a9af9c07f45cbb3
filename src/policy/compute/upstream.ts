// Upstream cluster policies (ClusterNetworkPolicy v1alpha2, AdminNetworkPolicy and
// BaselineAdminNetworkPolicy v1alpha1) mapped onto the Antrea-native rule shape, as Antrea's
// controller does (pkg/controller/networkpolicy/adminnetworkpolicy.go): Admin is an internal tier
// above every Antrea tier, Baseline one below K8s NetworkPolicy; Accept/Allow → Allow,
// Deny → Drop, Pass → Pass (which skips to the K8s NetworkPolicy tables).
import type { AnpPort, CnpProtocol, UpstreamPolicy } from '../../api/admin-policy.js';
import type { RuleAction } from '../../api/antrea-policy.js';
import type { LabelSelector } from '../../api/meta.js';
import type { AntreaRule, AppliedToEntry, TieredSpec } from './rule-shape.js';
import { NotSupportedError } from './errors.js';
import type { AnyPeer } from './peers.js';
import type { ResolvedTier } from './tiers.js';
import type { PolicyKind } from './types.js';

/** Above emergency (50) and any custom Tier (0-249): Antrea evaluates ANPs before every Antrea tier. */
export const ADMIN_TIER: ResolvedTier = { name: 'admin', priority: -1, baseline: false };
/** After the baseline tier (253); 254 is reserved in Antrea's tier range, so no Tier object can take it. */
export const BASELINE_ADMIN_TIER: ResolvedTier = { name: 'baseline-admin', priority: 254, baseline: true };

export function upstreamKind(p: UpstreamPolicy): PolicyKind {
  return p.kind;
}

const ACTIONS: Record<string, RuleAction> = { Accept: 'Allow', Allow: 'Allow', Deny: 'Drop', Pass: 'Pass' };

interface Selectors {
  namespaces?: LabelSelector | undefined;
  pods?: { namespaceSelector: LabelSelector; podSelector: LabelSelector } | undefined;
}

function selectorEntry(s: Selectors): AppliedToEntry & AnyPeer {
  if (s.pods) return { namespaceSelector: s.pods.namespaceSelector, podSelector: s.pods.podSelector };
  return { namespaceSelector: s.namespaces ?? {} };
}

interface UpstreamPeer extends Selectors {
  nodes?: LabelSelector | undefined;
  networks?: string[] | undefined;
  domainNames?: unknown;
}

function peers(list: readonly UpstreamPeer[], path: string): AnyPeer[] {
  return list.flatMap((peer, j): AnyPeer[] => {
    if (peer.domainNames !== undefined) throw new NotSupportedError(`${path}[${j}].domainNames`, 'domainNames peers');
    if (peer.networks) return peer.networks.map((cidr) => ({ ipBlock: { cidr } }));
    // As Antrea maps it (adminnetworkpolicy.go): the selected Nodes' addresses.
    if (peer.nodes) return [{ nodeSelector: peer.nodes }];
    return [selectorEntry(peer)];
  });
}

type PortEntry = NonNullable<AntreaRule['ports']>[number];

// A named port in the upstream API has no protocol: it matches whatever the pod's port of that
// name is. Our named-port resolution keys on protocol, so one entry per protocol; each resolves
// only where the pod declares that name with that protocol.
const namedPort = (name: string): PortEntry[] => (['TCP', 'UDP', 'SCTP'] as const).map((protocol) => ({ protocol, port: name }));

function cnpPorts(protocols: readonly CnpProtocol[]): PortEntry[] {
  return protocols.flatMap((p): PortEntry[] => {
    if (p.destinationNamedPort !== undefined) return namedPort(p.destinationNamedPort);
    const [protocol, t] = p.tcp ? (['TCP', p.tcp] as const) : p.udp ? (['UDP', p.udp] as const) : (['SCTP', p.sctp!] as const);
    const d = t.destinationPort;
    if (d?.range) return [{ protocol, port: d.range.start, endPort: d.range.end }];
    return [d?.number !== undefined ? { protocol, port: d.number } : { protocol }];
  });
}

function anpPorts(ports: readonly AnpPort[]): PortEntry[] {
  return ports.flatMap((p): PortEntry[] => {
    if (p.namedPort !== undefined) return namedPort(p.namedPort);
    if (p.portRange) return [{ protocol: p.portRange.protocol, port: p.portRange.start, endPort: p.portRange.end }];
    return [{ protocol: p.portNumber!.protocol, port: p.portNumber!.port }];
  });
}

interface UpstreamRule {
  name?: string | undefined;
  action: string;
  from?: UpstreamPeer[];
  to?: UpstreamPeer[];
  protocols?: CnpProtocol[] | undefined;
  ports?: AnpPort[] | undefined;
}

/** The policy's tier and its spec in Antrea's shape; unsupported peers fail with their own path. */
export function toTieredSpec(p: UpstreamPolicy): { tier: ResolvedTier; spec: TieredSpec } {
  const baseline = p.kind === 'BaselineAdminNetworkPolicy' || (p.kind === 'ClusterNetworkPolicy' && p.spec.tier === 'Baseline');
  // A BANP has no priority (it is a singleton); a Baseline CNP keeps its own.
  const priority = 'priority' in p.spec ? p.spec.priority : 0;
  const mapRules = (direction: 'ingress' | 'egress', rules: readonly UpstreamRule[] | undefined): AntreaRule[] =>
    (rules ?? []).map((r, i) => {
      const path = `spec.${direction}[${i}]`;
      const out: AntreaRule = { action: ACTIONS[r.action]! };
      if (r.name) out.name = r.name;
      if (direction === 'ingress') out.from = peers(r.from ?? [], `${path}.from`);
      else out.to = peers(r.to ?? [], `${path}.to`);
      const ports = r.protocols ? cnpPorts(r.protocols) : r.ports ? anpPorts(r.ports) : undefined;
      if (ports) out.ports = ports;
      return out;
    });
  return {
    tier: baseline ? BASELINE_ADMIN_TIER : ADMIN_TIER,
    spec: {
      priority,
      appliedTo: [selectorEntry(p.spec.subject)],
      ingress: mapRules('ingress', p.spec.ingress as UpstreamRule[] | undefined),
      egress: mapRules('egress', p.spec.egress as UpstreamRule[] | undefined),
    },
  };
}
