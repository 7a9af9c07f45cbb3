// Rule order → OpenFlow priority, per table. Antrea-native tiers share one range (tier, policy
// priority and rule index folded into one order); baseline rules sit under the K8s isolation
// drops in the *DefaultRule tables. Priorities are spread with gaps, and an assignment is
// passed back in on the next run: rules that still exist keep their priority (no flow churn),
// and new ones take a free priority between their neighbours — Antrea's priorityAssigner
// idea, as a pure function. Only when a gap is full is the table respread.
import type { RuleOrder } from '../../policy/compute/types.js';

export interface PriorityRange {
  top: number;
  bottom: number;
}

/** Antrea's policyTopPriority/policyBottomPriority, below the established-connection bypass at 64990. */
export const ANTREA_POLICY_RANGE: PriorityRange = { top: 64900, bottom: 100 };
/** Antrea's baseline range: under K8s default drops (200). */
export const BASELINE_RANGE: PriorityRange = { top: 180, bottom: 10 };
export const PRIORITY_ESTABLISHED = 64990;
export const PRIORITY_K8S_CLAUSE = 200;
export const PRIORITY_K8S_ACTION = 190;
export const PRIORITY_K8S_ISOLATION = 200;
export const PRIORITY_METRIC = 200;

export const orderKey = (o: RuleOrder): string => `${o.tierPriority}|${o.policyPriority}|${o.ruleIndex}`;

export function compareOrder(a: RuleOrder, b: RuleOrder): number {
  return a.tierPriority - b.tierPriority || a.policyPriority - b.policyPriority || a.ruleIndex - b.ruleIndex;
}

/**
 * Priorities for distinct orders (lower order → higher priority), strictly decreasing.
 * `previous` maps orderKey → priority from the last run.
 */
export function assignPriorities(orders: readonly RuleOrder[], range: PriorityRange, previous?: ReadonlyMap<string, number>): Map<string, number> {
  const unique = new Map<string, RuleOrder>();
  for (const o of orders) unique.set(orderKey(o), o);
  const sorted = [...unique.values()].sort(compareOrder).map(orderKey);
  if (sorted.length > range.top - range.bottom + 1) {
    throw new RangeError(`${sorted.length} distinct rule priorities do not fit in OpenFlow priorities ${range.bottom}-${range.top}`);
  }
  // spread() cannot fail here: the size was checked above.
  return (previous && keepAndInsert(sorted, range, previous)) || spread(sorted, range.top + 1, range.bottom - 1, new Map())!;
}

function keepAndInsert(sorted: string[], range: PriorityRange, previous: ReadonlyMap<string, number>): Map<string, number> | undefined {
  const out = new Map<string, number>();
  // Anchors: previously assigned orders, kept while they stay strictly decreasing.
  let last = range.top + 1;
  for (const key of sorted) {
    const p = previous.get(key);
    if (p !== undefined && p < last && p >= range.bottom) {
      out.set(key, p);
      last = p;
    }
  }
  let upper = range.top + 1;
  let run: string[] = [];
  for (const key of [...sorted, undefined]) {
    const anchor = key === undefined ? range.bottom - 1 : out.get(key);
    if (anchor === undefined) {
      run.push(key!);
      continue;
    }
    if (run.length && !spread(run, upper, anchor, out)) return undefined;
    run = [];
    upper = anchor;
  }
  return out;
}

/** Spreads keys evenly strictly between `upper` and `lower`; undefined when they do not fit. */
function spread(keys: string[], upper: number, lower: number, out: Map<string, number>): Map<string, number> | undefined {
  const room = upper - lower;
  if (room - 1 < keys.length) return undefined;
  keys.forEach((key, j) => out.set(key, Math.floor(upper - (room * (j + 1)) / (keys.length + 1))));
  return out;
}
