// Kubernetes objects → the inventory view. Pure; keys come out in a fixed order so two
// views of the same object compare equal and unchanged status churn produces no event.
import { NAMESPACE_NAME_LABEL, SERVICE_NAME_LABEL, type EndpointSlice, type Namespace, type Node, type Pod, type Service } from '../../api/k8s-core.js';
import { WIREGUARD_KEY_ANNOTATION, WireGuardKeySchema } from '../../api/wireguard.js';
import type { InventoryEndpointSlice, InventoryNamespace, InventoryNode, InventoryPod, InventoryPodPort, InventoryService } from '../../api/inventory.js';

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
  // A malformed key is left out: the peer then counts as not ready for WireGuard.
  const key = WireGuardKeySchema.safeParse(node.metadata.annotations?.[WIREGUARD_KEY_ANNOTATION]);
  return {
    name: node.metadata.name,
    ...(podCIDR ? { podCIDR } : {}),
    podCIDRs,
    ...(internalIP ? { internalIP } : {}),
    labels: sortedLabels(node.metadata.labels),
    ...(key.success ? { wireGuardPublicKey: key.data } : {}),
  };
}

/** Kubernetes' default ClientIP affinity timeout (3 hours). */
export const DEFAULT_AFFINITY_SECONDS = 10_800;

export function serviceView(svc: Service): InventoryService {
  const spec = svc.spec;
  const ip = spec.clusterIP && spec.clusterIP !== 'None' ? spec.clusterIP : undefined;
  return {
    namespace: svc.metadata.namespace,
    name: svc.metadata.name,
    type: spec.type,
    ...(ip && spec.type !== 'ExternalName' ? { clusterIP: ip } : {}),
    ports: (spec.ports ?? []).map((p) => ({ name: p.name ?? '', protocol: p.protocol, port: p.port, nodePort: spec.type === 'ClusterIP' ? 0 : (p.nodePort ?? 0) })),
    affinitySeconds: spec.sessionAffinity === 'ClientIP' ? (spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULT_AFFINITY_SECONDS) : 0,
    externalTrafficPolicy: spec.externalTrafficPolicy ?? 'Cluster',
    internalTrafficPolicy: spec.internalTrafficPolicy ?? 'Cluster',
  };
}

/** Slices without the service-name label, or of FQDN/IPv6 addresses, carry nothing to balance to (IPv4 only for now). */
export function endpointSliceView(slice: EndpointSlice): InventoryEndpointSlice {
  const ipv4 = slice.addressType === 'IPv4';
  return {
    namespace: slice.metadata.namespace,
    name: slice.metadata.name,
    service: slice.metadata.labels?.[SERVICE_NAME_LABEL] ?? '',
    ports: (slice.ports ?? []).flatMap((p) => (p.port ? [{ name: p.name ?? '', protocol: p.protocol, port: p.port }] : [])),
    endpoints: ipv4
      ? slice.endpoints.map((e) => {
          const c = e.conditions ?? {};
          // The API: a nil `ready` means ready; `serving` defaults to `ready`.
          const ready = c.ready ?? true;
          return { ip: e.addresses[0]!, serving: c.serving ?? ready, terminating: c.terminating ?? false, ...(e.nodeName ? { nodeName: e.nodeName } : {}) };
        })
      : [],
  };
}
