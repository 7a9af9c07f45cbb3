// What both inventory sources share: the store whose changes become 'change' events once the
// first complete snapshot is in, and the start promise that settles on that first sync.
import { EventEmitter } from 'node:events';
import { createLogger } from '../../lib/log.js';
import { InventoryRefusals } from './refusals.js';
import { InventoryStore } from './store.js';
import type { Inventory, InventoryEvents } from '../../api/inventory.js';

const log = createLogger('inventory');

export abstract class InventorySourceBase extends EventEmitter<InventoryEvents> {
  protected readonly store = new InventoryStore((change) => {
    // Before the first complete snapshot, changes are part of what 'synced' delivers.
    if (this.synced) this.emit('change', change);
  });
  /** Objects refused as invalid (logged with the field, counted per kind). */
  readonly refusals = new InventoryRefusals();
  private pendingStart: { resolve: () => void; reject: (err: Error) => void } | undefined;
  synced = false;

  snapshot(): Inventory {
    return this.store.snapshot();
  }

  /** The promise start() returns: resolved by markSynced, rejected by abortStart. */
  protected startPromise(): Promise<void> {
    return new Promise<void>((resolve, reject) => (this.pendingStart = { resolve, reject }));
  }

  protected abortStart(reason: string): void {
    this.pendingStart?.reject(new Error(reason));
    this.pendingStart = undefined;
  }

  protected markSynced(): void {
    if (this.synced) return;
    this.synced = true;
    const snapshot = this.snapshot();
    log.info({ nodes: snapshot.nodes.size, namespaces: snapshot.namespaces.size, pods: snapshot.pods.size }, 'inventory synced');
    this.emit('synced', snapshot);
    this.pendingStart?.resolve();
    this.pendingStart = undefined;
  }
}
