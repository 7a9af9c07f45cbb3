// The current view per kind, and the one place that turns "here is the new state" into
// added/updated/deleted changes. Watch events, relists after a 410 and re-reads of the lab's
// file all go through it, so every source reports changes the same way.
import { isDeepStrictEqual } from 'node:util';
import type {
  Inventory,
  InventoryChange,
  InventoryKind,
  InventoryNamespace,
  InventoryNode,
  InventoryPod,
  InventoryService,
  InventoryEndpointSlice,
} from '../../api/inventory.js';
import { podKey } from '../../api/inventory.js';

interface ViewOf {
  Node: InventoryNode;
  Namespace: InventoryNamespace;
  Pod: InventoryPod;
  Service: InventoryService;
  EndpointSlice: InventoryEndpointSlice;
}

const keyOf = <K extends InventoryKind>(kind: K, view: ViewOf[K]): string =>
  kind === 'Node' || kind === 'Namespace' ? view.name : podKey(view as InventoryPod);

export class InventoryStore {
  private readonly maps: { [K in InventoryKind]: Map<string, ViewOf[K]> } = {
    Node: new Map(),
    Namespace: new Map(),
    Pod: new Map(),
    Service: new Map(),
    EndpointSlice: new Map(),
  };
  private cached: Inventory | undefined;

  constructor(private readonly onChange: (change: InventoryChange) => void) {}

  /** A copy that later changes do not touch; rebuilt only after something changed. */
  snapshot(): Inventory {
    this.cached ??= {
      nodes: new Map(this.maps.Node),
      namespaces: new Map(this.maps.Namespace),
      pods: new Map(this.maps.Pod),
      services: new Map(this.maps.Service),
      endpointSlices: new Map(this.maps.EndpointSlice),
    };
    return this.cached;
  }

  put<K extends InventoryKind>(kind: K, view: ViewOf[K]): void {
    const map = this.maps[kind];
    const key = keyOf(kind, view);
    const previous = map.get(key);
    if (previous && isDeepStrictEqual(previous, view)) return;
    map.set(key, view);
    this.cached = undefined;
    const change = previous ? { kind, type: 'updated', object: view, previous } : { kind, type: 'added', object: view };
    this.onChange(change as InventoryChange);
  }

  remove<K extends InventoryKind>(kind: K, key: string): void {
    const map = this.maps[kind];
    const previous = map.get(key);
    if (!previous) return;
    map.delete(key);
    this.cached = undefined;
    this.onChange({ kind, type: 'deleted', object: previous } as InventoryChange);
  }

  /**
   * Makes `views` the whole state of `kind`: what is missing is deleted, the rest put. Keys in
   * `keep` (objects refused as invalid) keep their current view, if they have one.
   */
  replace<K extends InventoryKind>(kind: K, views: Iterable<ViewOf[K]>, keep: Iterable<string> = []): void {
    const next = new Map<string, ViewOf[K]>();
    for (const key of keep) {
      const current = this.maps[kind].get(key);
      if (current) next.set(key, current);
    }
    for (const view of views) next.set(keyOf(kind, view), view);
    for (const key of [...this.maps[kind].keys()]) if (!next.has(key)) this.remove(kind, key);
    for (const view of next.values()) this.put(kind, view);
  }
}
