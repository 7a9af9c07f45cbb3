// Policy stats from node reports to Antrea's NetworkPolicyStats resources, and the events ring.
import assert from 'node:assert/strict';
import { findQualifiedKind } from '../../../src/api/kinds.js';
import type { NodeReported } from '../../../src/api/node-state.js';
import { STATS_KINDS, findStatsKind } from '../../../src/api/policy-stats.js';
import { statsByPolicy, type RuleStats } from '../../../src/agent/policy/stats.js';
import { RecentEvents } from '../../../src/controller/events.js';
import { policyStatsFor } from '../../../src/controller/policy-stats.js';
import { parseStatsPath, statsUrl } from '../../../src/api/rest-paths.js';
import type { StoredRecord } from '../../../src/controller/store/objects.js';

const ACNP = 'ClusterNetworkPolicy.crd.antrea.io//web';
const stat = (policyUid: string, ruleName: string, packets: number, sessions: number): RuleStats => ({
  ruleId: `${policyUid}-${ruleName}-${packets}`, policy: { kind: 'AntreaClusterNetworkPolicy', name: 'web', uid: policyUid }, ruleName,
  direction: 'ingress', action: 'Allow', conjId: 1, packets, bytes: packets * 100, sessions,
});
const report = (node: string, policyStats: NodeReported['policyStats']): NodeReported => ({
  node, observedGeneration: 1, objects: {}, errors: [], inventory: { pods: [] }, agentVersion: '0.1.0', uptimeSeconds: 1, ...(policyStats ? { policyStats } : {}),
});
const record = (kindName: string, name: string, namespace?: string): StoredRecord => ({
  kind: findQualifiedKind(kindName)!, name, ...(namespace ? { namespace } : {}), uid: 'u', apiVersion: 'x', generation: 1, resourceVersion: 1, createdAt: '2026-11-25T00:00:00.000Z', spec: {},
});

