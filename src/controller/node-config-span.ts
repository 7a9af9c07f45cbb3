// The span of the box-settings kinds: a NodeConfig goes to the boxes whose reported node labels
// its nodeSelector matches (plus `kubernetes.io/hostname`, as Egress pools see nodes), the
// NodeLatencyMonitor to every box. Every other kind keeps the span it is given.
import type { NodeConfigSpec } from '../api/node-config.js';
import type { NodeReported } from '../api/node-state.js';
import { selectorMatches } from '../policy/compute/selector.js';
import type { Span } from './span.js';
import type { StoredRecord } from './store/objects.js';

export class NodeConfigSpan {
  /** Node → its labels as last reported (JSON, to tell a change cheaply). */
  private readonly labels = new Map<string, { text: string; labels: Record<string, string> }>();

  /** Takes a node's report; true when its labels changed (a NodeConfig's span may move). */
  noteReport(node: string, reported: NodeReported): boolean {
    const labels = { 'kubernetes.io/hostname': node, ...(reported.inventory.nodeLabels ?? {}) };
    const text = JSON.stringify(labels);
    if (this.labels.get(node)?.text === text) return false;
    this.labels.set(node, { text, labels });
    return true;
  }

  forget(node: string): void {
    this.labels.delete(node);
  }

  /** Wraps another span: NodeConfigs by their selector, everything else as `inner` says. */
  /** The same selection for a membership test (the policy span's constant-time inSpan). */
  wrapInSpan(inner: (object: StoredRecord, node: string, nodes: readonly string[]) => boolean): (object: StoredRecord, node: string, nodes: readonly string[]) => boolean {
    const span = this.wrap(() => []);
    return (object, node, nodes) => (object.kind.kind === 'NodeConfig' ? span(object, nodes).includes(node) : inner(object, node, nodes));
  }

  wrap(inner: Span): Span {
    return (object, nodes) => {
      if (object.kind.kind !== 'NodeConfig') return inner(object, nodes);
      const { nodeSelector } = object.spec as NodeConfigSpec;
      // A box that has not reported yet has no known labels: it gets the NodeConfig once it reports.
      return nodes.filter((n) => {
        const l = this.labels.get(n);
        return l !== undefined && selectorMatches(nodeSelector, l.labels);
      });
    };
  }
}
