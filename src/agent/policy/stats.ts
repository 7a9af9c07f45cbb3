// Per-rule traffic counters (Antrea's NetworkPolicyStats: packets, bytes, sessions) read back
// from the metric tables' flow counters. The metric flows carry the rule's conjunction id in
// their match (ct_label for Allow, reg3 for Drop/Reject), so a dump maps straight to rules:
//   Allow        +new flow = sessions (first packet of each connection), +new and -new = traffic
//   Drop/Reject  nothing is committed, every denied packet counts; sessions = packets as Antrea.
import { addStats, zeroStats, type NodePolicyStats, type TrafficStats } from '../../api/policy-stats.js';
import { sameOwner } from '../ovs/cookie.js';
import type { OvsFlow } from '../ovs/flow.js';
import type { FlowStatsEntry } from '../../lib/openflow/flow-stats.js';
import type { OxmField } from '../../lib/openflow/oxm.js';
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

/** One metric flow, however it was read: table, owner cookie, the rule it counts for, counters. */
interface MetricFlow {
  tableId: number;
  cookie: bigint;
  conjId: number | undefined;
  /** Matches ct_state=+new: its packets are sessions. */
  newSessions: boolean;
  packets: number;
  bytes: number;
}

/** Sums the metric flows (dumped with stats, as text) per realized rule. */
export function ruleStats(flows: readonly OvsFlow[], metricTables: ReadonlySet<number>, rule: (conjId: number) => RealizedRule | undefined): RuleStats[] {
  return sumRuleStats(
    flows.filter((f) => metricTables.has(f.tableId)).map((f) => ({
      tableId: f.tableId, cookie: f.cookie, conjId: metricConjId(f.match), newSessions: /ct_state=\+new/.test(f.match), packets: f.nPackets ?? 0, bytes: f.nBytes ?? 0,
    })),
    rule,
  );
}

/** The conjunction id and +new of a metric flow from its decoded match (ct_label masked to one half, or reg3). */
export function metricOf(match: readonly OxmField[]): { conjId: number | undefined; newSessions: boolean } {
  let conjId: number | undefined;
  let newSessions = false;
  for (const f of match) {
    if (f.name === 'ct_label' && f.mask && f.value.length === 16) {
      // The low 64 bits hold the id: bits 0-31 (ingress) or 32-63 (egress), whichever the mask covers.
      const low = f.mask.readUInt32BE(12) === 0xffffffff;
      conjId = f.value.readUInt32BE(low ? 12 : 8);
    } else if (f.name === 'reg3' && conjId === undefined) {
      conjId = f.value.readUInt32BE(0);
    } else if (f.name === 'ct_state') {
      const v = f.value.readUInt32BE(0);
      const m = f.mask ? f.mask.readUInt32BE(0) : 0xffffffff;
      newSessions = (m & v & 1) === 1; // CS_NEW is bit 0
    }
  }
  return { conjId, newSessions };
}

/** Sums the metric flows (read over OpenFlow) per realized rule. */
export function ruleStatsOf(flows: readonly FlowStatsEntry[], metricTables: ReadonlySet<number>, rule: (conjId: number) => RealizedRule | undefined): RuleStats[] {
  return sumRuleStats(
    flows.filter((f) => metricTables.has(f.tableId)).map((f) => ({ tableId: f.tableId, cookie: f.cookie, ...metricOf(f.match), packets: f.packets, bytes: f.bytes })),
    rule,
  );
}

function sumRuleStats(flows: readonly MetricFlow[], rule: (conjId: number) => RealizedRule | undefined): RuleStats[] {
  const out = new Map<string, RuleStats>();
  for (const f of flows) {
    const r = f.conjId === undefined ? undefined : rule(f.conjId);
    // Another rule's flow otherwise. The round may differ: a restarted agent adopts unchanged flows with their old cookie.
    if (!r || !sameOwner(r.cookie, f.cookie)) continue;
    let s = out.get(r.rule.id);
    if (!s) {
      s = { ruleId: r.rule.id, policy: r.rule.policy, ruleName: r.rule.ruleName, direction: r.rule.direction, action: r.rule.action, conjId: r.conjId, packets: 0, bytes: 0, sessions: 0 };
      out.set(r.rule.id, s);
    }
    s.packets += f.packets;
    s.bytes += f.bytes;
    if (r.rule.action !== 'Allow' || f.newSessions) s.sessions += f.packets;
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
