// Pod labels for the flow aggregator (sourcePodLabels/destinationPodLabels), from the pods each
// node reports with its state; a node's newer report replaces what it reported before.
import type { NodeReported } from '../../api/node-state.js';

export class PodLabels {
  private readonly byNode = new Map<string, Map<string, Record<string, string>>>();

  note(node: string, reported: NodeReported): void {
    const pods = new Map<string, Record<string, string>>();
    for (const p of reported.inventory?.pods ?? []) pods.set(`${p.namespace}/${p.name}`, p.labels ?? {});
    this.byNode.set(node, pods);
  }

  /** With `node`, only that node's report counts: pods of two clusters may share namespace/name. */
  readonly get = (namespace: string, name: string, node?: string): Record<string, string> | undefined => {
    const key = `${namespace}/${name}`;
    if (node !== undefined) return this.byNode.get(node)?.get(key);
    for (const pods of this.byNode.values()) {
      const l = pods.get(key);
      if (l) return l;
    }
    return undefined;
  };
}
