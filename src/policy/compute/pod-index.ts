// The inventory as policy compute reads it: active pods with an IP, indexed by namespace and by
// label pair, so a selector with matchLabels walks its smallest posting list instead of every
// pod. Selections are memoized by (namespace scope, selectors); a pod or namespace change
// drops only the memo entries whose selectors matched the old or the new object, so a label
// change recomputes the groups it affects and no others. Nodes are here too, for the peers that
// select them by label (`nodes`, `nodeSelector`): few, so a node change drops every node
// selection its old or new labels match.
import type { LabelSelector } from '../../api/meta.js';
import { isActivePod, podKey, type Inventory, type InventoryNamespace, type InventoryNode, type InventoryPod } from '../../api/inventory.js';
import { selectorKey, selectorMatches } from './selector.js';

/** Which namespaces a selection looks in. */
export type NamespaceScope =
  | { kind: 'all' }
  | { kind: 'one'; namespace: string }
  | { kind: 'selector'; selector: LabelSelector };

export interface PodSelection {
  scope: NamespaceScope;
  /** undefined: every pod of the scope. */
  podSelector?: LabelSelector;
}

/** A pod policy can match: not hostNetwork, not finished, with an address. */
export function isPolicyPod(pod: InventoryPod): boolean {
  return !pod.hostNetwork && isActivePod(pod) && !!pod.ip;
}

const scopeKey = (s: NamespaceScope) => (s.kind === 'all' ? '*' : s.kind === 'one' ? `ns:${s.namespace}` : `nss:${selectorKey(s.selector)}`);
export const selectionKey = (sel: PodSelection) => `${scopeKey(sel.scope)}|${selectorKey(sel.podSelector)}`;

export class PodIndex {
  private readonly pods = new Map<string, InventoryPod>();
  private readonly byNamespace = new Map<string, Set<string>>();
  private readonly byLabel = new Map<string, Set<string>>();
  private readonly namespaces = new Map<string, InventoryNamespace>();
  private readonly nodes = new Map<string, InventoryNode>();
  private readonly nodeMemo = new Map<string, { selector: LabelSelector; nodes: InventoryNode[] }>();
  private readonly memo = new Map<string, { sel: PodSelection; pods: InventoryPod[]; pair?: string }>();
  // Memo keys by one label pair their selector requires (a pod without that pair cannot match
  // them), and the keys with no required pair: a pod change checks only those two groups.
  private readonly memoByPair = new Map<string, Set<string>>();
  private readonly memoUnpaired = new Set<string>();
  /** Memo entries computed since construction (for tests and stats). */
  computed = 0;
  /** Collects the keys of the selections made while a caller tracks its dependencies. */
  private tracker?: Set<string>;
  /** Told the key of every selection a change invalidates (the policy memo follows it). */
  onInvalidate?: (key: string) => void;

  private readonly keyOf: (pod: InventoryPod) => string;
  private readonly namespaceKeyOf: (pod: InventoryPod) => string;

  /**
   * `ids.pod`: a pod's identity; `ids.namespace`: the key of the namespace whose labels apply to
   * it (the inventory's namespaces map is keyed the same way). The agent's inventory has one pod
   * per namespace/name and one view of each namespace (the defaults); the controller's fleet view
   * keys both by node as well, so one cluster's pod or namespace labels never stand in for
   * another's.
   */
  constructor(inv?: Inventory, ids: { pod?: (pod: InventoryPod) => string; namespace?: (pod: InventoryPod) => string } = {}) {
    this.keyOf = ids.pod ?? podKey;
    this.namespaceKeyOf = ids.namespace ?? ((pod) => pod.namespace);
    if (!inv) return;
    for (const [key, ns] of inv.namespaces) this.namespaces.set(key, ns);
    for (const pod of inv.pods.values()) this.addPod(pod);
    for (const [name, node] of inv.nodes) this.nodes.set(name, node);
  }

  pod(key: string): InventoryPod | undefined {
    return this.pods.get(key);
  }

  allPods(): IterableIterator<InventoryPod> {
    return this.pods.values();
  }

  namespace(name: string): InventoryNamespace | undefined {
    return this.namespaces.get(name);
  }

  /** Pods of a selection, sorted by key; memoized until a change touches it. */
  select(sel: PodSelection): InventoryPod[] {
    const key = selectionKey(sel);
    this.tracker?.add(key);
    const hit = this.memo.get(key);
    if (hit) return hit.pods;
    this.computed++;
    const pods = this.compute(sel);
    const first = Object.entries(sel.podSelector?.matchLabels ?? {})[0];
    const pair = first ? `${first[0]}=${first[1]}` : undefined;
    this.memo.set(key, { sel, pods, ...(pair ? { pair } : {}) });
    if (pair) getOrAdd(this.memoByPair, pair).add(key);
    else this.memoUnpaired.add(key);
    return pods;
  }

  /** Applies a pod add/update (`pod`) or delete (`pod` undefined) and drops the memo entries it affects. */
  updatePod(key: string, pod: InventoryPod | undefined): void {
    const old = this.pods.get(key);
    const candidates = new Set(this.memoUnpaired);
    for (const p of [old, pod]) for (const [k, v] of Object.entries(p?.labels ?? {})) for (const m of this.memoByPair.get(`${k}=${v}`) ?? []) candidates.add(m);
    this.invalidate((sel) => (old !== undefined && this.podMatches(sel, old)) || (pod !== undefined && isPolicyPod(pod) && this.podMatches(sel, pod)), candidates);
    if (old) this.removePod(old);
    if (pod) this.addPod(pod);
  }

