// Realizers install one kind of object on the box (policy flows, egress, …). The sync module
// hands each the complete desired set of its kind — a reconciler converges to it, so removals
// need no separate call — and reports per object what the realizer says. A kind with no
// realizer is reported Failed: an object is never reported Realized unless really installed.
import { parseObjectKey, type DesiredObject, type RealizedObject } from '../../api/node-state.js';
import { qualifiedKind, type KindInfo } from '../../api/kinds.js';
import { errorMessage } from '../../lib/errors.js';

export const NOT_SUPPORTED_REASON = 'not supported yet by this agent';

export type RealizeOutcome = { ok: true } | { ok: false; reason: string };

export interface Realizer {
  /** Converge to exactly these objects (keyed by objectKey()); missing keys are treated as failed. */
  realize(objects: ReadonlyMap<string, DesiredObject>): Promise<ReadonlyMap<string, RealizeOutcome>>;
}

export class RealizerRegistry {
  private readonly realizers = new Map<string, Realizer>();

  registerRealizer(kind: Pick<KindInfo, 'kind' | 'group'>, realizer: Realizer): void {
    const name = qualifiedKind(kind);
    if (this.realizers.has(name)) throw new Error(`a realizer for ${name} is already registered`);
    this.realizers.set(name, realizer);
  }

  /** Realizes a whole desired document; never throws (a failing realizer fails its objects). */
  async realizeAll(objects: Readonly<Record<string, DesiredObject>>): Promise<Record<string, RealizedObject>> {
    const byKind = new Map<string, Map<string, DesiredObject>>();
    for (const [key, object] of Object.entries(objects)) {
      const ref = parseObjectKey(key);
      // A kind this build does not know (a newer controller's) keeps its own name, so its
      // objects are reported Failed with it and the rest of the document is realized.
      const kind = ref ? qualifiedKind(ref.kind) : key.split('/')[0]!;
      if (!byKind.has(kind)) byKind.set(kind, new Map());
      byKind.get(kind)!.set(key, object);
    }
    // Every registered realizer runs, also with an empty set, so it removes what it no longer needs.
    for (const kind of this.realizers.keys()) if (!byKind.has(kind)) byKind.set(kind, new Map());
    const out: Record<string, RealizedObject> = {};
    await Promise.all([...byKind].map(async ([kind, set]) => {
      const realizer = this.realizers.get(kind);
      let outcomes: ReadonlyMap<string, RealizeOutcome>;
      if (!realizer) outcomes = new Map([...set.keys()].map((k) => [k, { ok: false, reason: `${kind}: ${NOT_SUPPORTED_REASON}` }]));
      else {
        try {
          outcomes = await realizer.realize(set);
        } catch (err) {
          outcomes = new Map([...set.keys()].map((k) => [k, { ok: false, reason: `realizer failed: ${errorMessage(err)}` }]));
        }
      }
      for (const [key, object] of set) {
        const o = outcomes.get(key) ?? { ok: false, reason: 'the realizer did not report on this object' };
        out[key] = o.ok ? { generation: object.generation, phase: 'Realized' } : { generation: object.generation, phase: 'Failed', reason: o.reason };
      }
    }));
    return out;
  }
}
