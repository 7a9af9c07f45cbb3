// Pod labels for the flow aggregator (sourcePodLabels/destinationPodLabels), from the pods each
// node reports with its state; a node's newer report replaces what it reported before. What is
// held is the node's report as given (the registry's kept report: one object per node, updated
// in place), read at lookup, not a copy of its pods.
import type { NodeReported } from '../../api/node-state.js';

type Pods = NodeReported['inventory']['pods'];

export class PodLabels {
  private readonly byNode = new Map<string, NodeReported>();

  note(node: string, reported: NodeReported): void {
    this.byNode.set(node, reported);
  }

  /** With `node`, only that node's report counts: pods of two clusters may share namespace/name. */
  readonly get = (namespace: string, name: string, node?: string): Record<string, string> | undefined => {
    const find = (pods: Pods | undefined) => {
      const pod = pods?.find((p) => p.namespace === namespace && p.name === name);
      return pod && (pod.labels ?? {});
    };
    if (node !== undefined) return find(this.byNode.get(node)?.inventory?.pods);
    for (const r of this.byNode.values()) {
      const l = find(r.inventory?.pods);
      if (l) return l;
    }
    return undefined;
  };
}
