// The fleet's pods as the controller knows them: each node reports its own pods and the
// namespace labels it sees. Pods are keyed by node as well as namespace/name (boxes of two
// clusters may host pods of the same name, and a node can only speak for its own pods: one that
// stops reporting a pod, or lies about it, cannot take another box's pod away), and each node's
// pods are matched against the namespace labels that node reports. Shared by the policy span
// and NetworkPolicy evaluation, so both see the same world.
import type { Inventory, InventoryNamespace, InventoryPod } from '../api/inventory.js';
import type { NodeReported } from '../api/node-state.js';

/** A pod's identity in the fleet view: node, namespace and name. */
export const fleetPodKey = (p: InventoryPod): string => `${p.nodeName ?? ''}/${p.namespace}/${p.name}`;
/** Whose namespace labels apply to a pod: those its own node reports. */
export const fleetNamespaceKey = (p: InventoryPod): string => `${p.nodeName ?? ''}/${p.namespace}`;
/** The identities to give PodIndex / PolicyComputer for a fleet inventory. */
export const FLEET_IDS = { pod: fleetPodKey, namespace: fleetNamespaceKey };

/** A node's reported pod as the fleet view holds it (keyed by fleetPodKey). */
export function fleetPod(node: string, p: NodeReported['inventory']['pods'][number]): InventoryPod {
  return {
    namespace: p.namespace, name: p.name, uid: `${node}/${p.namespace}/${p.name}`, labels: p.labels ?? {},
    ...(p.ips[0] ? { ip: p.ips[0] } : {}), ips: p.ips, nodeName: node, hostNetwork: false, phase: 'Running',
    ports: (p.ports ?? []).map((x) => ({ ...(x.name ? { name: x.name } : {}), port: x.port, protocol: x.protocol })),
  };
}

export function fleetInventory(inventories: Iterable<[string, NodeReported['inventory']]>, nodeNames: readonly string[]): Inventory {
  const pods = new Map<string, InventoryPod>();
  const namespaces = new Map<string, InventoryNamespace>();
  for (const [node, inv] of inventories) {
    for (const p of inv.pods) pods.set(`${node}/${p.namespace}/${p.name}`, fleetPod(node, p));
    for (const [name, labels] of Object.entries(inv.namespaces ?? {})) namespaces.set(`${node}/${name}`, { name, labels });
  }
  return { pods, namespaces, nodes: new Map(nodeNames.map((n) => [n, { name: n, podCIDRs: [], labels: {} }])) };
}
