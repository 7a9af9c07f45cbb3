// The kind registry: every object kind a user can apply, with the names kubectl knows it by and
// the schema that validates it. Manifest loading, the CLI (`seinectl get acnp`) and REST routes
// all resolve kinds here.
import type { z } from 'zod';
import {
  ANTREA_POLICY_API_VERSIONS,
  AntreaNetworkPolicySchema,
  AntreaNetworkPolicySpecSchema,
  ClusterNetworkPolicySchema,
  ClusterNetworkPolicySpecSchema,
} from './antrea-policy.js';
import {
  ANP_API_VERSIONS,
  AdminNetworkPolicySchema,
  AdminNetworkPolicySpecSchema,
  BaselineAdminNetworkPolicySchema,
  BaselineAdminNetworkPolicySpecSchema,
  CNP_API_VERSIONS,
  UpstreamClusterNetworkPolicySchema,
  UpstreamClusterNetworkPolicySpecSchema,
} from './admin-policy.js';
import { EGRESS_API_VERSIONS, EXTERNAL_IP_POOL_API_VERSIONS, EgressSchema, EgressSpecSchema, ExternalIPPoolSchema, ExternalIPPoolSpecSchema } from './egress.js';
import { CLUSTER_GROUP_API_VERSIONS, ClusterGroupSchema, ClusterGroupSpecSchema, GROUP_API_VERSIONS, GroupSchema, GroupSpecSchema } from './group.js';
import { K8S_NETWORKING_API_VERSION, K8sNetworkPolicySchema, K8sNetworkPolicySpecSchema } from './k8s-networkpolicy.js';
import { TIER_API_VERSIONS, TierSchema, TierSpecSchema } from './tier.js';
import {
  NODE_CONFIG_API_VERSIONS, NODE_LATENCY_MONITOR_API_VERSIONS, NodeConfigSchema, NodeConfigSpecSchema, NodeLatencyMonitorSchema, NodeLatencyMonitorSpecSchema,
} from './node-config.js';
import { TRACEFLOW_API_VERSIONS, TraceflowSchema, TraceflowSpecSchema } from './traceflow.js';

export interface KindInfo {
  kind: string;
  group: string;
  /** Accepted `apiVersion` values, oldest first; the last one is what Seine writes. */
  apiVersions: readonly string[];
  plural: string;
  singular: string;
  shortNames: readonly string[];
  namespaced: boolean;
  schema: z.ZodType;
  specSchema: z.ZodType;
}

