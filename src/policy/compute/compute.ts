// Policy objects + inventory → one NodePolicySet per node: Antrea's controller computation
// (internal policies, applied-to groups, address groups, span) without its API machinery.
// Pure: no I/O, no clock. A PolicyComputer keeps the pod index and each policy's result
// between runs: an inventory change recomputes only the selections it touches and the policies
// that used them (Antrea's controller does the same with its group indexes).
import type { ClusterNetworkPolicy } from '../../api/antrea-policy.js';
import type { ClusterGroup, Group } from '../../api/group.js';
import { isHostPolicy } from '../../api/host-policy.js';
import type { ManifestObject } from '../../api/kinds.js';
import type { Tier } from '../../api/tier.js';
import { podKey, type Inventory, type InventoryChange, type InventoryPod } from '../../api/inventory.js';
import { subtractCIDRs } from './cidr.js';
import { draftPolicy, policyKey, policyRef, type PolicyObject, type RuleDraft } from './drafts.js';
import { PolicyComputeError } from './errors.js';
import { GroupTable } from './groups.js';
import { peerPodsFor } from './peers.js';
import { PodIndex, cmp } from './pod-index.js';
import { hasNamedPort, resolveFor, servicesSignature, type PortSpec } from './services.js';
import { TierTable } from './tiers.js';
import type { ComputeResult, Direction, InternalRule, NodePolicySet, PeerSet, PolicyError, PolicyRef, RuleService, ServiceRef, TargetPod } from './types.js';

export interface PolicyObjects {
  policies: PolicyObject[];
  /** ACNPs applied to Nodes (host firewall): not pod policy, computed by host.ts; compute() ignores them. */
  hostPolicies?: ClusterNetworkPolicy[];
  tiers?: Tier[];
  clusterGroups?: ClusterGroup[];
  groups?: Group[];
}

/** Sorts loaded manifest objects into what compute needs; other kinds are ignored. */
export function policyObjectsOf(objects: readonly ManifestObject[]): PolicyObjects {
  const out: Required<PolicyObjects> = { policies: [], hostPolicies: [], tiers: [], clusterGroups: [], groups: [] };
  for (const o of objects) {
    if (o.kind === 'ClusterNetworkPolicy' && isHostPolicy(o)) out.hostPolicies.push(o as ClusterNetworkPolicy);
    else if (o.kind === 'NetworkPolicy' || o.kind === 'ClusterNetworkPolicy' || o.kind === 'AdminNetworkPolicy' || o.kind === 'BaselineAdminNetworkPolicy') out.policies.push(o);
    else if (o.kind === 'Tier') out.tiers.push(o);
    else if (o.kind === 'ClusterGroup') out.clusterGroups.push(o);
    else if (o.kind === 'Group') out.groups.push(o);
  }
  return out;
}

const LAYER_RANK = { antrea: 0, k8s: 1, baseline: 2 } as const;

/** Evaluation order: layer, tier priority, policy priority, rule index, then id (equal priorities have no defined order in Antrea; ours is stable). */
export function compareRules(a: InternalRule, b: InternalRule): number {
  return (
    LAYER_RANK[a.layer] - LAYER_RANK[b.layer] ||
    a.order.tierPriority - b.order.tierPriority ||
    a.order.policyPriority - b.order.policyPriority ||
    a.order.ruleIndex - b.order.ruleIndex ||
    cmp(a.id, b.id)
  );
}

/** What one policy contributes, kept until a change it depends on. */
interface PolicyResult {
  rules: [string, InternalRule][];
  isolates: Record<Direction, [string, TargetPod][]>;
  error?: PolicyError;
  /** Keys of the pod selections the result was computed from. */
  deps: Set<string>;
  /** Nodes hosting a pod the policy applies to (Antrea's span), sorted. */
  span: string[];
}

/** A node's share of every policy, kept so that only nodes a change touched are reassembled. */
interface NodeShare {
  rules: Map<PolicyObject, InternalRule[]>;
  isolated: Record<Direction, Map<PolicyObject, TargetPod[]>>;
}

