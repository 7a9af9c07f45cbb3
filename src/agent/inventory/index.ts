// The inventory's public surface: what the rest of the agent imports.
export type { Inventory, InventoryChange, InventoryEvents, InventoryKind, InventoryNamespace, InventoryNode, InventoryPod, InventoryPodPort, InventorySource, ChangeType, InventoryService, InventoryServicePort, InventoryEndpointSlice, InventoryEndpoint } from './types.js';
export { isActivePod, podKey, INVENTORY_KINDS } from './types.js';
export { KubeInventorySource, type KubeInventoryOptions } from './kube.js';
export { FileInventorySource, type FileInventoryOptions } from './file.js';
export { K3S_KUBECONFIG, inClusterConnection, loadKubeconfig, resolveKubeConnection, type KubeConnection } from './kubeconfig.js';
export { nodePodCIDR } from './node-cidr.js';
