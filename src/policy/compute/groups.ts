// ClusterGroup and Group membership: pods (selectors) and IP blocks, with childGroups expanded
// (Antrea allows one level; deeper nesting and cycles are refused here rather than looped).
import type { ClusterGroup, Group } from '../../api/group.js';
import type { IPBlock } from '../../api/net.js';
import type { InventoryPod } from '../../api/inventory.js';
import { NotSupportedError, PolicyComputeError } from './errors.js';
import type { PodIndex, PodSelection } from './pod-index.js';

export interface GroupMembers {
  pods: InventoryPod[];
  ipBlocks: IPBlock[];
}

type AnyGroup = ClusterGroup | Group;

export class GroupTable {
  private readonly cluster = new Map<string, ClusterGroup>();
  private readonly namespaced = new Map<string, Group>();

  constructor(clusterGroups: readonly ClusterGroup[] = [], groups: readonly Group[] = []) {
    for (const g of clusterGroups) this.cluster.set(g.metadata.name ?? '', g);
    for (const g of groups) this.namespaced.set(`${g.metadata.namespace ?? 'default'}/${g.metadata.name ?? ''}`, g);
  }

  /** Members of a ClusterGroup (namespace undefined) or of a Group in `namespace`. */
  members(index: PodIndex, name: string, namespace: string | undefined, path: string): GroupMembers {
    return this.expand(index, name, namespace, path, []);
  }

  private find(name: string, namespace: string | undefined): AnyGroup | undefined {
    return namespace === undefined ? this.cluster.get(name) : this.namespaced.get(`${namespace}/${name}`);
  }

  private expand(index: PodIndex, name: string, namespace: string | undefined, path: string, seen: string[]): GroupMembers {
    const what = namespace === undefined ? `ClusterGroup ${name}` : `Group ${namespace}/${name}`;
    if (seen.includes(name)) throw new PolicyComputeError(path, `${what}: childGroups form a cycle (${[...seen, name].join(' → ')})`);
    const g = this.find(name, namespace);
    // A group that does not exist yet selects nothing (it may be created later), as in Antrea.
    if (!g) return { pods: [], ipBlocks: [] };
    const s = g.spec;
    if (s.serviceReference) throw new NotSupportedError(path, `${what}: serviceReference`);
    if (s.externalEntitySelector) throw new NotSupportedError(path, `${what}: externalEntitySelector`);
    if ('nodeSelector' in s && s.nodeSelector) throw new NotSupportedError(path, `${what}: nodeSelector`);
    if (s.childGroups) {
      if (seen.length >= 1) throw new PolicyComputeError(path, `${what}: childGroups may only be one level deep`);
      const pods = new Set<InventoryPod>(); // by identity, as the index hands them out
      const ipBlocks: IPBlock[] = [];
      for (const child of s.childGroups) {
        const m = this.expand(index, child, namespace, path, [...seen, name]);
        for (const p of m.pods) pods.add(p);
        ipBlocks.push(...m.ipBlocks);
      }
      return { pods: [...pods], ipBlocks };
    }
    const blocks = [...(s.ipBlocks ?? []), ...('ipBlock' in s && s.ipBlock ? [s.ipBlock] : [])];
    if (blocks.length) return { pods: [], ipBlocks: blocks };
    if (!s.podSelector && !s.namespaceSelector) return { pods: [], ipBlocks: [] };
    return { pods: index.select(groupSelection(s.podSelector, s.namespaceSelector, namespace)), ipBlocks: [] };
  }
}

/** A group's podSelector/namespaceSelector as a selection: a ClusterGroup's podSelector alone spans all namespaces, a Group's its own. */
function groupSelection(podSelector: PodSelection['podSelector'], namespaceSelector: PodSelection['podSelector'], namespace: string | undefined): PodSelection {
  if (namespaceSelector) return { scope: { kind: 'selector', selector: namespaceSelector }, podSelector };
  return { scope: namespace === undefined ? { kind: 'all' } : { kind: 'one', namespace }, podSelector };
}
