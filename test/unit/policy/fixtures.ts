// Builders for policy tests: inventories and policy objects validated by the real schemas.
import { ClusterNetworkPolicySchema, AntreaNetworkPolicySchema } from '../../../src/api/antrea-policy.js';
import { K8sNetworkPolicySchema } from '../../../src/api/k8s-networkpolicy.js';
import { ClusterGroupSchema, GroupSchema } from '../../../src/api/group.js';
import { TierSchema } from '../../../src/api/tier.js';
import type { Inventory, InventoryPod, InventoryPodPort } from '../../../src/api/inventory.js';

export function pod(ns: string, name: string, labels: Record<string, string>, ip: string, node = 'n1', ports: InventoryPodPort[] = []): InventoryPod {
  return { namespace: ns, name, uid: `${ns}-${name}`, labels, ip, ips: [ip], nodeName: node, hostNetwork: false, phase: 'Running', ports };
}

export function inventory(pods: InventoryPod[], namespaces: Record<string, Record<string, string>> = {}, nodes = ['n1', 'n2']): Inventory {
  const nsNames = new Set([...Object.keys(namespaces), ...pods.map((p) => p.namespace)]);
  return {
    nodes: new Map(nodes.map((n) => [n, { name: n, podCIDRs: [], labels: {} }])),
    namespaces: new Map([...nsNames].map((n) => [n, { name: n, labels: { 'kubernetes.io/metadata.name': n, ...(namespaces[n] ?? {}) } }])),
    pods: new Map(pods.map((p) => [`${p.namespace}/${p.name}`, p])),
  };
}

export const knp = (ns: string, name: string, spec: unknown) =>
  K8sNetworkPolicySchema.parse({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace: ns }, spec });
export const acnp = (name: string, spec: unknown) =>
  ClusterNetworkPolicySchema.parse({ apiVersion: 'crd.antrea.io/v1beta1', kind: 'ClusterNetworkPolicy', metadata: { name }, spec });
export const anp = (ns: string, name: string, spec: unknown) =>
  AntreaNetworkPolicySchema.parse({ apiVersion: 'crd.antrea.io/v1beta1', kind: 'NetworkPolicy', metadata: { name, namespace: ns }, spec });
export const tier = (name: string, priority: number) =>
  TierSchema.parse({ apiVersion: 'crd.antrea.io/v1beta1', kind: 'Tier', metadata: { name }, spec: { priority } });
export const clusterGroup = (name: string, spec: unknown) =>
  ClusterGroupSchema.parse({ apiVersion: 'crd.antrea.io/v1beta1', kind: 'ClusterGroup', metadata: { name }, spec });
export const group = (ns: string, name: string, spec: unknown) =>
  GroupSchema.parse({ apiVersion: 'crd.antrea.io/v1beta1', kind: 'Group', metadata: { name, namespace: ns }, spec });
