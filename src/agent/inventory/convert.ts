// Kubernetes objects → the inventory view. Pure; keys come out in a fixed order so two
// views of the same object compare equal and unchanged status churn produces no event.
import { NAMESPACE_NAME_LABEL, type Namespace, type Node, type Pod } from '../../api/k8s-core.js';
import type { InventoryNamespace, InventoryNode, InventoryPod, InventoryPodPort } from './types.js';

const sortedLabels = (labels: Record<string, string> | undefined): Record<string, string> =>
  Object.fromEntries(Object.entries(labels ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

export function podView(pod: Pod): InventoryPod {
  const status = pod.status ?? {};
  const ips = status.podIPs?.map((p) => p.ip) ?? (status.podIP ? [status.podIP] : []);
  const ip = status.podIP ?? ips[0];
  const ports: InventoryPodPort[] = pod.spec.containers.flatMap((c) =>
    (c.ports ?? []).map((p) => ({ ...(p.name ? { name: p.name } : {}), port: p.containerPort, protocol: p.protocol })),
  );
  return {
    namespace: pod.metadata.namespace,
    name: pod.metadata.name,
    uid: pod.metadata.uid,
    labels: sortedLabels(pod.metadata.labels),
    ...(ip ? { ip } : {}),
    ips,
    ...(pod.spec.nodeName ? { nodeName: pod.spec.nodeName } : {}),
    hostNetwork: pod.spec.hostNetwork ?? false,
    ...(status.phase ? { phase: status.phase } : {}),
    ports,
  };
}

export function namespaceView(ns: Namespace): InventoryNamespace {
  // The API server adds this label itself; a hand-written file may not, and policies select on it.
  return {
    name: ns.metadata.name,
    labels: sortedLabels({ ...ns.metadata.labels, [NAMESPACE_NAME_LABEL]: ns.metadata.name }),
  };
}

export function nodeView(node: Node): InventoryNode {
  const podCIDRs = node.spec?.podCIDRs ?? (node.spec?.podCIDR ? [node.spec.podCIDR] : []);
  const podCIDR = node.spec?.podCIDR ?? podCIDRs[0];
  const internalIP = node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
  return {
    name: node.metadata.name,
    ...(podCIDR ? { podCIDR } : {}),
    podCIDRs,
    ...(internalIP ? { internalIP } : {}),
    labels: sortedLabels(node.metadata.labels),
  };
}