export const KINDS = [
  {
    kind: 'ClusterNetworkPolicy',
    group: 'crd.antrea.io',
    apiVersions: ANTREA_POLICY_API_VERSIONS,
    plural: 'clusternetworkpolicies',
    singular: 'clusternetworkpolicy',
    shortNames: ['acnp'],
    namespaced: false,
    schema: ClusterNetworkPolicySchema,
    specSchema: ClusterNetworkPolicySpecSchema,
  },
  {
    kind: 'NetworkPolicy',
    group: 'crd.antrea.io',
    apiVersions: ANTREA_POLICY_API_VERSIONS,
    plural: 'networkpolicies',
    singular: 'networkpolicy',
    // `annp` only: Antrea renamed its `anp` because upstream AdminNetworkPolicy (below) took it.
    shortNames: ['annp'],
    namespaced: true,
    schema: AntreaNetworkPolicySchema,
    specSchema: AntreaNetworkPolicySpecSchema,
  },
  {
    kind: 'NetworkPolicy',
    group: 'networking.k8s.io',
    apiVersions: [K8S_NETWORKING_API_VERSION],
    plural: 'networkpolicies',
    singular: 'networkpolicy',
    shortNames: ['netpol'],
    namespaced: true,
    schema: K8sNetworkPolicySchema,
    specSchema: K8sNetworkPolicySpecSchema,
  },
  {
    // Upstream (kubernetes-sigs/network-policy-api): same kind name as Antrea's, its own group.
    kind: 'ClusterNetworkPolicy',
    group: 'policy.networking.k8s.io',
    apiVersions: CNP_API_VERSIONS,
    plural: 'clusternetworkpolicies',
    singular: 'clusternetworkpolicy',
    shortNames: ['cnp'],
    namespaced: false,
    schema: UpstreamClusterNetworkPolicySchema,
    specSchema: UpstreamClusterNetworkPolicySpecSchema,
  },
  {
    kind: 'AdminNetworkPolicy',
    group: 'policy.networking.k8s.io',
    apiVersions: ANP_API_VERSIONS,
    plural: 'adminnetworkpolicies',
    singular: 'adminnetworkpolicy',
    shortNames: ['anp'],
    namespaced: false,
    schema: AdminNetworkPolicySchema,
    specSchema: AdminNetworkPolicySpecSchema,
  },
  {
    kind: 'BaselineAdminNetworkPolicy',
    group: 'policy.networking.k8s.io',
    apiVersions: ANP_API_VERSIONS,
    plural: 'baselineadminnetworkpolicies',
    singular: 'baselineadminnetworkpolicy',
    shortNames: ['banp'],
    namespaced: false,
    schema: BaselineAdminNetworkPolicySchema,
    specSchema: BaselineAdminNetworkPolicySpecSchema,
  },
  {
    kind: 'Tier',
    group: 'crd.antrea.io',
    apiVersions: TIER_API_VERSIONS,
    plural: 'tiers',
    singular: 'tier',
    shortNames: ['tr'],
    namespaced: false,
    schema: TierSchema,
    specSchema: TierSpecSchema,
  },
  {
    kind: 'ClusterGroup',
    group: 'crd.antrea.io',
    apiVersions: CLUSTER_GROUP_API_VERSIONS,
    plural: 'clustergroups',
    singular: 'clustergroup',
    shortNames: ['cg'],
    namespaced: false,
    schema: ClusterGroupSchema,
    specSchema: ClusterGroupSpecSchema,
  },
  {
    kind: 'Group',
    group: 'crd.antrea.io',
    apiVersions: GROUP_API_VERSIONS,
    plural: 'groups',
    singular: 'group',
    shortNames: ['grp'],
    namespaced: true,
    schema: GroupSchema,
    specSchema: GroupSpecSchema,
  },
  {
    kind: 'Traceflow',
    group: 'crd.antrea.io',
    apiVersions: TRACEFLOW_API_VERSIONS,
    plural: 'traceflows',
    singular: 'traceflow',
    shortNames: ['tf'],
    namespaced: false,
    schema: TraceflowSchema,
    specSchema: TraceflowSpecSchema,
  },
  {
    kind: 'Egress',
    group: 'crd.antrea.io',
    apiVersions: EGRESS_API_VERSIONS,
    plural: 'egresses',
    singular: 'egress',
    shortNames: ['eg'],
    namespaced: false,
    schema: EgressSchema,
    specSchema: EgressSpecSchema,
  },
  {
    kind: 'ExternalIPPool',
    group: 'crd.antrea.io',
    apiVersions: EXTERNAL_IP_POOL_API_VERSIONS,
    plural: 'externalippools',
    singular: 'externalippool',
    shortNames: ['eip'],
    namespaced: false,
    schema: ExternalIPPoolSchema,
    specSchema: ExternalIPPoolSpecSchema,
  },
  {
    // Seine's own: fleet-wide box settings (issue #22), sent to the boxes its nodeSelector picks.
    kind: 'NodeConfig',
    group: 'seine.io',
    apiVersions: NODE_CONFIG_API_VERSIONS,
    plural: 'nodeconfigs',
    singular: 'nodeconfig',
    shortNames: ['nc'],
    namespaced: false,
    schema: NodeConfigSchema,
    specSchema: NodeConfigSpecSchema,
  },
  {
    kind: 'NodeLatencyMonitor',
    group: 'crd.antrea.io',
    apiVersions: NODE_LATENCY_MONITOR_API_VERSIONS,
    plural: 'nodelatencymonitors',
    singular: 'nodelatencymonitor',
    shortNames: ['nlm'],
    namespaced: false,
    schema: NodeLatencyMonitorSchema,
    specSchema: NodeLatencyMonitorSpecSchema,
  },
] as const satisfies readonly KindInfo[];

/** Any object `parseManifests` can return; narrow on `kind` (and `apiVersion` for NetworkPolicy). */
export type ManifestObject = z.infer<(typeof KINDS)[number]['schema']>;

/** `Kind.group`, unique across the registry (e.g. NetworkPolicy.crd.antrea.io). */
export function qualifiedKind(info: Pick<KindInfo, 'kind' | 'group'>): string {
  return `${info.kind}.${info.group}`;
}

/** The registry entry for an object's apiVersion and kind (both exact, as the API server matches them). */
export function findKind(apiVersion: string, kind: string): KindInfo | undefined {
  return KINDS.find((k) => k.kind === kind && (k.apiVersions as readonly string[]).includes(apiVersion));
}

/** Entries with this kind name in any group or version (for "did you mean" messages). */
export function kindsNamed(kind: string): KindInfo[] {
  return KINDS.filter((k) => k.kind === kind);
}

/** The entry for a `Kind.group` string as produced by qualifiedKind(). */
export function findQualifiedKind(name: string): KindInfo | undefined {
  return KINDS.find((k) => qualifiedKind(k) === name);
}

/**
 * Resolves a name the way kubectl does: kind, plural, singular or short name, any case, optionally
 * followed by `.group` (`acnp.crd.antrea.io`). Without a group, NetworkPolicy means Kubernetes'
 * (built-in groups win in kubectl too); use `annp` or `networkpolicies.crd.antrea.io` for Antrea's.
 */
export function lookupKind(name: string): KindInfo | undefined {
  const lower = name.trim().toLowerCase();
  const dot = lower.indexOf('.');
  const resource = dot < 0 ? lower : lower.slice(0, dot);
  const group = dot < 0 ? undefined : lower.slice(dot + 1);
  const matches = KINDS.filter(
    (k) =>
      (group === undefined || k.group === group) &&
      (k.kind.toLowerCase() === resource || k.plural === resource || k.singular === resource || (k.shortNames as readonly string[]).includes(resource)),
  );
  return matches.find((k) => k.group === 'networking.k8s.io') ?? matches[0];
}
