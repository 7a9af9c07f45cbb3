// Keeping Flow objects across datapath syncs. The bridge's reconcile plans only the flows it
// has not seen as objects (desired-memo.ts), and falls back to planning the whole table when
// more than an eighth of them are new; so a feature that builds equal flows again as new
// objects on every sync makes every sync a whole one, whatever changed. Two ways to keep them:
//   LastResult   memoize by input: while the inputs are the same (===, element by element),
//                the last result (the same array, the same Flow objects) without building.
//   FlowInterner after a build: each flow equal in content to one of the last build's takes
//                that object, so only the flows that really changed are new.
// Flows are values: neither may hand out an object someone mutates afterwards.
import type { Flow } from './flow.js';

/** The last result and the inputs it was computed from. */
export class LastResult<T> {
  private last?: { inputs: readonly unknown[]; value: T };

  /** `compute()` when any input differs (===) from the last call's, else the last value. */
  get(inputs: readonly unknown[], compute: () => T): T {
    const l = this.last;
    if (l && l.inputs.length === inputs.length && l.inputs.every((x, i) => x === inputs[i])) return l.value;
    const value = compute();
    this.last = { inputs, value };
    return value;
  }

  clear(): void {
    this.last = undefined;
  }
}

/** Everything the bridge writes of a flow, as one string: equal strings, equal flows. */
export function flowContentKey(f: Flow): string {
  return `${f.table}\u0000${f.priority}\u0000${f.match.join('\u0001')}\u0000${f.actions.join('\u0001')}\u0000${f.cookie}\u0000${f.idleTimeout ?? ''}\u0000${f.hardTimeout ?? ''}`;
}

export class FlowInterner {
  private byKey = new Map<string, Flow>();
  private lastIn?: readonly Flow[];
  private lastOut: Flow[] = [];

  /**
   * `flows` with every flow equal to one of the last call's replaced by that object. Only the
   * last call is remembered (a flow gone for one sync is new when it comes back). The same
   * array as last time returns the same result without a look.
   */
  intern(flows: readonly Flow[]): Flow[] {
    if (flows === this.lastIn) return this.lastOut;
    const next = new Map<string, Flow>();
    const out = flows.map((f) => {
      const key = flowContentKey(f);
      const kept = this.byKey.get(key) ?? next.get(key) ?? f;
      next.set(key, kept);
      return kept;
    });
    this.byKey = next;
    this.lastIn = flows;
    this.lastOut = out;
    return out;
  }

  clear(): void {
    this.byKey.clear();
    this.lastIn = undefined;
    this.lastOut = [];
  }
}
