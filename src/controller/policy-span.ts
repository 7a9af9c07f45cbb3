// Antrea's span on the controller: a network policy goes only to the nodes hosting a pod it
// applies to. The controller learns pods and namespace labels from what each node reports.
// Incremental, as on the box: a report is diffed against the pods and namespaces the computer
// holds for the node (no copy of the report is kept: the registry's kept report shares its pods'
// labels and addresses with the computer's pods, and an unchanged pod is the same object, so
// most comparisons are one identity test) and only those that differ go to one long-lived
// PolicyComputer, whose index recomputes only the policies whose selections they touch; refresh() then names the nodes whose set of policies
// moved, so the publisher rebuilds only their documents. Other kinds (tiers, groups: every node's computation needs them) go everywhere, and so
// does a policy the computation rejects, so that every node reports the failure and its reason.
import { UPSTREAM_POLICY_KINDS } from '../api/admin-policy.js';
import { qualifiedKind, type ManifestObject } from '../api/kinds.js';
import { objectKey, type NodeReported } from '../api/node-state.js';
import type { Inventory, InventoryNamespace, InventoryPod } from '../api/inventory.js';
import { PolicyComputer, policyObjectsOf } from '../policy/compute/compute.js';
import { cmp } from '../policy/compute/pod-index.js';
import { FLEET_IDS, fleetPod } from './fleet-inventory.js';
import { jsonEqual } from './store/kept-report.js';
import type { Span } from './span.js';
import type { NodeRegistry } from './store/nodes.js';
import type { ObjectStore, StoredRecord } from './store/objects.js';

const POLICY_KINDS = new Set<string>(['ClusterNetworkPolicy.crd.antrea.io', 'NetworkPolicy.crd.antrea.io', 'NetworkPolicy.networking.k8s.io', ...UPSTREAM_POLICY_KINDS]);
/** The kinds policy computation reads (policies, tiers, groups). */
export const COMPUTE_KINDS: ReadonlySet<string> = new Set([...POLICY_KINDS, 'Tier.crd.antrea.io', 'ClusterGroup.crd.antrea.io', 'Group.crd.antrea.io']);

/** What a refresh changed: the nodes whose policies moved, or 'all' (first computation, a store change, a failed policy). */
export type SpanChanges = ReadonlySet<string> | 'all';

type ReportedPod = NodeReported['inventory']['pods'][number];

/**
 * One node's pods and namespaces as the computer holds them, each with the reported object it was
 * made from (the registry's kept pod or labels: the same object while unchanged).
 */
interface NodeInventory {
  pods: Map<string, { from: ReportedPod; pod: InventoryPod }>;
  namespaces: Map<string, InventoryNamespace>;
}

export class PolicySpan {
  /** Policy key → its nodes; absent: every node (not computed yet, or failed). */
  private spans = new Map<string, readonly string[]>();
  /** The same spans as sets (membership tests per node and document are O(1)). */
  private spanSets = new Map<string, ReadonlySet<string>>();
  /** The span each set was made from (an unmoved span keeps its set across refreshes). */
  private readonly spanOfSet = new WeakMap<ReadonlySet<string>, readonly string[]>();
  private readonly inventories = new Map<string, NodeInventory>();
  private inventoriesLoaded = false;
  private computer?: PolicyComputer;
  /** Pod and namespace changes since the last compute (applied to the computer at refresh). */
  private readonly pendingPods = new Map<string, InventoryPod | undefined>();
  private readonly pendingNamespaces = new Map<string, InventoryNamespace | undefined>();
  /** The manifests the spans were computed from; others (a store change) mean any node may have moved. */
  private lastPolicies?: readonly unknown[];
  /** Manifests by object key, kept while the object's generation stands (the computer memoizes by identity). */
  private readonly manifests = new Map<string, { uid: string; generation: number; manifest: ManifestObject }>();
  /** Node lists as sets, by the caller's array (the registry hands out one array until its nodes change). */
  private readonly nodeSets = new WeakMap<readonly string[], ReadonlySet<string>>();
  /** span()'s answer by computed span, for the node list it was filtered by (both arrays stay while unchanged). */
  private readonly filtered = new WeakMap<readonly string[], { nodes: readonly string[]; span: readonly string[] }>();
  /** Moves whenever a refresh changes any policy's span: what was derived from the spans before is stale. */
  version = 0;

