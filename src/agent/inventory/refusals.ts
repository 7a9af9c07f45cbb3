// Objects the inventory refuses: a Node, Pod, Service or EndpointSlice that fails its contract
// schema (src/api/k8s-core.ts) never reaches the views, so none of its addresses can reach an
// OpenFlow string. The refusal names the field, is counted per kind, and the object's last good
// view (if any) stays: a bad update changes nothing, the rest of the inventory keeps working.
import { z } from 'zod';
import { createLogger } from '../../lib/log.js';
import type { InventoryKind } from '../../api/inventory.js';

const log = createLogger('inventory');

const RefMetaSchema = z.looseObject({
  metadata: z.looseObject({ name: z.string().min(1), namespace: z.string().min(1).optional() }),
});

/** The store key (`name`, or `namespace/name`) of a raw object that failed validation, when its metadata is readable. */
export function rawObjectKey(kind: InventoryKind, raw: unknown): string | undefined {
  const ref = RefMetaSchema.safeParse(raw);
  if (!ref.success) return undefined;
  const { name, namespace } = ref.data.metadata;
  if (kind === 'Node' || kind === 'Namespace') return name;
  return namespace ? `${namespace}/${name}` : undefined;
}

export class InventoryRefusals {
  /** Objects refused since start, by kind (a metric). */
  readonly counts: Record<InventoryKind | 'Unknown', number> = { Node: 0, Namespace: 0, Pod: 0, Service: 0, EndpointSlice: 0, Unknown: 0 };

  /** Counts and logs one refused object; `problem` names the field (zod path). */
  note(kind: InventoryKind | undefined, key: string | undefined, problem: string, from: string): void {
    this.counts[kind ?? 'Unknown']++;
    log.warn({ kind: kind ?? 'Unknown', object: key ?? '(unnamed)', problem, from }, `refused an invalid ${kind ?? 'object'}; keeping its last good version and the rest of the inventory`);
  }
}
