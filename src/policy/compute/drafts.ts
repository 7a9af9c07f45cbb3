// One policy object → rule drafts: the policy's rules with appliedTo and peers resolved to pods
// cluster-wide, not yet split per node, per `Self` namespace or per named-port resolution.
// Everything the compute step does not handle is refused here, with the field's path.
import { createHash } from 'node:crypto';
import type { AntreaNetworkPolicy, ClusterNetworkPolicy } from '../../api/antrea-policy.js';
import { isUpstreamPolicy, type UpstreamPolicy } from '../../api/admin-policy.js';
import type { K8sNetworkPolicy } from '../../api/k8s-networkpolicy.js';
import type { LabelSelector } from '../../api/meta.js';
import type { InventoryPod } from '../../api/inventory.js';
import { NotSupportedError, PolicyComputeError } from './errors.js';
import type { GroupTable } from './groups.js';
import { resolvePeers, type AnyPeer, type ResolvedPeers } from './peers.js';
import type { PodIndex } from './pod-index.js';
import { portSpecs, type PortSpec } from './services.js';
import { K8S_TIER_NAME, K8S_TIER_PRIORITY, type ResolvedTier, type TierTable } from './tiers.js';
import type { Direction, InternalRule, PolicyKind, PolicyLayer, PolicyRef, ServiceRef } from './types.js';
import type { AntreaRule, AppliedToEntry, TieredSpec } from './rule-shape.js';
import { toTieredSpec, upstreamKind } from './upstream.js';

export type PolicyObject = K8sNetworkPolicy | ClusterNetworkPolicy | AntreaNetworkPolicy | UpstreamPolicy;

/** A rule before its pods and peers are split per node: the identity fields are InternalRule's. */
export interface RuleDraft extends Pick<InternalRule, 'policy' | 'ruleName' | 'direction' | 'action' | 'layer' | 'tier' | 'order'> {
  /** Policy, direction and rule index; split keys are appended to it. */
  baseId: string;
  appliedTo: InventoryPod[];
  peers: ResolvedPeers;
  ports?: PortSpec[];
  /** Egress `toServices` (then peers select nothing and ports are absent). */
  toServices?: ServiceRef[];
  enableLogging: boolean;
  logLabel?: string;
}

export interface PolicyDrafts {
  drafts: RuleDraft[];
  /** K8s isolation: pods a K8s policy selects for a direction it lists in policyTypes. */
  isolates: Record<Direction, InventoryPod[]>;
}

export interface DraftContext {
  index: PodIndex;
  groups: GroupTable;
  tiers: TierTable;
}

export function isK8sPolicy(p: PolicyObject): p is K8sNetworkPolicy {
  return p.apiVersion === 'networking.k8s.io/v1';
}

export function policyRef(p: PolicyObject): PolicyRef {
  const kind: PolicyKind = isK8sPolicy(p)
    ? 'K8sNetworkPolicy'
    : isUpstreamPolicy(p)
      ? upstreamKind(p)
      : p.kind === 'ClusterNetworkPolicy'
        ? 'AntreaClusterNetworkPolicy'
        : 'AntreaNetworkPolicy';
  const ref: PolicyRef = { kind, name: p.metadata.name ?? '' };
  if (kind === 'K8sNetworkPolicy' || kind === 'AntreaNetworkPolicy') ref.namespace = p.metadata.namespace ?? 'default';
  if (p.metadata.uid) ref.uid = p.metadata.uid;
  return ref;
}

const KIND_SHORT = {
  K8sNetworkPolicy: 'knp',
  AntreaClusterNetworkPolicy: 'acnp',
  AntreaNetworkPolicy: 'anp',
  ClusterNetworkPolicy: 'cnp',
  AdminNetworkPolicy: 'kanp',
  BaselineAdminNetworkPolicy: 'banp',
} as const satisfies Record<PolicyKind, string>;
export const policyKey = (ref: PolicyRef): string => `${KIND_SHORT[ref.kind]}:${ref.namespace ? `${ref.namespace}/` : ''}${ref.name}`;