describe('policy stats', () => {
  it('groups a node\'s rule counters per policy, summing rules split over several internal rules', () => {
    const out = statsByPolicy([stat(ACNP, 'allow-web', 10, 2), stat(ACNP, 'allow-web', 5, 1), stat(ACNP, 'drop-rest', 3, 3), { ...stat('', 'x', 1, 1), policy: { kind: 'K8sNetworkPolicy', name: 'n' } }]);
    assert.deepEqual(out, [{ policy: ACNP, rules: [
      { name: 'allow-web', trafficStats: { packets: 15, bytes: 1500, sessions: 3 } },
      { name: 'drop-rest', trafficStats: { packets: 3, bytes: 300, sessions: 3 } },
    ] }]);
  });

  it('sums over nodes per policy and per rule; policies without reports show zeros; other kinds are not mixed in', () => {
    const reports = new Map([
      ['b1', report('b1', [{ policy: ACNP, rules: [{ name: 'allow-web', trafficStats: { packets: 4, bytes: 400, sessions: 2 } }] }])],
      ['b2', report('b2', [{ policy: ACNP, rules: [{ name: 'allow-web', trafficStats: { packets: 6, bytes: 600, sessions: 1 } }, { name: 'drop', trafficStats: { packets: 1, bytes: 60, sessions: 1 } }] },
        { policy: 'NetworkPolicy.networking.k8s.io/default/web', rules: [{ name: 'ingress-0', trafficStats: { packets: 9, bytes: 9, sessions: 9 } }] }])],
      ['b3', report('b3', undefined)],
    ]);
    const acnpStats = findStatsKind('acnpstats')!;
    const [web, idle] = policyStatsFor(acnpStats, [record('ClusterNetworkPolicy.crd.antrea.io', 'web'), record('ClusterNetworkPolicy.crd.antrea.io', 'idle')], reports);
    assert.deepEqual(web!.trafficStats, { packets: 11, bytes: 1060, sessions: 4 });
    assert.deepEqual(web!.ruleTrafficStats, [{ name: 'allow-web', trafficStats: { packets: 10, bytes: 1000, sessions: 3 } }, { name: 'drop', trafficStats: { packets: 1, bytes: 60, sessions: 1 } }]);
    assert.deepEqual(idle!.trafficStats, { packets: 0, bytes: 0, sessions: 0 });
    assert.equal(web!.kind, 'AntreaClusterNetworkPolicyStats');
    const [k8s] = policyStatsFor(findStatsKind('networkpolicystats')!, [record('NetworkPolicy.networking.k8s.io', 'web', 'default')], reports);
    assert.deepEqual(k8s!.trafficStats, { packets: 9, bytes: 9, sessions: 9 });
    assert.equal(k8s!.ruleTrafficStats, undefined, 'K8s NetworkPolicyStats have no per-rule stats');
    assert.equal(k8s!.metadata.namespace, 'default');
  });

  it('knows the kubectl names and round-trips the stats paths', () => {
    assert.equal(findStatsKind('anpstats')?.kind, 'AntreaNetworkPolicyStats');
    assert.equal(findStatsKind('NetworkPolicyStats')?.plural, 'networkpolicystats');
    assert.equal(findStatsKind('acnp'), undefined);
    for (const k of STATS_KINDS) {
      assert.deepEqual(parseStatsPath(statsUrl(k, 'ns1', 'p')), { kind: k, ...(k.namespaced ? { namespace: 'ns1' } : {}), name: 'p' });
      assert.deepEqual(parseStatsPath(statsUrl(k)), { kind: k });
    }
    assert.equal(parseStatsPath('/apis/stats.crd.antrea.io/v1alpha1/namespaces/x/antreaclusternetworkpolicystats'), undefined);
    assert.equal(parseStatsPath('/apis/stats.crd.antrea.io/v1alpha1/nosuch'), undefined);
  });

  it('keeps the newest events within its bound and filters by node, type and time', () => {
    const ev = new RecentEvents(3);
    for (let i = 1; i <= 5; i++) ev.push({ node: i % 2 ? 'b1' : 'b2', ts: i, severity: 'info', type: i === 5 ? 'alert' : 'policy-log', message: `m${i}` });
    assert.deepEqual(ev.list().map((e) => e.message), ['m3', 'm4', 'm5']);
    assert.equal(ev.evicted, 2);
    assert.deepEqual(ev.list({ node: 'b1' }).map((e) => e.message), ['m3', 'm5']);
    assert.deepEqual(ev.list({ type: 'policy-log' }).map((e) => e.message), ['m3', 'm4']);
    assert.deepEqual(ev.list({ since: 3, limit: 1 }).map((e) => e.message), ['m5']);
  });

  it('a noisy node evicts its own events, not the last ones of quieter nodes (per-node share of the ring)', () => {
    const ev = new RecentEvents(10);
    ev.push({ node: 'quiet1', ts: 1, severity: 'warning', type: 'alert', message: 'q1' });
    ev.push({ node: 'quiet2', ts: 2, severity: 'warning', type: 'alert', message: 'q2' });
    ev.push({ node: '', ts: 3, severity: 'info', type: 'rollout', message: 'c1' });
    for (let i = 0; i < 1000; i++) ev.push({ node: 'noisy', ts: 10 + i, severity: 'info', type: 'policy-log', message: `n${i}` });
    assert.deepEqual(ev.list({ node: 'quiet1' }).map((e) => e.message), ['q1']);
    assert.deepEqual(ev.list({ node: 'quiet2' }).map((e) => e.message), ['q2']);
    assert.deepEqual(ev.list({ type: 'rollout' }).map((e) => e.message), ['c1']);
    assert.deepEqual(ev.list({ node: 'noisy' }).map((e) => e.message), ['n993', 'n994', 'n995', 'n996', 'n997', 'n998', 'n999']);
    assert.equal(ev.evicted, 993);
    // Equal holders: the oldest overall goes.
    ev.push({ node: 'quiet1', ts: 2000, severity: 'info', type: 'alert', message: 'q1b' });
    assert.equal(ev.list().length, 10);
    assert.deepEqual(ev.list({ node: 'quiet1' }).map((e) => e.message), ['q1', 'q1b']);
  });
});