  /**
   * `shared`: the store is shared with other controller replicas, which take some nodes' reports.
   * `observe`: told after each recomputation how many policies it computed and how long it took.
   */
  constructor(
    private readonly store: ObjectStore,
    private readonly nodes: NodeRegistry,
    private readonly opts: { shared?: boolean; observe?: (recomputed: number, ms: number) => void } = {},
  ) {
    // A deleted or disabled node's pods leave the inventory: it leaves every span at the next publication.
    nodes.onChange((node, what) => {
      if (what === 'removed') this.forgetNode(node);
    });
  }

  readonly span: Span = (object, nodes) => {
    // Traceflows reach the boxes over request/response (traceflow/runner.ts), never as desired state.
    if (object.kind.kind === 'Traceflow') return [];
    if (!POLICY_KINDS.has(qualifiedKind(object.kind))) return nodes;
    const s = this.spans.get(objectKey(object));
    if (!s) return nodes;
    const memo = this.filtered.get(s);
    if (memo?.nodes === nodes) return memo.span;
    const set = this.nodeSet(nodes);
    const span = s.filter((n) => set.has(n));
    this.filtered.set(s, { nodes, span });
    return span;
  };

  /** Whether `node` is in the object's span, without building a list (the document builder asks once per node and object). */
  inSpan(object: Parameters<Span>[0], node: string, nodes: readonly string[]): boolean {
    if (object.kind.kind === 'Traceflow') return false;
    if (!this.nodeSet(nodes).has(node)) return false;
    if (!POLICY_KINDS.has(qualifiedKind(object.kind))) return true;
    const s = this.spanSets.get(objectKey(object));
    return !s || s.has(node);
  }

  /** Takes a node's report; true when its inventory differs from what the spans were computed with. */
  noteReport(node: string, reported: NodeReported): boolean {
    let inv = this.inventories.get(node);
    if (!inv) this.inventories.set(node, (inv = { pods: new Map(), namespaces: new Map() }));
    let changed = false;
    const pods = reported.inventory.pods;
    for (const p of pods) {
      const key = `${node}/${p.namespace}/${p.name}`;
      const was = inv.pods.get(key);
      if (was && (was.from === p || jsonEqual(was.from, p))) continue;
      const pod = fleetPod(node, p);
      inv.pods.set(key, { from: p, pod });
      this.pendingPods.set(key, pod);
      changed = true;
    }
    // Pods gone: only looked for when something moved or the count differs (a report lists each pod once).
    if (changed || pods.length !== inv.pods.size) {
      const now = new Set(pods.map((p) => `${node}/${p.namespace}/${p.name}`));
      for (const key of inv.pods.keys()) {
        if (now.has(key)) continue;
        inv.pods.delete(key);
        this.pendingPods.set(key, undefined);
        changed = true;
      }
    }
    const namespaces = reported.inventory.namespaces ?? {};
    let count = 0;
    for (const name in namespaces) {
      count++;
      const labels = namespaces[name]!;
      const key = `${node}/${name}`;
      const was = inv.namespaces.get(key);
      if (was && (was.labels === labels || jsonEqual(was.labels, labels))) continue;
      const ns = { name, labels };
      inv.namespaces.set(key, ns);
      this.pendingNamespaces.set(key, ns);
      changed = true;
    }
    if (count !== inv.namespaces.size) {
      for (const [key, ns] of inv.namespaces) {
        if (ns.name in namespaces) continue;
        inv.namespaces.delete(key);
        this.pendingNamespaces.set(key, undefined);
        changed = true;
      }
    }
    return changed;
  }

