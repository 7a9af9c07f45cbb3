// Per-rule traffic counters (Antrea's NetworkPolicyStats: packets, bytes, sessions) read back
// from the metric tables' flow counters. The metric flows carry the rule's conjunction id in
// their match (ct_label for Allow, reg3 for Drop/Reject), so a dump maps straight to rules:
//   Allow        +new flow = sessions (first packet of each connection), +new and -new = traffic
//   Drop/Reject  nothing is committed, every denied packet counts; sessions = packets as Antrea.
import { addStats, zeroStats, type NodePolicyStats, type TrafficStats } from '../../api/policy-stats.js';
import { sameOwner } from '../ovs/cookie.js';
import type { OvsFlow } from '../ovs/flow.js';
import type { RealizedRule } from './flows.js';

export interface RuleStats {
  ruleId: string;
  policy: RealizedRule['rule']['policy'];
  ruleName: string;
  direction: RealizedRule['rule']['direction'];
  action: RealizedRule['rule']['action'];
  conjId: number;
  packets: number;
  bytes: number;
  sessions: number;
}

/** The conjunction id a metric flow counts for, from its ct_label or reg3 match. */
export function metricConjId(match: string): number | undefined {
  const label = /ct_label=(0x[0-9a-f]+)\/(0x[0-9a-f]+)/.exec(match);
  if (label) {
    const v = BigInt(label[1]!);
    const shift = BigInt(label[2]!) === 0xffffffffn ? 0n : 32n;
    return Number((v >> shift) & 0xffffffffn);
  }
  const reg3 = /reg3=(0x[0-9a-f]+|\d+)/.exec(match);
  return reg3 ? Number(reg3[1]) : undefined;
}

/** Sums the metric flows (dumped with stats) per realized rule. */
export function ruleStats(flows: readonly OvsFlow[], metricTables: ReadonlySet<number>, rule: (conjId: number) => RealizedRule | undefined): RuleStats[] {
  const out = new Map<string, RuleStats>();
  for (const f of flows) {
    if (!metricTables.has(f.tableId)) continue;
    const conjId = metricConjId(f.match);
    const r = conjId === undefined ? undefined : rule(conjId);
    // Another rule's flow otherwise. The round may differ: a restarted agent adopts unchanged flows with their old cookie.
    if (!r || !sameOwner(r.cookie, f.cookie)) continue;
    let s = out.get(r.rule.id);
    if (!s) {
      s = { ruleId: r.rule.id, policy: r.rule.policy, ruleName: r.rule.ruleName, direction: r.rule.direction, action: r.rule.action, conjId: r.conjId, packets: 0, bytes: 0, sessions: 0 };
      out.set(r.rule.id, s);
    }
    const packets = f.nPackets ?? 0;
    s.packets += packets;
    s.bytes += f.nBytes ?? 0;
    if (r.rule.action !== 'Allow' || /ct_state=\+new/.test(f.match)) s.sessions += packets;
  }
  return [...out.values()].sort((a, b) => a.ruleId.localeCompare(b.ruleId));
}

/**
 * Per-rule counters grouped per policy for the node's report. A rule split over several
 * internal rules (named ports, `namespaces: Self`) sums into its one name. Policies are keyed by
 * the uid the realizer gives them: the desired object's key.
 */
export function statsByPolicy(rules: readonly RuleStats[]): NodePolicyStats[] {
  const policies = new Map<string, Map<string, TrafficStats>>();
  for (const r of rules) {
    const key = r.policy.uid;
    if (!key) continue;
    let byRule = policies.get(key);
    if (!byRule) policies.set(key, (byRule = new Map()));
    let t = byRule.get(r.ruleName);
    if (!t) byRule.set(r.ruleName, (t = zeroStats()));
    addStats(t, r);
  }
  return [...policies]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([policy, byRule]) => ({ policy, rules: [...byRule].sort(([a], [b]) => a.localeCompare(b)).map(([name, trafficStats]) => ({ name, trafficStats })) }));
}