export class PolicyComputer {
  readonly index: PodIndex;
  private readonly nodeNames = new Set<string>();
  private readonly cidrMemo = new Map<string, string[]>();
  // Incremental state: results per policy object (by identity), which policies each selection
  // feeds, the policies a change made stale, each node's share and its last assembled set.
  // Tiers and groups changing drop everything.
  private readonly results = new Map<PolicyObject, PolicyResult>();
  private readonly dependents = new Map<string, Set<PolicyObject>>();
  private readonly stale = new Set<PolicyObject>();
  private readonly shares = new Map<string, NodeShare>();
  private readonly assembled = new Map<string, NodePolicySet>();
  private readonly dirtyNodes = new Set<string>();
  private context: unknown[] = [];
  private lastPolicies?: readonly PolicyObject[];
  /** Policies (re)computed by the last compute() (for tests and benches). */
  lastRecomputed = 0;

  private readonly podKeyOf: (pod: InventoryPod) => string;
  private readonly spansOnly: boolean;

  /**
   * `ids`: pod and namespace identities in the index (default namespace/name and name; the controller adds the node).
   * `spansOnly`: the caller reads spanOf() and errors only (the controller's span): no per-node
   * rules are made, no node's share is kept nor assembled, so a change costs the policies it
   * touches, not a pass (and a sort) over every node of a fleet.
   */
  constructor(inventory: Inventory, ids: ConstructorParameters<typeof PodIndex>[1] = {}, opts: { spansOnly?: boolean } = {}) {
    this.podKeyOf = ids.pod ?? podKey;
    this.spansOnly = opts.spansOnly ?? false;
    this.index = new PodIndex(inventory, ids);
    this.index.onInvalidate = (key) => {
      for (const p of this.dependents.get(key) ?? []) this.stale.add(p);
    };
    for (const n of inventory.nodes.keys()) this.nodeNames.add(n);
  }

  /** Feeds an inventory change to the index (only the selections it touches are recomputed). */
  applyChange(change: InventoryChange): void {
    const deleted = change.type === 'deleted';
    if (change.kind === 'Pod') this.index.updatePod(this.podKeyOf(change.object), deleted ? undefined : change.object);
    else if (change.kind === 'Namespace') this.index.updateNamespace(change.object.name, deleted ? undefined : change.object);
    // Services select nothing here: toServices names them, and the box resolves the names when it writes flows.
    else if (change.kind === 'Service' || change.kind === 'EndpointSlice') return;
    else {
      this.index.updateNode(change.object.name, deleted ? undefined : change.object);
      if (deleted) this.nodeNames.delete(change.object.name);
      else this.nodeNames.add(change.object.name);
      this.dirtyNodes.add(change.object.name);
    }
  }

  /**
   * Every node's rules. Incremental: a policy object seen before (the same object, not an equal
   * one) is recomputed only if a selection it used changed since, or tiers or groups changed;
   * only the nodes whose share changed are reassembled.
   */
  compute(objects: PolicyObjects): ComputeResult {
    const context = [objects.tiers ?? [], objects.clusterGroups ?? [], objects.groups ?? []];
    if (context.some((c, i) => c !== this.context[i]) && JSON.stringify(context) !== JSON.stringify(this.context)) {
      for (const p of [...this.results.keys()]) this.forget(p);
    }
    this.context = context;
    if (objects.policies !== this.lastPolicies) {
      const current = new Set(objects.policies);
      for (const p of [...this.results.keys()]) if (!current.has(p)) this.forget(p);
      this.lastPolicies = objects.policies;
    }

    const ctx = { index: this.index, groups: new GroupTable(objects.clusterGroups, objects.groups), tiers: new TierTable(objects.tiers) };
    const errors: PolicyError[] = [];
    this.lastRecomputed = 0;
    for (const policy of objects.policies) {
      let result = this.results.get(policy);
      if (!result || this.stale.has(policy)) {
        if (result) this.forget(policy);
        result = this.computePolicy(policy, ctx);
        this.remember(policy, result);
        this.lastRecomputed++;
      }
      if (result.error) errors.push(result.error);
    }
    this.stale.clear();
    if (this.spansOnly) return { nodes: new Map(), errors };

    for (const node of this.dirtyNodes) {
      const share = this.shares.get(node);
      if (!share && !this.nodeNames.has(node)) this.assembled.delete(node);
      else this.assembled.set(node, assemble(node, share));
    }
    this.dirtyNodes.clear();
    for (const node of this.nodeNames) if (!this.assembled.has(node)) this.assembled.set(node, assemble(node, undefined));
    const out = new Map<string, NodePolicySet>();
    for (const node of [...this.assembled.keys()].sort(cmp)) out.set(node, this.assembled.get(node)!);
    return { nodes: out, errors };
  }

