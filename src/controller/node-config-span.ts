// The span of the box-settings kinds: a NodeConfig goes to the boxes whose reported node labels
// its nodeSelector matches (plus `kubernetes.io/hostname`, as Egress pools see nodes), the
// NodeLatencyMonitor to every box. An Antrea ClusterNetworkPolicy applied to Nodes (host
// firewall) is selected the same way, by its spec.appliedTo nodeSelectors (any of them).
// Every other kind keeps the span it is given.
import type { NodeConfigSpec } from '../api/node-config.js';
import { isHostPolicy } from '../api/host-policy.js';
import type { LabelSelector } from '../api/meta.js';
import type { NodeReported } from '../api/node-state.js';
import { selectorMatches } from '../policy/compute/selector.js';
import type { Span } from './span.js';
import { jsonEqual } from './store/kept-report.js';
import type { StoredRecord } from './store/objects.js';

export class NodeConfigSpan {
  /**
   * Node → its labels with `kubernetes.io/hostname`, and the reported labels object they were
   * made from (the registry's kept one: the same object while unchanged, so a report costs one
   * identity test, and nothing is kept beside it but the merged labels).
   */
  private readonly labels = new Map<string, { from: Record<string, string> | undefined; labels: Record<string, string> }>();
  /** Moves whenever a node's labels change (a NodeConfig's span may move with them). */
  version = 0;

  /** Takes a node's report; true when its labels changed (a NodeConfig's span may move). */
  noteReport(node: string, reported: NodeReported): boolean {
    const from = reported.inventory.nodeLabels;
    const was = this.labels.get(node);
    if (was && (was.from === from || jsonEqual(was.from ?? {}, from ?? {}))) return false;
    this.labels.set(node, { from, labels: { 'kubernetes.io/hostname': node, ...(from ?? {}) } });
    this.version++;
    return true;
  }

  forget(node: string): void {
    if (this.labels.delete(node)) this.version++;
  }

  /** Wraps another span: NodeConfigs by their selector, everything else as `inner` says. */
  /** The same selection for a membership test (the policy span's constant-time inSpan). */
  wrapInSpan(inner: (object: StoredRecord, node: string, nodes: readonly string[]) => boolean): (object: StoredRecord, node: string, nodes: readonly string[]) => boolean {
    const span = this.wrap(() => []);
    return (object, node, nodes) => (this.selectors(object) ? span(object, nodes).includes(node) : inner(object, node, nodes));
  }

  wrap(inner: Span): Span {
    return (object, nodes) => {
      const selectors = this.selectors(object);
      if (!selectors) return inner(object, nodes);
      // A box that has not reported yet has no known labels: it gets the object once it reports.
      return nodes.filter((n) => {
        const l = this.labels.get(n);
        return l !== undefined && selectors.some((s) => selectorMatches(s, l.labels));
      });
    };
  }

  /** The node selectors of an object selected by node labels; undefined for every other object. */
  private selectors(object: StoredRecord): LabelSelector[] | undefined {
    if (object.kind.kind === 'NodeConfig') return [(object.spec as NodeConfigSpec).nodeSelector];
    if (object.kind.kind === 'ClusterNetworkPolicy' && isHostPolicy({ apiVersion: object.apiVersion, kind: object.kind.kind, spec: object.spec })) {
      const appliedTo = (object.spec as { appliedTo: { nodeSelector?: LabelSelector }[] }).appliedTo;
      return appliedTo.flatMap((a) => (a.nodeSelector ? [a.nodeSelector] : []));
    }
    return undefined;
  }
}
