// Pure diff of desired flows against installed ones (no switch needed; unit-tested).
//
// Per (table, priority, match):
//   missing                                   → add
//   same actions/timeouts, same cookie        → unchanged
//   same actions/timeouts, cookie differs only
//     in its round (written by an earlier
//     agent incarnation)                      → adopted: left as is, old cookie kept
//   actions differ, same cookie               → modify_strict (keeps counters and cookie)
//   cookie owner or timeouts differ           → replace: an `add` over the existing flow,
//                                               which OpenFlow ≥1.2 applies in place keeping
//                                               counters (modify cannot change the cookie)
//   installed but not desired                 → stale (deleted by reconcile / FlowRound.finish)
//
// Keeping the old cookie on adoption is the choice that makes an agent restart invisible:
// re-applying the same desired state leaves `dump-flows --no-stats` byte-identical, with no
// flow deleted and re-added. The cookie round therefore means "the incarnation that last
// wrote this flow", and stale flows are found by diff, not by round.
import { sameOwner } from './cookie.js';
import type { OvsFlow } from './flow.js';

export interface FlowChanges {
  add: OvsFlow[];
  /** Existing flows rewritten with `add` (new cookie owner or timeouts), counters kept. */
  replace: OvsFlow[];
  /** Existing flows whose actions change (`modify_strict`). */
  modify: OvsFlow[];
  delete: OvsFlow[];
}

export interface FlowPlan extends FlowChanges {
  unchanged: number;
  /** Of unchanged: flows kept with an older round's cookie. */
  adopted: number;
  /** Installed flows that no desired flow claimed. */
  stale: OvsFlow[];
  /** Desired flows that matched no installed flow exactly (new, changed, or not in canonical form). */
  inexact: OvsFlow[];
  /** Installed flows claimed by a desired flow. */
  claimed: Set<OvsFlow>;
}

/**
 * Flows by (table, priority, match). Nested maps rather than one map of concatenated keys:
 * building and hashing 10k fresh key strings made planning ten times slower.
 */
export class FlowIndex {
  private readonly byTablePriority = new Map<number, Map<string, OvsFlow>>();
  private count = 0;

  constructor(flows: Iterable<OvsFlow> = []) {
    for (const f of flows) this.set(f);
  }

  get size(): number {
    return this.count;
  }

  get(f: Pick<OvsFlow, 'tableId' | 'priority' | 'match'>): OvsFlow | undefined {
    return this.byTablePriority.get(f.tableId * 65536 + f.priority)?.get(f.match);
  }

  /** Stores the flow, replacing one with the same key. */
  set(f: OvsFlow): void {
    const tp = f.tableId * 65536 + f.priority;
    let m = this.byTablePriority.get(tp);
    if (!m) this.byTablePriority.set(tp, (m = new Map()));
    const before = m.size;
    m.set(f.match, f);
    this.count += m.size - before;
  }

  /** Removes the flow with this key; returns the one removed. */
  delete(f: Pick<OvsFlow, 'tableId' | 'priority' | 'match'>): OvsFlow | undefined {
    const m = this.byTablePriority.get(f.tableId * 65536 + f.priority);
    const old = m?.get(f.match);
    if (old) {
      m!.delete(f.match);
      this.count--;
    }
    return old;
  }

  *values(): IterableIterator<OvsFlow> {
    for (const m of this.byTablePriority.values()) yield* m.values();
  }
}

export const emptyChanges = (): FlowChanges => ({ add: [], replace: [], modify: [], delete: [] });
export const changeCount = (c: FlowChanges) => c.add.length + c.replace.length + c.modify.length + c.delete.length;

export function planFlowChanges(installed: Iterable<OvsFlow> | FlowIndex, desired: readonly OvsFlow[], opts: { deleteStale?: boolean } = {}): FlowPlan {
  const index = installed instanceof FlowIndex ? installed : new FlowIndex(installed);
  // Two desired flows with one key cannot coexist in a switch; the later one wins.
  const wanted = new FlowIndex(desired);

  const plan: FlowPlan = { ...emptyChanges(), unchanged: 0, adopted: 0, stale: [], inexact: [], claimed: new Set() };
  for (const d of wanted.values()) {
    const i = index.get(d);
    if (!i) {
      plan.add.push(d);
      plan.inexact.push(d);
      continue;
    }
    plan.claimed.add(i);
    const sameTimeouts = (i.idleTimeout ?? 0) === (d.idleTimeout ?? 0) && (i.hardTimeout ?? 0) === (d.hardTimeout ?? 0);
    if (i.actions === d.actions && sameTimeouts) {
      if (i.cookie === d.cookie) plan.unchanged++;
      else if (sameOwner(i.cookie, d.cookie)) {
        plan.unchanged++;
        plan.adopted++;
      } else plan.replace.push(d);
      continue;
    }
    plan.inexact.push(d);
    if (!sameTimeouts || i.cookie !== d.cookie) plan.replace.push(d);
    else plan.modify.push(d);
  }
  for (const i of index.values()) if (!plan.claimed.has(i)) plan.stale.push(i);
  if (opts.deleteStale) plan.delete = plan.stale;
  return plan;
}