  /** The nodes a policy of the last compute() applies to; undefined if it was not computed or failed. */
  spanOf(policy: PolicyObject): readonly string[] | undefined {
    const r = this.results.get(policy);
    return r && !r.error ? r.span : undefined;
  }

  /**
   * The K8s NetworkPolicies of the last compute() that isolate each pod, per direction, keyed
   * `node|namespace/name` (NodePolicySet.isolated says that a pod is isolated; evaluation must
   * also say by which policy).
   */
  isolatingPolicies(): Record<Direction, Map<string, PolicyRef[]>> {
    const out: Record<Direction, Map<string, PolicyRef[]>> = { ingress: new Map(), egress: new Map() };
    for (const [policy, r] of this.results) {
      if (r.error) continue;
      for (const dir of ['ingress', 'egress'] as const) {
        for (const [node, t] of r.isolates[dir]) {
          const key = `${node}|${t.key}`;
          const list = out[dir].get(key);
          if (list) list.push(policyRef(policy));
          else out[dir].set(key, [policyRef(policy)]);
        }
      }
    }
    for (const dir of ['ingress', 'egress'] as const) for (const list of out[dir].values()) list.sort((a, b) => cmp(policyKey(a), policyKey(b)));
    return out;
  }

  private shareOf(node: string): NodeShare {
    let share = this.shares.get(node);
    if (!share) this.shares.set(node, (share = { rules: new Map(), isolated: { ingress: new Map(), egress: new Map() } }));
    return share;
  }

  private remember(policy: PolicyObject, result: PolicyResult): void {
    this.results.set(policy, result);
    for (const key of result.deps) getOrAdd(this.dependents, key).add(policy);
    if (this.spansOnly) return;
    for (const [node, rule] of result.rules) {
      const rules = this.shareOf(node).rules;
      const list = rules.get(policy);
      if (list) list.push(rule);
      else rules.set(policy, [rule]);
      this.dirtyNodes.add(node);
    }
    for (const dir of ['ingress', 'egress'] as const) {
      for (const [node, t] of result.isolates[dir]) {
        const iso = this.shareOf(node).isolated[dir];
        const list = iso.get(policy);
        if (list) list.push(t);
        else iso.set(policy, [t]);
        this.dirtyNodes.add(node);
      }
    }
  }

  /** One policy's rules and isolated pods; everything is computed before anything is used, so a failing policy leaves no trace. */
  private computePolicy(policy: PolicyObject, ctx: Parameters<typeof draftPolicy>[1]): PolicyResult {
    const deps = new Set<string>();
    try {
      return this.index.track(deps, () => {
        const { drafts, isolates: iso } = draftPolicy(policy, ctx);
        // Spans only: no per-node rules (drafting resolved the peers already, with their errors).
        const rules = this.spansOnly ? [] : drafts.flatMap((d) => [...this.splitDraft(d)]);
        const isolates: PolicyResult['isolates'] = { ingress: [], egress: [] };
        const span = new Set<string>();
        for (const dir of ['ingress', 'egress'] as const) {
          for (const pod of iso[dir]) if (pod.nodeName && !this.spansOnly) isolates[dir].push([pod.nodeName, target(pod)]);
        }
        for (const pod of [...drafts.flatMap((d) => d.appliedTo), ...iso.ingress, ...iso.egress]) if (pod.nodeName) span.add(pod.nodeName);
        return { rules, isolates, deps, span: [...span].sort(cmp) };
      });
    } catch (err) {
      if (!(err instanceof PolicyComputeError)) throw err;
      return { rules: [], isolates: { ingress: [], egress: [] }, error: { policy: policyRef(policy), path: err.path, message: err.message }, deps, span: [] };
    }
  }

  private forget(policy: PolicyObject): void {
    const r = this.results.get(policy);
    if (!r) return;
    for (const key of r.deps) {
      const set = this.dependents.get(key);
      set?.delete(policy);
      if (set && !set.size) this.dependents.delete(key);
    }
    const nodes = new Set([...r.rules.map(([n]) => n), ...r.isolates.ingress.map(([n]) => n), ...r.isolates.egress.map(([n]) => n)]);
    for (const node of nodes) {
      const share = this.shares.get(node)!;
      share.rules.delete(policy);
      share.isolated.ingress.delete(policy);
      share.isolated.egress.delete(policy);
      if (!share.rules.size && !share.isolated.ingress.size && !share.isolated.egress.size) this.shares.delete(node);
      this.dirtyNodes.add(node);
    }
    this.results.delete(policy);
  }

