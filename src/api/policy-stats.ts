// Per-policy traffic statistics in Antrea's shape (stats.crd.antrea.io/v1alpha1:
// NetworkPolicyStats, AntreaNetworkPolicyStats, AntreaClusterNetworkPolicyStats). Each node
// reports its counters per policy and rule; the controller sums them over the nodes.
import { z } from 'zod';

export const STATS_API_VERSION = 'stats.crd.antrea.io/v1alpha1';

const counter = z.number().int().nonnegative();

export const TrafficStatsSchema = z.strictObject({ packets: counter, bytes: counter, sessions: counter });
export type TrafficStats = z.infer<typeof TrafficStatsSchema>;

/** One policy's counters on one node, as the agent reports them. */
export const NodePolicyStatsSchema = z.strictObject({
  /** objectKey() of the policy. */
  policy: z.string().min(1),
  rules: z.array(z.strictObject({ name: z.string(), trafficStats: TrafficStatsSchema })),
});
export type NodePolicyStats = z.infer<typeof NodePolicyStatsSchema>;

/** The stats resources, with the names kubectl knows for them (Antrea's short names). */
export const STATS_KINDS = [
  { kind: 'AntreaClusterNetworkPolicyStats', plural: 'antreaclusternetworkpolicystats', shortNames: ['acnpstats'], namespaced: false, policyKind: 'ClusterNetworkPolicy.crd.antrea.io' },
  { kind: 'AntreaNetworkPolicyStats', plural: 'antreanetworkpolicystats', shortNames: ['anpstats', 'annpstats'], namespaced: true, policyKind: 'NetworkPolicy.crd.antrea.io' },
  { kind: 'NetworkPolicyStats', plural: 'networkpolicystats', shortNames: ['netpolstats'], namespaced: true, policyKind: 'NetworkPolicy.networking.k8s.io' },
  // Antrea serves no stats for the upstream kinds; these follow the same shape. `anpstats` stays Antrea NetworkPolicy's.
  { kind: 'ClusterNetworkPolicyStats', plural: 'clusternetworkpolicystats', shortNames: ['cnpstats'], namespaced: false, policyKind: 'ClusterNetworkPolicy.policy.networking.k8s.io' },
  { kind: 'AdminNetworkPolicyStats', plural: 'adminnetworkpolicystats', shortNames: [], namespaced: false, policyKind: 'AdminNetworkPolicy.policy.networking.k8s.io' },
  { kind: 'BaselineAdminNetworkPolicyStats', plural: 'baselineadminnetworkpolicystats', shortNames: ['banpstats'], namespaced: false, policyKind: 'BaselineAdminNetworkPolicy.policy.networking.k8s.io' },
] as const;
export type StatsKind = (typeof STATS_KINDS)[number];

export function findStatsKind(name: string): StatsKind | undefined {
  const n = name.toLowerCase();
  return STATS_KINDS.find((k) => k.plural === n || k.kind.toLowerCase() === n || (k.shortNames as readonly string[]).includes(n));
}

export const PolicyStatsObjectSchema = z.strictObject({
  apiVersion: z.literal(STATS_API_VERSION),
  kind: z.string(),
  metadata: z.strictObject({ name: z.string(), namespace: z.string().optional(), creationTimestamp: z.string() }),
  trafficStats: TrafficStatsSchema,
  /** Per rule, for Antrea-native policies (K8s NetworkPolicy rules have no names). */
  ruleTrafficStats: z.array(z.strictObject({ name: z.string(), trafficStats: TrafficStatsSchema })).optional(),
});
export type PolicyStatsObject = z.infer<typeof PolicyStatsObjectSchema>;

export const zeroStats = (): TrafficStats => ({ packets: 0, bytes: 0, sessions: 0 });

export function addStats(into: TrafficStats, s: TrafficStats): TrafficStats {
  into.packets += s.packets;
  into.bytes += s.bytes;
  into.sessions += s.sessions;
  return into;
}
