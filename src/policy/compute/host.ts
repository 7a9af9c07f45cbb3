// Host rules: the node's share of the policies applied to Nodes (Antrea's NodeNetworkPolicy,
// pkg/agent/controller/networkpolicy/node_reconciler_linux.go). The controller already sent
// the box only the policies whose nodeSelector picks it, so every rule of every such policy
// applies to this host. Peers become IPv4 CIDRs the way Antrea's address groups do, through the
// pod policies' own resolution (peers.ts): pod selectors and groups to pod IPs, nodeSelector
// peers to the nodes' addresses (node-peers.ts: InternalIP and gateway), ipBlocks with `except`
// cut out. Pure; one bad policy fails alone, with the field's path.
import type { ClusterNetworkPolicy, RuleAction } from '../../api/antrea-policy.js';
import { isHostPolicy } from '../../api/host-policy.js';
import { ipFamily, parseCIDR } from '../../api/net.js';
import { subtractCIDRs } from './cidr.js';
import { hashRule, policyRef } from './drafts.js';
import { NotSupportedError, PolicyComputeError } from './errors.js';
import type { GroupTable } from './groups.js';
import { resolvePeers, type AnyPeer } from './peers.js';
import type { PodIndex } from './pod-index.js';
import { cmp } from './pod-index.js';
import type { AntreaRule, TieredSpec } from './rule-shape.js';
import { hasNamedPort, portSpecs } from './services.js';
import type { TierTable } from './tiers.js';
import type { Direction, PolicyError, PolicyRef, RuleOrder, RuleService } from './types.js';

export interface HostRule {
  /** Policy, direction and rule index: stable across recomputations. */
  id: string;
  policy: PolicyRef;
  ruleName: string;
  direction: Direction;
  ruleIndex: number;
  action: RuleAction;
  /** Baseline tier: after every other tier's rules, where Pass leads. */
  baseline: boolean;
  tier: string;
  order: RuleOrder;
  /** undefined: every address (no from/to); else IPv4 CIDRs, never empty. */
  cidrs?: string[];
  /** undefined: every protocol and port. */
  services?: RuleService[];
  enableLogging: boolean;
  logLabel?: string;
}

export interface HostContext {
  index: PodIndex;
  groups: GroupTable;
  tiers: TierTable;
}

export interface HostResult {
  /** In evaluation order: non-baseline before baseline, then tier priority, policy priority, rule index. */
  rules: HostRule[];
  errors: PolicyError[];
}

/** Every host rule of these policies (the ones isHostPolicy() picks; others are ignored). */
export function computeHostRules(policies: readonly ClusterNetworkPolicy[], ctx: HostContext): HostResult {
  const rules: HostRule[] = [];
  const errors: PolicyError[] = [];
  for (const p of policies) {
    if (!isHostPolicy(p)) continue;
    try {
      rules.push(...hostRulesOf(p, ctx));
    } catch (err) {
      if (!(err instanceof PolicyComputeError)) throw err;
      errors.push({ policy: policyRef(p), path: err.path, message: err.message });
    }
  }
  rules.sort(compareHostRules);
  return { rules, errors };
}

export function compareHostRules(a: HostRule, b: HostRule): number {
  return Number(a.baseline) - Number(b.baseline) || a.order.tierPriority - b.order.tierPriority || a.order.policyPriority - b.order.policyPriority || a.order.ruleIndex - b.order.ruleIndex || cmp(a.id, b.id);
}

function hostRulesOf(p: ClusterNetworkPolicy, ctx: HostContext): HostRule[] {
  const ref = policyRef(p);
  const tier = ctx.tiers.resolve(p.spec.tier);
  const spec: TieredSpec = p.spec;
  const out: HostRule[] = [];
  for (const direction of ['ingress', 'egress'] as const) {
    const list = ((direction === 'ingress' ? spec.ingress : spec.egress) ?? []) as AntreaRule[];
    list.forEach((rule, i) => {
      const path = `spec.${direction}[${i}]`;
      // The schema refuses these; an object stored by an older controller may still carry them.
      if (rule.toServices !== undefined) throw new NotSupportedError(`${path}.toServices`, 'toServices in a policy applied to Nodes');
      if (rule.l7Protocols?.length) throw new NotSupportedError(`${path}.l7Protocols`, 'Layer 7 rules in a policy applied to Nodes');
      const peerField = direction === 'ingress' ? 'from' : 'to';
      const cidrs = peerCIDRs(rule[peerField], ctx, `${path}.${peerField}`);
      const specs = portSpecs(rule.ports, rule.protocols, path);
      if (hasNamedPort(specs)) {
        const j = rule.ports?.findIndex((x) => typeof x.port === 'string') ?? 0;
        throw new PolicyComputeError(`${path}.ports[${j}].port`, 'a named port cannot be used in a policy applied to Nodes (a Node has no container ports)');
      }
      // Peers that select nobody (no pod, no node yet): the rule matches nothing, as in Antrea.
      if (cidrs && !cidrs.length) return;
      const r: HostRule = {
        id: `host|acnp:${ref.name}|${direction}|${i}`,
        policy: ref,
        ruleName: rule.name || `${direction}-${rule.action.toLowerCase()}-${hashRule(rule)}`,
        direction,
        ruleIndex: i,
        action: rule.action,
        baseline: tier.baseline,
        tier: tier.name,
        order: { tierPriority: tier.priority, policyPriority: spec.priority, ruleIndex: i },
        enableLogging: rule.enableLogging ?? false,
      };
      if (cidrs) r.cidrs = cidrs;
      if (specs) r.services = specs as RuleService[];
      if (rule.logLabel) r.logLabel = rule.logLabel;
      out.push(r);
    });
  }
  return out;
}

/** A rule's peers as IPv4 CIDRs; undefined: every address (no peers given). */
function peerCIDRs(peers: readonly AnyPeer[] | undefined, ctx: HostContext, path: string): string[] | undefined {
  if (!peers?.length) return undefined;
  peers.forEach((peer, i) => {
    const at = `${path}[${i}]`;
    if (peer.namespaces !== undefined) throw new PolicyComputeError(`${at}.namespaces`, 'namespaces peers cannot be used in a policy applied to Nodes (they need a Pod\'s namespace)');
    // The box learns names from its pods' DNS answers (src/agent/fqdn); the host's own lookups are not seen.
    if (peer.fqdn !== undefined) throw new NotSupportedError(`${at}.fqdn`, 'fqdn peers in a policy applied to Nodes');
  });
  // One resolution for pod and host rules alike: a nodeSelector peer is the same address group
  // whichever rule uses it (Antrea's controller builds both from nodeToGroupMember).
  const r = resolvePeers(peers, { index: ctx.index, groups: ctx.groups, namespace: undefined }, path);
  const out = new Set<string>();
  for (const pod of r.pods) for (const ip of pod.ips.length ? pod.ips : pod.ip ? [pod.ip] : []) if (ipFamily(ip) === 4) out.add(`${ip}/32`);
  for (const b of r.ipBlocks) for (const c of subtractCIDRs(b.cidr, b.except)) if (parseCIDR(c)?.family === 4) out.add(c);
  // 0.0.0.0/0 among them: every address, one line instead of many (Antrea does the same).
  if (out.has('0.0.0.0/0')) return ['0.0.0.0/0'];
  return [...out].sort(cmp);
}