  /**
   * A draft → [node, rule] pairs: targets grouped by node (the span), then by what their rule
   * must differ in — the namespace for `namespaces: Self`, the resolved numbers for ingress named
   * ports — and, for egress named ports, the peers grouped by what the name resolves to on them.
   */
  private *splitDraft(d: RuleDraft): Generator<[string, InternalRule]> {
    const self = d.peers.selfSelectors.length > 0;
    const named = hasNamedPort(d.ports);
    const byNode = new Map<string, Map<string, { targets: InventoryPod[]; ns: string; services?: RuleService[]; suffix: string }>>();
    for (const pod of d.appliedTo) {
      if (!pod.nodeName) continue;
      let splits = byNode.get(pod.nodeName);
      if (!splits) byNode.set(pod.nodeName, (splits = new Map()));
      let services = d.ports && !named ? (d.ports as RuleService[]) : undefined;
      let suffix = self ? `|ns=${pod.namespace}` : '';
      if (named && d.direction === 'ingress') {
        services = resolveFor(d.ports!, pod);
        suffix += `|svc=${servicesSignature(services)}`;
      }
      let split = splits.get(suffix);
      if (!split) splits.set(suffix, (split = { targets: [], ns: pod.namespace, suffix, ...(services ? { services } : {}) }));
      split.targets.push(pod);
    }
    for (const [node, splits] of byNode) {
      for (const split of splits.values()) {
        const peerPods = peerPodsFor(d.peers, this.index, split.ns);
        const targets = split.targets.map(target).sort((a, b) => cmp(a.key, b.key));
        if (named && d.direction === 'egress') {
          // An empty `to` with a named port is, as in Antrea (toAntreaPeer with namedPortExists:
          // matchAllPeer plus an address group of every pod), every address for the numeric
          // ports plus every pod with the name resolved on it.
          const [pods, blocks] = d.peers.any ? [this.index.select({ scope: { kind: 'all' } }), [ANY_IPV4]] : [peerPods, d.peers.ipBlocks];
          for (const part of this.splitPeersByPort(d.ports!, pods, blocks, d.peers.any ? [] : d.peers.fqdns)) {
            const rule = this.rule(d, split.suffix + part.suffix, targets, part.peers, part.services);
            if (rule) yield [node, rule];
          }
        } else {
          const peers = d.toServices ? this.servicePeers(d.toServices) : this.peerSet(d.peers.any, peerPods, d.peers.ipBlocks, d.peers.fqdns);
          const rule = this.rule(d, split.suffix, targets, peers, split.services);
          if (rule) yield [node, rule];
        }
      }
    }
  }

  private splitPeersByPort(ports: PortSpec[], pods: InventoryPod[], ipBlocks: RuleDraft['peers']['ipBlocks'], fqdns: readonly string[]) {
    const parts = new Map<string, { suffix: string; pods: InventoryPod[]; blocks: typeof ipBlocks; fqdns: string[]; services: RuleService[] }>();
    const add = (services: RuleService[], pod?: InventoryPod, blocks: typeof ipBlocks = [], names: readonly string[] = []) => {
      const sig = servicesSignature(services);
      let part = parts.get(sig);
      if (!part) parts.set(sig, (part = { suffix: `|svc=${sig}`, pods: [], blocks: [], fqdns: [], services }));
      if (pod) part.pods.push(pod);
      part.blocks.push(...blocks);
      part.fqdns.push(...names);
    };
    for (const pod of pods) add(resolveFor(ports, pod), pod);
    // Addresses outside the pods (ipBlocks, resolved names) have no named ports: only the numeric entries apply to them.
    if (ipBlocks.length || fqdns.length) add(resolveFor(ports, undefined), undefined, ipBlocks, fqdns);
    return [...parts.values()].map((p) => ({ suffix: p.suffix, services: p.services, peers: this.peerSet(false, p.pods, p.blocks, p.fqdns) }));
  }

  /** Address sets by pod array (the index's memoized arrays) and blocks: equal peers share one. */
  private readonly peerSetMemo = new WeakMap<readonly InventoryPod[], Map<string, PeerSet>>();

