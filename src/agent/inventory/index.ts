// The inventory's public surface: its sources (the model itself is src/api/inventory.ts).
export { KubeInventorySource, type KubeInventoryOptions } from './kube.js';
export { FileInventorySource, type FileInventoryOptions } from './file.js';
export { K3S_KUBECONFIG, inClusterConnection, loadKubeconfig, resolveKubeConnection, type KubeConnection } from './kubeconfig.js';
export { nodePodCIDR } from './node-cidr.js';