  /**
   * Recomputes the spans from the store and the reported inventories (before each publication);
   * returns the nodes whose set of policies changed ('all' when that is not known).
   */
  /** `stored`: the store's objects as the caller just read them (else they are read here). */
  async refresh(stored?: readonly StoredRecord[]): Promise<SpanChanges> {
    const t0 = performance.now();
    if (!this.inventoriesLoaded || this.opts.shared) {
      for (const [node, r] of await this.nodes.reports()) this.noteReport(node, r);
      this.inventoriesLoaded = true;
    }
    let all = false;
    if (!this.computer) {
      const pods = new Map<string, InventoryPod>();
      const namespaces = new Map<string, InventoryNamespace>();
      for (const inv of this.inventories.values()) {
        for (const [key, p] of inv.pods) pods.set(key, p.pod);
        for (const [key, n] of inv.namespaces) namespaces.set(key, n);
      }
      const nodes = new Map((await this.nodes.names()).map((n) => [n, { name: n, podCIDRs: [], labels: {} }]));
      this.computer = new PolicyComputer({ pods, namespaces, nodes } satisfies Inventory, FLEET_IDS, { spansOnly: true });
      this.pendingPods.clear();
      this.pendingNamespaces.clear();
      all = true;
    }
    // Namespaces first: a pod's selection reads its node's namespace labels.
    for (const [key, ns] of this.pendingNamespaces) this.computer.index.updateNamespace(key, ns);
    for (const [key, pod] of this.pendingPods) this.computer.index.updatePod(key, pod);
    this.pendingNamespaces.clear();
    this.pendingPods.clear();

    const records = (stored ?? (await this.store.list())).filter((r) => COMPUTE_KINDS.has(qualifiedKind(r.kind)));
    const manifests = records.map((r) => this.manifestOf(r));
    // The same manifests (by identity) as last time: no policy, tier or group changed.
    if (!this.lastPolicies || manifests.length !== this.lastPolicies.length || manifests.some((m, i) => m !== this.lastPolicies![i])) all = true;
    this.lastPolicies = manifests;
    // Deleted objects' manifests go (a long-lived controller must not keep every object it ever saw).
    if (this.manifests.size > records.length) {
      const live = new Set(records.map((r) => objectKey(r)));
      for (const key of this.manifests.keys()) if (!live.has(key)) this.manifests.delete(key);
    }
    const objects = policyObjectsOf(manifests);
    this.computer.compute(objects);
    const spans = new Map<string, readonly string[]>();
    const changed = new Set<string>();
    let moved = false;
    for (const p of objects.policies) {
      const span = this.computer.spanOf(p);
      const key = p.metadata.uid!;
      const before = this.spans.get(key);
      if (span) spans.set(key, span);
      if (before !== span) moved = true;
      if (all || before === span) continue;
      // From or to "every node" (a failed policy): any node may move.
      if (!before || !span) all = true;
      else symmetricDifference(before, span, changed);
    }
    if (moved || spans.size !== this.spans.size) this.version++;
    this.spans = spans;
    // A span that did not move keeps its set (a fleet-wide policy's is ten thousand names).
    const sets = new Map<string, ReadonlySet<string>>();
    for (const [key, span] of spans) {
      const before = this.spanSets.get(key);
      sets.set(key, before && this.spanOfSet.get(before) === span ? before : this.setOf(span));
    }
    this.spanSets = sets;
    this.opts.observe?.(this.computer.lastRecomputed, performance.now() - t0);
    return all ? 'all' : changed;
  }

  private setOf(span: readonly string[]): ReadonlySet<string> {
    const set = new Set(span);
    this.spanOfSet.set(set, span);
    return set;
  }

  private nodeSet(nodes: readonly string[]): ReadonlySet<string> {
    let set = this.nodeSets.get(nodes);
    if (!set) this.nodeSets.set(nodes, (set = new Set(nodes)));
    return set;
  }

  private forgetNode(node: string): void {
    const old = this.inventories.get(node);
    if (!old) return;
    for (const key of old.pods.keys()) this.pendingPods.set(key, undefined);
    for (const key of old.namespaces.keys()) this.pendingNamespaces.set(key, undefined);
    this.inventories.delete(node);
  }

  private manifestOf(r: StoredRecord): ManifestObject {
    const key = objectKey(r);
    let m = this.manifests.get(key);
    if (!m || m.uid !== r.uid || m.generation !== r.generation) {
      // The uid field carries the object key: spans are looked up by it.
      const manifest = { apiVersion: r.apiVersion, kind: r.kind.kind, metadata: { name: r.name, ...(r.namespace ? { namespace: r.namespace } : {}), uid: key }, spec: r.spec } as ManifestObject;
      this.manifests.set(key, (m = { uid: r.uid, generation: r.generation, manifest }));
    }
    return m.manifest;
  }
}

/** Adds to `out` the names in exactly one of two sorted lists (spans are sorted): one merge pass, no sets. */
function symmetricDifference(a: readonly string[], b: readonly string[], out: Set<string>): void {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const c = i === a.length ? 1 : j === b.length ? -1 : cmp(a[i]!, b[j]!);
    if (c < 0) out.add(a[i++]!);
    else if (c > 0) out.add(b[j++]!);
    else {
      i++;
      j++;
    }
  }
}
