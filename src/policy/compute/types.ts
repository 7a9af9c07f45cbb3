// The controller's output for one node: the internal form of every policy rule that applies to
// pods on that node (Antrea's "internal NetworkPolicy" restricted to the node's span), with
// selectors already resolved to addresses, named ports to numbers and `namespaces: Self` to
// one rule per target namespace. The agent turns a NodePolicySet into flows without looking at
// any selector, group or tier again.
import type { RuleAction } from '../../api/antrea-policy.js';

export type Direction = 'ingress' | 'egress';

/** Which tables a rule lands in: Antrea tiers before K8s NetworkPolicy, baseline after it. */
export type PolicyLayer = 'antrea' | 'k8s' | 'baseline';

/** ClusterNetworkPolicy, AdminNetworkPolicy, BaselineAdminNetworkPolicy: the upstream policy.networking.k8s.io kinds. */
export type PolicyKind =
  | 'K8sNetworkPolicy'
  | 'AntreaClusterNetworkPolicy'
  | 'AntreaNetworkPolicy'
  | 'ClusterNetworkPolicy'
  | 'AdminNetworkPolicy'
  | 'BaselineAdminNetworkPolicy';

export interface PolicyRef {
  kind: PolicyKind;
  namespace?: string;
  name: string;
  uid?: string;
}

/** The effective order of a rule: compared field by field, lower first. */
export interface RuleOrder {
  tierPriority: number;
  policyPriority: number;
  ruleIndex: number;
}

/** A pod the rule applies to, on this node. */
export interface TargetPod {
  /** `namespace/name`; the agent finds the OVS port by it. */
  key: string;
  ip: string;
}

/** A Service by namespace and name (an egress rule's `toServices`). */
export interface ServiceRef {
  namespace: string;
  name: string;
}

/** The other end of a rule: pod IPs (any node) and CIDRs (ipBlock with `except` already cut out). */
export interface PeerSet {
  /** `from`/`to` absent or empty: every address. */
  any: boolean;
  ips: string[];
  cidrs: string[];
  /**
   * Egress `toServices`: connections to one of these Services' cluster IP:port (protocol
   * included), as the client addressed them before load balancing. ips and cidrs are empty then;
   * the box resolves the names against its own Services (a missing Service matches nothing).
   */
  toServices?: ServiceRef[];
}

export type TransportService = { protocol: 'TCP' | 'UDP' | 'SCTP'; port?: number; endPort?: number };
export type IcmpService = { protocol: 'ICMP'; icmpType?: number; icmpCode?: number };
export type RuleService = TransportService | IcmpService;

export interface InternalRule {
  /** Stable across recomputations and hosts: policy, direction, rule index and split key. Cookies and conjunction ids derive from it. */
  id: string;
  policy: PolicyRef;
  /** The rule's name (generated as Antrea does when the spec has none). */
  ruleName: string;
  direction: Direction;
  action: RuleAction;
  layer: PolicyLayer;
  /** Tier name; `k8s` for Kubernetes NetworkPolicy. */
  tier: string;
  order: RuleOrder;
  /** Local pods the rule applies to (ingress: destinations, egress: sources). Never empty. */
  targets: TargetPod[];
  peers: PeerSet;
  /** undefined: any protocol and port. Never an empty array (a rule whose ports resolve to nothing is left out). */
  services?: RuleService[];
  enableLogging: boolean;
  logLabel?: string;
}

export interface NodePolicySet {
  node: string;
  /** In evaluation order: layer, then tier priority, policy priority, rule index (ties by id). */
  rules: InternalRule[];
  /** Local pods a K8s NetworkPolicy isolates, per direction (sorted by key). */
  isolated: Record<Direction, TargetPod[]>;
}

export interface PolicyError {
  policy: PolicyRef;
  /** Path of the offending field, e.g. `spec.ingress[0].from[1].fqdn`. */
  path: string;
  message: string;
}

export interface ComputeResult {
  nodes: Map<string, NodePolicySet>;
  /** Policies left out entirely (nothing partial is applied), with the reason. */
  errors: PolicyError[];
}
