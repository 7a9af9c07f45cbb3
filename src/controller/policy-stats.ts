// Antrea's NetworkPolicyStats resources, summed over what the nodes last reported: each node
// reports the current counters of its rules, so the fleet total is the sum of the latest
// reports (a node that goes away takes its counters with it, as in Antrea's aggregator).
import { objectKey, type NodeReported } from '../api/node-state.js';
import { STATS_API_VERSION, addStats, zeroStats, type PolicyStatsObject, type StatsKind, type TrafficStats } from '../api/policy-stats.js';
import { qualifiedKind } from '../api/kinds.js';
import type { StoredRecord } from './store/objects.js';

/** Stats objects for the given policies (all of one kind), in their order. */
export function policyStatsFor(kind: StatsKind, policies: readonly StoredRecord[], reports: ReadonlyMap<string, NodeReported>): PolicyStatsObject[] {
  const wanted = new Map(policies.filter((p) => qualifiedKind(p.kind) === kind.policyKind).map((p) => [objectKey(p), p]));
  const totals = new Map<string, { total: TrafficStats; rules: Map<string, TrafficStats> }>();
  for (const report of reports.values()) {
    for (const ps of report.policyStats ?? []) {
      if (!wanted.has(ps.policy)) continue;
      let t = totals.get(ps.policy);
      if (!t) totals.set(ps.policy, (t = { total: zeroStats(), rules: new Map() }));
      for (const r of ps.rules) {
        addStats(t.total, r.trafficStats);
        let rs = t.rules.get(r.name);
        if (!rs) t.rules.set(r.name, (rs = zeroStats()));
        addStats(rs, r.trafficStats);
      }
    }
  }
  const antreaNative = kind.kind !== 'NetworkPolicyStats';
  return [...wanted].map(([key, p]) => {
    const t = totals.get(key);
    return {
      apiVersion: STATS_API_VERSION,
      kind: kind.kind,
      metadata: { name: p.name, ...(p.namespace ? { namespace: p.namespace } : {}), creationTimestamp: p.createdAt },
      trafficStats: t?.total ?? zeroStats(),
      ...(antreaNative ? { ruleTrafficStats: [...(t?.rules ?? [])].sort(([a], [b]) => a.localeCompare(b)).map(([name, trafficStats]) => ({ name, trafficStats })) } : {}),
    };
  });
}
