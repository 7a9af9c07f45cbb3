// Antrea's span on the controller: a network policy goes only to the nodes hosting a pod it
// applies to. The controller learns pods and namespace labels from what each node reports,
// and recomputes when policies, tiers or groups change or when a node's reported inventory
// does. Other kinds (tiers, groups: every node's computation needs them) go everywhere, and so
// does a policy the computation rejects, so that every node reports the failure and its reason.
import { UPSTREAM_POLICY_KINDS } from '../api/admin-policy.js';
import { qualifiedKind, type ManifestObject } from '../api/kinds.js';
import { objectKey, type NodeReported } from '../api/node-state.js';
import type { Inventory } from '../api/inventory.js';
import { PolicyComputer, policyObjectsOf } from '../policy/compute/compute.js';
import { FLEET_IDS, fleetInventory } from './fleet-inventory.js';
import type { Span } from './span.js';
import type { NodeRegistry } from './store/nodes.js';
import type { ObjectStore, StoredRecord } from './store/objects.js';

const POLICY_KINDS = new Set<string>(['ClusterNetworkPolicy.crd.antrea.io', 'NetworkPolicy.crd.antrea.io', 'NetworkPolicy.networking.k8s.io', ...UPSTREAM_POLICY_KINDS]);
/** The kinds policy computation reads (policies, tiers, groups). */
export const COMPUTE_KINDS: ReadonlySet<string> = new Set([...POLICY_KINDS, 'Tier.crd.antrea.io', 'ClusterGroup.crd.antrea.io', 'Group.crd.antrea.io']);

export class PolicySpan {
  /** Policy key → its nodes; absent: every node (not computed yet, or failed). */
  private spans = new Map<string, readonly string[]>();
  private readonly inventories = new Map<string, string>();
  private inventoriesLoaded = false;
  private inventoryDirty = true;
  private computer?: PolicyComputer;
  /** Manifests by object key, kept while the object's generation stands (the computer memoizes by identity). */
  private readonly manifests = new Map<string, { uid: string; generation: number; manifest: ManifestObject }>();

  /** `shared`: the store is shared with other controller replicas, which take some nodes' reports. */
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
      if (what === 'removed' && this.inventories.delete(node)) this.inventoryDirty = true;
    });
  }

  readonly span: Span = (object, nodes) => {
    // Traceflows reach the boxes over request/response (traceflow/runner.ts), never as desired state.
    if (object.kind.kind === 'Traceflow') return [];
    if (!POLICY_KINDS.has(qualifiedKind(object.kind))) return nodes;
    const s = this.spans.get(objectKey(object));
    return s ? s.filter((n) => nodes.includes(n)) : nodes;
  };

  /** Takes a node's report; true when its inventory differs from what the spans were computed with. */
  noteReport(node: string, reported: NodeReported): boolean {
    const text = JSON.stringify(reported.inventory);
    if (this.inventories.get(node) === text) return false;
    this.inventories.set(node, text);
    this.inventoryDirty = true;
    return true;
  }

  /** Recomputes the spans from the store and the reported inventories (before each publication). */
  async refresh(): Promise<void> {
    const t0 = performance.now();
    if (!this.inventoriesLoaded || this.opts.shared) {
      for (const [node, r] of await this.nodes.reports()) this.noteReport(node, r);
      this.inventoriesLoaded = true;
    }
    if (this.inventoryDirty || !this.computer) {
      this.computer = new PolicyComputer(this.inventory(await this.nodes.names()), FLEET_IDS);
      this.inventoryDirty = false;
    }
    const records = (await this.store.list()).filter((r) => COMPUTE_KINDS.has(qualifiedKind(r.kind)));
    const objects = policyObjectsOf(records.map((r) => this.manifestOf(r)));
    this.computer.compute(objects);
    const spans = new Map<string, readonly string[]>();
    for (const p of objects.policies) {
      const span = this.computer.spanOf(p);
      if (span) spans.set(p.metadata.uid!, span);
    }
    this.spans = spans;
    this.opts.observe?.(this.computer.lastRecomputed, performance.now() - t0);
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

  /** The fleet's pods from the reported inventories (fleet-inventory.ts). */
  private inventory(nodeNames: readonly string[]): Inventory {
    return fleetInventory([...this.inventories].map(([node, text]) => [node, JSON.parse(text) as NodeReported['inventory']]), nodeNames);
  }
}