export function draftPolicy(p: PolicyObject, ctx: DraftContext): PolicyDrafts {
  if (isK8sPolicy(p)) return draftK8s(p, ctx);
  if (isUpstreamPolicy(p)) {
    const u = toTieredSpec(p);
    return draftTiered(u.spec, policyRef(p), u.tier, ctx);
  }
  return draftAntrea(p, ctx);
}

function draftK8s(p: K8sNetworkPolicy, ctx: DraftContext): PolicyDrafts {
  const ref = policyRef(p);
  const namespace = ref.namespace!;
  const pctx = { index: ctx.index, groups: ctx.groups, namespace };
  const selected = ctx.index.select({ scope: { kind: 'one', namespace }, podSelector: p.spec.podSelector ?? {} });
  // Kubernetes' defaulting: Ingress always, Egress when egress rules are present.
  const types = p.spec.policyTypes ?? (p.spec.egress?.length ? ['Ingress', 'Egress'] : ['Ingress']);
  const isolates: PolicyDrafts['isolates'] = { ingress: [], egress: [] };
  const drafts: RuleDraft[] = [];
  for (const direction of ['ingress', 'egress'] as const) {
    if (!types.includes(direction === 'ingress' ? 'Ingress' : 'Egress')) continue;
    isolates[direction] = selected;
    const rules = (direction === 'ingress' ? p.spec.ingress : p.spec.egress) ?? [];
    rules.forEach((rule, i) => {
      const path = `spec.${direction}[${i}]`;
      const peerList = 'from' in rule ? rule.from : (rule as { to?: AnyPeer[] }).to;
      const draft: RuleDraft = {
        baseId: `${policyKey(ref)}|${direction}|${i}`,
        policy: ref,
        ruleName: `${direction}-${i}`,
        direction,
        action: 'Allow',
        layer: 'k8s',
        tier: K8S_TIER_NAME,
        order: { tierPriority: K8S_TIER_PRIORITY, policyPriority: 0, ruleIndex: i },
        appliedTo: selected,
        peers: resolvePeers(peerList, pctx, `${path}.${direction === 'ingress' ? 'from' : 'to'}`),
        enableLogging: false,
      };
      const ports = portSpecs(rule.ports, undefined, path);
      if (ports) draft.ports = ports;
      drafts.push(draft);
    });
  }
  return { drafts, isolates };
}

function draftAntrea(p: ClusterNetworkPolicy | AntreaNetworkPolicy, ctx: DraftContext): PolicyDrafts {
  return draftTiered(p.spec, policyRef(p), ctx.tiers.resolve(p.spec.tier), ctx);
}

function draftTiered(spec: TieredSpec, ref: PolicyRef, tier: ResolvedTier, ctx: DraftContext): PolicyDrafts {
  const namespace = ref.namespace; // undefined for cluster-scoped policies
  const pctx = { index: ctx.index, groups: ctx.groups, namespace };
  const layer: PolicyLayer = tier.baseline ? 'baseline' : 'antrea';
  const policyTargets = spec.appliedTo?.length ? resolveAppliedTo(spec.appliedTo, pctx, 'spec.appliedTo') : undefined;
  const drafts: RuleDraft[] = [];
  for (const direction of ['ingress', 'egress'] as const) {
    const rules = ((direction === 'ingress' ? spec.ingress : spec.egress) ?? []) as AntreaRule[];
    rules.forEach((rule, i) => {
      const path = `spec.${direction}[${i}]`;
      if (rule.l7Protocols?.length) throw new NotSupportedError(`${path}.l7Protocols`, 'Layer 7 rules (l7Protocols)');
      const appliedTo = rule.appliedTo?.length ? resolveAppliedTo(rule.appliedTo, pctx, `${path}.appliedTo`) : policyTargets;
      if (!appliedTo) throw new PolicyComputeError(`${path}.appliedTo`, 'no appliedTo on the policy or the rule');
      const peerField = direction === 'ingress' ? 'from' : 'to';
      const draft: RuleDraft = {
        baseId: `${policyKey(ref)}|${direction}|${i}`,
        policy: ref,
        ruleName: rule.name || `${direction}-${rule.action.toLowerCase()}-${hashRule(rule)}`,
        direction,
        action: rule.action,
        layer,
        tier: tier.name,
        order: { tierPriority: tier.priority, policyPriority: spec.priority, ruleIndex: i },
        appliedTo,
        peers: rule.toServices ? NO_PEERS : resolvePeers(rule[peerField], pctx, `${path}.${peerField}`),
        enableLogging: rule.enableLogging ?? false,
      };
      const ports = portSpecs(rule.ports, rule.protocols, path);
      if (ports) draft.ports = ports;
      if (rule.toServices) draft.toServices = serviceRefs(rule.toServices, namespace, `${path}.toServices`);
      if (rule.logLabel) draft.logLabel = rule.logLabel;
      drafts.push(draft);
    });
  }
  return { drafts, isolates: { ingress: [], egress: [] } };
}