  /** Applies a namespace add/update/delete; selections scoped by namespace labels are recomputed. */
  updateNamespace(name: string, ns: InventoryNamespace | undefined): void {
    if (ns) this.namespaces.set(name, ns);
    else this.namespaces.delete(name);
    this.invalidate((sel) => sel.scope.kind === 'selector' || (sel.scope.kind === 'one' && sel.scope.namespace === name));
  }

  /** Nodes whose labels the selector matches, sorted by name; memoized until a node change touches it. */
  selectNodes(selector: LabelSelector): InventoryNode[] {
    const key = `node|${selectorKey(selector)}`;
    this.tracker?.add(key);
    const hit = this.nodeMemo.get(key);
    if (hit) return hit.nodes;
    const nodes = [...this.nodes.values()].filter((n) => selectorMatches(selector, n.labels)).sort((a, b) => cmp(a.name, b.name));
    this.nodeMemo.set(key, { selector, nodes });
    return nodes;
  }

  /** Applies a node add/update (`node`) or delete (undefined): selections its old or new labels match are recomputed (its addresses may have moved). */
  updateNode(name: string, node: InventoryNode | undefined): void {
    const old = this.nodes.get(name);
    if (node) this.nodes.set(name, node);
    else this.nodes.delete(name);
    for (const [key, entry] of this.nodeMemo) {
      if (!(old && selectorMatches(entry.selector, old.labels)) && !(node && selectorMatches(entry.selector, node.labels))) continue;
      this.nodeMemo.delete(key);
      this.onInvalidate?.(key);
    }
  }

  /** Runs `fn`, adding the key of every selection it makes to `deps`. */
  track<T>(deps: Set<string>, fn: () => T): T {
    const outer = this.tracker;
    this.tracker = deps;
    try {
      return fn();
    } finally {
      this.tracker = outer;
    }
  }

  /** Drops the memo entries (among `keys`, default all) a change affects. */
  private invalidate(affected: (sel: PodSelection) => boolean, keys: Iterable<string> = [...this.memo.keys()]): void {
    for (const key of keys) {
      const entry = this.memo.get(key);
      if (!entry || !affected(entry.sel)) continue;
      this.memo.delete(key);
      if (entry.pair) this.memoByPair.get(entry.pair)?.delete(key);
      else this.memoUnpaired.delete(key);
      this.onInvalidate?.(key);
    }
  }

  private podMatches(sel: PodSelection, pod: InventoryPod): boolean {
    if (!this.inScope(sel.scope, pod)) return false;
    return !sel.podSelector || selectorMatches(sel.podSelector, pod.labels);
  }

  private inScope(scope: NamespaceScope, pod: InventoryPod): boolean {
    if (scope.kind === 'all') return true;
    if (scope.kind === 'one') return scope.namespace === pod.namespace;
    const ns = this.namespaces.get(this.namespaceKeyOf(pod));
    // The API server always sets this label; an unknown namespace still has it.
    const labels = ns?.labels ?? { 'kubernetes.io/metadata.name': pod.namespace };
    return selectorMatches(scope.selector, labels);
  }

  private compute(sel: PodSelection): InventoryPod[] {
    // The smallest posting list among the selector's label pairs and the one namespace in scope.
    let candidates: Set<string> | undefined;
    for (const [k, v] of Object.entries(sel.podSelector?.matchLabels ?? {})) {
      const list = this.byLabel.get(`${k}=${v}`);
      if (!list) return [];
      if (!candidates || list.size < candidates.size) candidates = list;
    }
    if (sel.scope.kind === 'one') {
      const list = this.byNamespace.get(sel.scope.namespace);
      if (!list) return [];
      if (!candidates || list.size < candidates.size) candidates = list;
    }
    // Namespace scope once per namespace, not once per pod; keys sorted once, not per comparison.
    const nsIn = new Map<string, boolean>();
    const out: [string, InventoryPod][] = [];
    for (const key of candidates ?? this.pods.keys()) {
      const pod = this.pods.get(key)!;
      const nsKey = this.namespaceKeyOf(pod);
      let inNs = nsIn.get(nsKey);
      if (inNs === undefined) nsIn.set(nsKey, (inNs = this.inScope(sel.scope, pod)));
      if (inNs && (!sel.podSelector || selectorMatches(sel.podSelector, pod.labels))) out.push([key, pod]);
    }
    return out.sort((a, b) => cmp(a[0], b[0])).map(([, pod]) => pod);
  }

  private addPod(pod: InventoryPod): void {
    if (!isPolicyPod(pod)) return;
    const key = this.keyOf(pod);
    this.pods.set(key, pod);
    getOrAdd(this.byNamespace, pod.namespace).add(key);
    for (const [k, v] of Object.entries(pod.labels)) getOrAdd(this.byLabel, `${k}=${v}`).add(key);
  }

  private removePod(pod: InventoryPod): void {
    const key = this.keyOf(pod);
    this.pods.delete(key);
    this.byNamespace.get(pod.namespace)?.delete(key);
    for (const [k, v] of Object.entries(pod.labels)) this.byLabel.get(`${k}=${v}`)?.delete(key);
  }
}

function getOrAdd<K, V>(map: Map<K, Set<V>>, key: K): Set<V> {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  return set;
}

export const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
