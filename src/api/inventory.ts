// The view of the cluster the agent and the policy computation share: only what networking and
// policy need, in plain objects. Both sources (the Kubernetes API on a box, the lab's inventory
// file) produce this view, so every consumer is written once.
import { EventEmitter } from 'node:events';
import type { Protocol, TrafficPolicy } from './k8s-core.js';

export interface InventoryNode {
  name: string;
  /** spec.podCIDR; unset until the k3s server allocates one. */
  podCIDR?: string;
  podCIDRs: string[];
  internalIP?: string;
  labels: Record<string, string>;
  /** The node's WireGuard public key (annotation node.antrea.io/wireguard-public-key), when valid. */
  wireGuardPublicKey?: string;
}

export interface InventoryNamespace {
  name: string;
  /** Always includes `kubernetes.io/metadata.name`, as the API server sets it. */
  labels: Record<string, string>;
}

export interface InventoryPodPort {
  name?: string;
  port: number;
  protocol: Protocol;
}

export interface InventoryPod {
  namespace: string;
  name: string;
  uid: string;
  labels: Record<string, string>;
  /** status.podIP; unset until the CNI has run. */
  ip?: string;
  ips: string[];
  nodeName?: string;
  hostNetwork: boolean;
  phase?: 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';
  ports: InventoryPodPort[];
}

export interface InventoryServicePort {
  /** '' when the Service has one unnamed port. */
  name: string;
  protocol: Protocol;
  port: number;
  /** 0 unless the Service is a NodePort (or LoadBalancer) one. */
  nodePort: number;
}

/** A Service that load balancing realizes: ClusterIP, NodePort and LoadBalancer ones with a cluster IP. */
export interface InventoryService {
  namespace: string;
  name: string;
  type: 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName';
  /** Unset for headless and ExternalName Services. */
  clusterIP?: string;
  ports: InventoryServicePort[];
  /** ClientIP session affinity timeout in seconds; 0 when affinity is None. */
  affinitySeconds: number;
  externalTrafficPolicy: TrafficPolicy;
  internalTrafficPolicy: TrafficPolicy;
}

export interface InventoryEndpoint {
  ip: string;
  /** Ready (or, during termination, still serving). */
  serving: boolean;
  terminating: boolean;
  nodeName?: string;
}

export interface InventoryEndpointSlice {
  namespace: string;
  name: string;
  /** The Service it belongs to (label kubernetes.io/service-name). */
  service: string;
  ports: { name: string; protocol: Protocol; port: number }[];
  endpoints: InventoryEndpoint[];
}

/** Read-only: a snapshot is shared with every consumer and replaced, never mutated. */
export interface Inventory {
  nodes: ReadonlyMap<string, InventoryNode>;
  namespaces: ReadonlyMap<string, InventoryNamespace>;
  /** Keyed by `namespace/name`. */
  pods: ReadonlyMap<string, InventoryPod>;
  // Optional so that views built by hand (the controller's span, tests) need not carry them.
  /** Keyed by `namespace/name`. */
  services?: ReadonlyMap<string, InventoryService>;
  /** Keyed by `namespace/name` of the slice. */
  endpointSlices?: ReadonlyMap<string, InventoryEndpointSlice>;
}

export type InventoryKind = 'Node' | 'Namespace' | 'Pod' | 'Service' | 'EndpointSlice';
export const INVENTORY_KINDS: readonly InventoryKind[] = ['Node', 'Namespace', 'Pod', 'Service', 'EndpointSlice'];
export type ChangeType = 'added' | 'updated' | 'deleted';

interface ChangeOf<K extends InventoryKind, T> {
  kind: K;
  type: ChangeType;
  /** The new object; for 'deleted', the last one known. */
  object: T;
  /** The object before an 'updated'. */
  previous?: T;
}
export type InventoryChange =
  | ChangeOf<'Node', InventoryNode>
  | ChangeOf<'Namespace', InventoryNamespace>
  | ChangeOf<'Pod', InventoryPod>
  | ChangeOf<'Service', InventoryService>
  | ChangeOf<'EndpointSlice', InventoryEndpointSlice>;

export interface InventoryEvents {
  /** Once, when the first complete snapshot is in. */
  synced: [Inventory];
  /** Every change after that; only changes to the view's fields are reported. */
  change: [InventoryChange];
}

export type InventoryEmitter = EventEmitter<InventoryEvents>;

export interface InventorySource extends InventoryEmitter {
  /** Starts watching; resolves after 'synced', rejects if stop() comes first. */
  start(): Promise<void>;
  /** Stops watching and closes connections and file watchers; idempotent. */
  stop(): Promise<void>;
  snapshot(): Inventory;
  readonly synced: boolean;
  /** Objects refused as invalid since start, by kind. */
  readonly refusals?: { readonly counts: Readonly<Record<InventoryKind | 'Unknown', number>> };
  /**
   * Sets annotations on a Node (the agent's WireGuard key, as Antrea's agent does); absent
   * where someone else writes the Nodes (the lab's file: the lab copies the key itself).
   */
  annotateNode?(node: string, annotations: Record<string, string>): Promise<void>;
}

export const podKey = (pod: { namespace: string; name: string }): string => `${pod.namespace}/${pod.name}`;

/**
 * A pod that holds its IP: Succeeded and Failed pods keep status.podIP in the API, but the
 * address may already belong to a new pod, so policy must not match on it (Antrea's rule too).
 */
export function isActivePod(pod: InventoryPod): boolean {
  return pod.phase !== 'Succeeded' && pod.phase !== 'Failed';
}