/** A toServices rule's peers: no address of its own (the Services are matched instead). */
const NO_PEERS: ResolvedPeers = { any: false, pods: [], ipBlocks: [], selfSelectors: [] };

/**
 * toServices entries → Service references, sorted and deduplicated (the rule's identity must not
 * depend on their order). An Antrea NetworkPolicy's entry without a namespace means the policy's
 * own (Antrea's svcRefToPeerForCRD); an ACNP's schema requires one.
 */
function serviceRefs(entries: NonNullable<AntreaRule['toServices']>, namespace: string | undefined, path: string): ServiceRef[] {
  const refs = new Map<string, ServiceRef>();
  entries.forEach((e, i) => {
    if (e.scope === 'ClusterSet') throw new NotSupportedError(`${path}[${i}].scope`, 'scope ClusterSet (multi-cluster Services)');
    const ns = e.namespace || namespace;
    if (!ns) throw new PolicyComputeError(`${path}[${i}].namespace`, 'required in a cluster-scoped policy');
    refs.set(`${ns}/${e.name}`, { namespace: ns, name: e.name });
  });
  return [...refs.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, r]) => r);
}

function resolveAppliedTo(entries: readonly AppliedToEntry[], ctx: { index: PodIndex; groups: GroupTable; namespace: string | undefined }, path: string): InventoryPod[] {
  // Index pods are unique objects: deduplicated by identity (two nodes' pods may share namespace/name).
  const pods = new Set<InventoryPod>();
  entries.forEach((e, i) => {
    const at = `${path}[${i}]`;
    if (e.service !== undefined) throw new NotSupportedError(`${at}.service`, 'appliedTo a Service (NodePort policy)');
    if (e.serviceAccount !== undefined) throw new NotSupportedError(`${at}.serviceAccount`, 'appliedTo serviceAccount');
    if (e.nodeSelector !== undefined) throw new NotSupportedError(`${at}.nodeSelector`, 'appliedTo nodeSelector (host policy)');
    if (e.externalEntitySelector !== undefined) throw new NotSupportedError(`${at}.externalEntitySelector`, 'appliedTo externalEntitySelector');
    let selected: InventoryPod[];
    if (e.group) {
      const m = ctx.groups.members(ctx.index, e.group, ctx.namespace, `${at}.group`);
      if (m.ipBlocks.length) throw new PolicyComputeError(`${at}.group`, `group ${e.group} has ipBlocks, which cannot be used in appliedTo`);
      selected = m.pods;
    } else if (e.namespaceSelector !== undefined) {
      selected = ctx.index.select({ scope: { kind: 'selector', selector: e.namespaceSelector as LabelSelector }, podSelector: e.podSelector });
    } else {
      selected = ctx.index.select({ scope: ctx.namespace === undefined ? { kind: 'all' } : { kind: 'one', namespace: ctx.namespace }, podSelector: e.podSelector });
    }
    for (const p of selected) pods.add(p);
  });
  return [...pods];
}

// Antrea's generated rule name suffix: the first 7 hex digits of sha1(JSON of the rule).
export function hashRule(rule: object): string {
  return createHash('sha1').update(JSON.stringify(rule)).digest('hex').slice(0, 7);
}
