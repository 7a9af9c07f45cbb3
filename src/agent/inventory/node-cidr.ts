// The box's own pod CIDR lives on its Node object (spec.podCIDR), which the k3s server fills
// in some time after the node registers; the agent cannot assign pod addresses before that.
import { createLogger } from '../../lib/log.js';
import type { InventoryChange, InventorySource } from '../../api/inventory.js';

const log = createLogger('inventory');

/** Resolves with the node's podCIDR as soon as the source has it; rejects only when `signal` aborts. */
export function nodePodCIDR(source: InventorySource, nodeName: string, signal?: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    const found = (): boolean => {
      const podCIDR = source.synced ? source.snapshot().nodes.get(nodeName)?.podCIDR : undefined;
      if (!podCIDR) return false;
      cleanup();
      resolve(podCIDR);
      return true;
    };
    const onChange = (change: InventoryChange) => {
      if (change.kind === 'Node' && change.object.name === nodeName) found();
    };
    const onSynced = () => {
      if (!found()) log.info({ node: nodeName }, 'waiting for the node to get a podCIDR');
    };
    const onAbort = () => {
      cleanup();
      reject(new Error(`stopped waiting for the podCIDR of node ${nodeName}`));
    };
    const cleanup = () => {
      source.off('change', onChange);
      source.off('synced', onSynced);
      signal?.removeEventListener('abort', onAbort);
    };
    if (signal?.aborted) return onAbort();
    source.on('change', onChange);
    source.on('synced', onSynced);
    signal?.addEventListener('abort', onAbort, { once: true });
    if (source.synced) onSynced();
  });
}
