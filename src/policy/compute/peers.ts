// Peers (from/to entries) resolved to pods and IP blocks. `namespaces: {match: Self}` cannot be
// resolved before the target is known, so it stays a pod selector evaluated per target
// namespace (selfSelectors).
import type { LabelSelector } from '../../api/meta.js';
import type { IPBlock } from '../../api/net.js';
import type { InventoryPod } from '../../api/inventory.js';
import { NotSupportedError } from './errors.js';
import type { GroupTable } from './groups.js';
import { nodeAddressBlocks } from './node-peers.js';
import type { PodIndex } from './pod-index.js';

export interface ResolvedPeers {
  any: boolean;
  pods: InventoryPod[];
  ipBlocks: IPBlock[];
  /** Pod selectors (undefined: every pod) to evaluate in each target pod's own namespace. */
  selfSelectors: (LabelSelector | undefined)[];
}

/** Every peer field any policy kind has; the schema decides which a kind may use. */
export interface AnyPeer {
  podSelector?: LabelSelector | undefined;
  namespaceSelector?: LabelSelector | undefined;
  namespaces?: { match?: 'Self' | undefined; sameLabels?: string[] | undefined } | undefined;
  ipBlock?: IPBlock | undefined;
  group?: string | undefined;
  /** Nodes by label (Antrea's nodeSelector, upstream `nodes`): their addresses (node-peers.ts). */
  nodeSelector?: LabelSelector | undefined;
  serviceAccount?: unknown;
  fqdn?: unknown;
  externalEntitySelector?: unknown;
  scope?: string | undefined;
}

export interface PeerContext {
  index: PodIndex;
  groups: GroupTable;
  /** The policy's namespace; undefined for cluster-scoped policies (podSelector alone then spans all namespaces). */
  namespace: string | undefined;
}

export function resolvePeers(peers: readonly AnyPeer[] | undefined, ctx: PeerContext, path: string): ResolvedPeers {
  const out: ResolvedPeers = { any: !peers?.length, pods: [], ipBlocks: [], selfSelectors: [] };
  // Index pods are unique objects; one selection alone passes through as the index's own array,
  // so equal peers of many policies share one array (and one address set downstream).
  const selections: InventoryPod[][] = [];
  peers?.forEach((peer, i) => {
    const at = `${path}[${i}]`;
    if (peer.fqdn !== undefined) throw new NotSupportedError(`${at}.fqdn`, 'fqdn peers');
    if (peer.serviceAccount !== undefined) throw new NotSupportedError(`${at}.serviceAccount`, 'serviceAccount peers');
    if (peer.externalEntitySelector !== undefined) throw new NotSupportedError(`${at}.externalEntitySelector`, 'externalEntitySelector peers');
    if (peer.scope === 'ClusterSet') throw new NotSupportedError(`${at}.scope`, 'scope ClusterSet (multi-cluster)');
    if (peer.namespaces?.sameLabels) throw new NotSupportedError(`${at}.namespaces.sameLabels`, 'namespaces.sameLabels');
    if (peer.ipBlock) {
      out.ipBlocks.push(peer.ipBlock);
    } else if (peer.nodeSelector) {
      out.ipBlocks.push(...nodeAddressBlocks(ctx.index.selectNodes(peer.nodeSelector)));
    } else if (peer.group) {
      const m = ctx.groups.members(ctx.index, peer.group, ctx.namespace, `${at}.group`);
      selections.push(m.pods);
      out.ipBlocks.push(...m.ipBlocks);
    } else if (peer.namespaces?.match === 'Self') {
      out.selfSelectors.push(peer.podSelector);
    } else {
      const selected = peer.namespaceSelector
        ? ctx.index.select({ scope: { kind: 'selector', selector: peer.namespaceSelector }, podSelector: peer.podSelector })
        : ctx.index.select({ scope: ctx.namespace === undefined ? { kind: 'all' } : { kind: 'one', namespace: ctx.namespace }, podSelector: peer.podSelector });
      selections.push(selected);
    }
  });
  out.pods = selections.length === 1 ? selections[0]! : [...new Set(selections.flat())];
  return out;
}

/** Peer pods for a target in `namespace`: the fixed ones plus the Self selectors evaluated there. */
export function peerPodsFor(peers: ResolvedPeers, index: PodIndex, namespace: string): InventoryPod[] {
  if (!peers.selfSelectors.length) return peers.pods;
  const pods = new Set(peers.pods);
  for (const sel of peers.selfSelectors) for (const p of index.select({ scope: { kind: 'one', namespace }, podSelector: sel })) pods.add(p);
  return [...pods];
}
