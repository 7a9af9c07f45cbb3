// Who is behind a connection: pods (namespace, name, labels) and nodes of both ends from the
// agent's inventory, the flow type, and the policy rules that admitted it (the rule ids the
// policy pipeline commits into ct_label: bits 0-31 ingress, 32-63 egress, see
// policy/registers.ts) or denied it (the rule in the deny counter's cookie).
import { ipFamily, ipToBigInt, parseCIDR } from '../../api/net.js';
import { FlowTypeCode, PolicyTypeCode, RuleActionCode, type FlowRecordInput } from '../../api/flow-record.js';
import type { Inventory, InventoryPod } from '../../api/inventory.js';
import type { RealizedRule } from '../policy/flows.js';
import type { PolicyKind } from '../../policy/compute/types.js';

export interface Endpoint {
  pod?: InventoryPod;
  /** The node the address belongs to (the pod's, or the node whose pod CIDR holds it). */
  node?: string;
}

/** Looks addresses up in one inventory snapshot; rebuilt when the snapshot changes. */
export class EndpointIndex {
  private readonly byIP = new Map<string, InventoryPod>();
  private readonly cidrs: { network: bigint; prefixLength: number; node: string }[] = [];
  /** Addresses repeat across a poll's connections: each is looked up once per snapshot. */
  private readonly cache = new Map<string, Endpoint>();

  constructor(readonly inventory: Inventory) {
    for (const p of inventory.pods.values()) {
      if (p.hostNetwork) continue;
      for (const ip of p.ips.length ? p.ips : p.ip ? [p.ip] : []) this.byIP.set(ip, p);
    }
    for (const n of inventory.nodes.values()) {
      for (const c of n.podCIDRs.length ? n.podCIDRs : n.podCIDR ? [n.podCIDR] : []) {
        const parsed = parseCIDR(c);
        if (parsed?.family === 4) this.cidrs.push({ network: parsed.network, prefixLength: parsed.prefixLength, node: n.name });
      }
    }
  }

  lookup(ip: string): Endpoint {
    let e = this.cache.get(ip);
    if (!e) {
      if (this.cache.size >= 100_000) this.cache.clear(); // many external addresses: start over rather than grow
      this.cache.set(ip, (e = this.find(ip)));
    }
    return e;
  }

  private find(ip: string): Endpoint {
    const pod = this.byIP.get(ip);
    if (pod) return { pod, node: pod.nodeName };
    if (ipFamily(ip) !== 4) return {};
    const v = ipToBigInt(ip);
    for (const c of this.cidrs) if (v >> BigInt(32 - c.prefixLength) === c.network >> BigInt(32 - c.prefixLength)) return { node: c.node };
    return {};
  }
}

/** Antrea's flowType: both ends in the cluster's pod networks → intra/inter-node by node; else to/from external. */
export function flowTypeOf(src: Endpoint, dst: Endpoint): number {
  if (src.node && dst.node) return src.node === dst.node ? FlowTypeCode.IntraNode : FlowTypeCode.InterNode;
  if (src.node) return FlowTypeCode.ToExternal;
  return FlowTypeCode.FromExternal;
}

const POLICY_TYPE: Record<PolicyKind, number> = {
  K8sNetworkPolicy: PolicyTypeCode.K8sNetworkPolicy,
  AntreaNetworkPolicy: PolicyTypeCode.AntreaNetworkPolicy,
  AntreaClusterNetworkPolicy: PolicyTypeCode.AntreaClusterNetworkPolicy,
  // Antrea has no code for the v1alpha2 kind yet; it exports its Admin tier as ANP's.
  ClusterNetworkPolicy: PolicyTypeCode.AdminNetworkPolicy,
  AdminNetworkPolicy: PolicyTypeCode.AdminNetworkPolicy,
  BaselineAdminNetworkPolicy: PolicyTypeCode.BaselineAdminNetworkPolicy,
};

export type PolicyFields = Pick<FlowRecordInput,
  'ingressNetworkPolicyName' | 'ingressNetworkPolicyNamespace' | 'ingressNetworkPolicyType' | 'ingressNetworkPolicyRuleName' | 'ingressNetworkPolicyRuleAction' |
  'egressNetworkPolicyName' | 'egressNetworkPolicyNamespace' | 'egressNetworkPolicyType' | 'egressNetworkPolicyRuleName' | 'egressNetworkPolicyRuleAction'>;

/** The record fields of one rule in its direction. */
export function ruleFields(r: RealizedRule['rule']): PolicyFields {
  const action = r.action === 'Allow' ? RuleActionCode.Allow : r.action === 'Drop' ? RuleActionCode.Drop : r.action === 'Reject' ? RuleActionCode.Reject : RuleActionCode.None;
  const v = { name: r.policy.name, namespace: r.policy.namespace ?? '', type: POLICY_TYPE[r.policy.kind], ruleName: r.ruleName, action };
  return r.direction === 'ingress'
    ? { ingressNetworkPolicyName: v.name, ingressNetworkPolicyNamespace: v.namespace, ingressNetworkPolicyType: v.type, ingressNetworkPolicyRuleName: v.ruleName, ingressNetworkPolicyRuleAction: v.action }
    : { egressNetworkPolicyName: v.name, egressNetworkPolicyNamespace: v.namespace, egressNetworkPolicyType: v.type, egressNetworkPolicyRuleName: v.ruleName, egressNetworkPolicyRuleAction: v.action };
}

/** The ingress and egress rules named by a connection's ct_label. */
export function labelPolicies(labels: bigint, rule: (conjId: number) => RealizedRule | undefined): PolicyFields {
  if (labels === 0n) return {};
  const ingress = Number(labels & 0xffffffffn);
  const egress = Number((labels >> 32n) & 0xffffffffn);
  const out: PolicyFields = {};
  const i = ingress ? rule(ingress) : undefined;
  const e = egress ? rule(egress) : undefined;
  if (i && i.rule.direction === 'ingress') Object.assign(out, ruleFields(i.rule));
  if (e && e.rule.direction === 'egress') Object.assign(out, ruleFields(e.rule));
  return out;
}

/** Pod and node fields of both ends. */
export function endpointFields(src: Endpoint, dst: Endpoint): Pick<FlowRecordInput, 'sourcePodNamespace' | 'sourcePodName' | 'sourceNodeName' | 'destinationPodNamespace' | 'destinationPodName' | 'destinationNodeName' | 'flowType'> {
  return {
    sourcePodNamespace: src.pod?.namespace ?? '',
    sourcePodName: src.pod?.name ?? '',
    sourceNodeName: src.pod ? (src.node ?? '') : '',
    destinationPodNamespace: dst.pod?.namespace ?? '',
    destinationPodName: dst.pod?.name ?? '',
    destinationNodeName: dst.pod ? (dst.node ?? '') : '',
    flowType: flowTypeOf(src, dst),
  };
}