  private peerSet(any: boolean, pods: readonly InventoryPod[], blocks: RuleDraft['peers']['ipBlocks'], fqdns: readonly string[] = []): PeerSet {
    if (any) return { any: true, ips: [], cidrs: [] };
    const blocksKey = (blocks.length ? JSON.stringify(blocks) : '') + (fqdns.length ? `|fqdn=${fqdns.join(',')}` : '');
    let byBlocks = this.peerSetMemo.get(pods);
    if (!byBlocks) this.peerSetMemo.set(pods, (byBlocks = new Map()));
    let set = byBlocks.get(blocksKey);
    if (!set) byBlocks.set(blocksKey, (set = this.buildPeerSet(pods, blocks, fqdns)));
    return set;
  }

  /** A toServices rule's peers: one object per draft's list, shared by its per-node rules. */
  private readonly servicePeerMemo = new WeakMap<readonly ServiceRef[], PeerSet>();

  private servicePeers(refs: readonly ServiceRef[]): PeerSet {
    let set = this.servicePeerMemo.get(refs);
    if (!set) this.servicePeerMemo.set(refs, (set = { any: false, ips: [], cidrs: [], toServices: [...refs] }));
    return set;
  }

  private buildPeerSet(pods: readonly InventoryPod[], blocks: RuleDraft['peers']['ipBlocks'], fqdns: readonly string[]): PeerSet {
    const ips = new Set<string>();
    for (const p of pods) for (const ip of p.ips.length ? p.ips : [p.ip!]) ips.add(ip);
    const cidrs = new Set<string>();
    for (const b of blocks) for (const c of this.cidrsOf(b.cidr, b.except)) cidrs.add(c);
    const set: PeerSet = { any: false, ips: [...ips].sort(), cidrs: [...cidrs].sort() };
    if (fqdns.length) set.fqdns = [...new Set(fqdns)].sort();
    return set;
  }

  private cidrsOf(cidr: string, except: readonly string[] | undefined): string[] {
    const key = `${cidr}-${(except ?? []).join(',')}`;
    let v = this.cidrMemo.get(key);
    if (!v) this.cidrMemo.set(key, (v = subtractCIDRs(cidr, except)));
    return v;
  }

  private rule(d: RuleDraft, suffix: string, targets: TargetPod[], peers: PeerSet, services: RuleService[] | undefined): InternalRule | undefined {
    // Nothing to match: named ports that resolve to nothing, or peers that select nobody.
    if (services && !services.length) return undefined;
    // A rule of fqdn peers stays while no name is resolved yet: the box fills its addresses in.
    if (!peers.any && !peers.ips.length && !peers.cidrs.length && !peers.fqdns?.length && !peers.toServices?.length) return undefined;
    const rule: InternalRule = {
      id: d.baseId + suffix,
      policy: d.policy,
      ruleName: d.ruleName,
      direction: d.direction,
      action: d.action,
      layer: d.layer,
      tier: d.tier,
      order: d.order,
      targets,
      peers,
      enableLogging: d.enableLogging,
    };
    if (services) rule.services = services;
    if (d.logLabel) rule.logLabel = d.logLabel;
    return rule;
  }
}

const ANY_IPV4 = { cidr: '0.0.0.0/0' };

/** A node's rules in evaluation order and its isolated pods, from its share of every policy. */
function assemble(node: string, share: NodeShare | undefined): NodePolicySet {
  const rules = share ? [...share.rules.values()].flat().sort(compareRules) : [];
  const isolated = (dir: Direction) => {
    const byKey = new Map<string, TargetPod>();
    for (const list of share?.isolated[dir].values() ?? []) for (const t of list) byKey.set(t.key, t);
    return [...byKey.values()].sort((a, b) => cmp(a.key, b.key));
  };
  return { node, rules, isolated: { ingress: isolated('ingress'), egress: isolated('egress') } };
}

const target = (pod: InventoryPod): TargetPod => ({ key: podKey(pod), ip: pod.ip! });

/** One-shot compute from a snapshot. */
export function computeNodePolicies(objects: PolicyObjects, inventory: Inventory): ComputeResult {
  return new PolicyComputer(inventory).compute(objects);
}

function getOrAdd<K, V>(map: Map<K, Set<V>>, key: K): Set<V> {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  return set;
}
