// Agent-side policy flows: conjunction shapes, linear flow count, priorities, actions, metrics.
import assert from 'node:assert/strict';
import { Pipeline } from '../../../src/agent/ovs/pipeline.js';
import { CookieAllocator } from '../../../src/agent/ovs/cookie.js';
import type { Flow } from '../../../src/agent/ovs/flow.js';
import { policyFlows, type PolicyFlowInput } from '../../../src/agent/policy/flows.js';
import { assignPriorities, orderKey, ANTREA_POLICY_RANGE } from '../../../src/agent/policy/priority.js';
import { allocateConjIds } from '../../../src/agent/policy/conj-id.js';
import { portRangeMasks, serviceMatches } from '../../../src/agent/policy/match.js';
import { decodeUserdata } from '../../../src/agent/policy/userdata.js';
import { serviceFrontends } from '../../../src/agent/service/frontends.js';
import { matchKey } from '../../../src/lib/openflow/match.js';
import type { InternalRule, NodePolicySet, RuleOrder } from '../../../src/policy/compute/types.js';
import type { InventoryService } from '../../../src/api/inventory.js';

const pipeline = Pipeline.build();
const cookies = new CookieAllocator(1);
const T = (name: Parameters<typeof pipeline.id>[0]) => pipeline.id(name);

function rule(over: Partial<InternalRule> & { id: string }): InternalRule {
  return {
    policy: { kind: 'AntreaClusterNetworkPolicy', name: 'p' },
    ruleName: 'r',
    direction: 'egress',
    action: 'Allow',
    layer: 'antrea',
    tier: 'application',
    order: { tierPriority: 250, policyPriority: 1, ruleIndex: 0 },
    targets: [{ key: 'ns/a', ip: '10.0.0.2' }],
    peers: { any: false, ips: ['10.0.1.5'], cidrs: [] },
    enableLogging: false,
    ...over,
  };
}
const set = (rules: InternalRule[], isolated: NodePolicySet['isolated'] = { ingress: [], egress: [] }): NodePolicySet => ({ node: 'n1', rules, isolated });
const input = (rules: InternalRule[], ofports: Record<string, number> = { 'ns/a': 5, 'ns/b': 6 }, isolated?: NodePolicySet['isolated']): PolicyFlowInput =>
  ({ policies: set(rules, isolated), ofports: new Map(Object.entries(ofports)) });
const inTable = (flows: Flow[], table: Flow['table']) => flows.filter((f) => f.table === table);

describe('policy flows', () => {
  it('always installs the established/related bypass in both Antrea rule tables', () => {
    const { flows } = policyFlows(input([]), pipeline, cookies);
    assert.deepEqual(flows.map((f) => [f.table, f.priority, f.match.join(','), f.actions.join(',')]), [
      ['AntreaPolicyEgressRule', 64990, 'ct_state=-new+est,ip', `goto_table:${T('EgressMetric')}`],
      ['AntreaPolicyEgressRule', 64990, 'ct_state=-new+rel,ip', `goto_table:${T('EgressMetric')}`],
      ['AntreaPolicyIngressRule', 64990, 'ct_state=-new+est,ip', `goto_table:${T('IngressMetric')}`],
      ['AntreaPolicyIngressRule', 64990, 'ct_state=-new+rel,ip', `goto_table:${T('IngressMetric')}`],
    ]);
  });

  it('egress Allow: clauses src/dst/service, commit with the rule id in the egress ct_label half, two metric flows', () => {
    const r = rule({ id: 'acnp:p|egress|0', services: [{ protocol: 'TCP', port: 3306 }] });
    const { flows, realized } = policyFlows(input([r]), pipeline, cookies);
    const id = realized[0]!.conjId;
    const p = realized[0]!.priority;
    const rt = inTable(flows, 'AntreaPolicyEgressRule').filter((f) => f.priority === p);
    assert.deepEqual(rt.map((f) => [f.match.join(','), f.actions.join(',')]), [
      [`conj_id=${id},ip`, `set_field:0x${id.toString(16)}->reg5,ct(commit,table=${T('EgressMetric')},zone=65520,exec(set_field:0x${(BigInt(id) << 32n).toString(16)}/0xffffffff00000000->ct_label))`],
      ['ip,nw_src=10.0.0.2', `conjunction(${id},1/3)`],
      ['ip,nw_dst=10.0.1.5', `conjunction(${id},2/3)`],
      ['tcp,tp_dst=3306', `conjunction(${id},3/3)`],
    ]);
    assert.deepEqual(inTable(flows, 'EgressMetric').map((f) => [f.priority, f.match.join(','), f.actions.join(',')]), [
      [200, `ct_state=+new,ct_label=0x${(BigInt(id) << 32n).toString(16)}/0xffffffff00000000,ip`, `goto_table:${T('L3Forwarding')}`],
      [200, `ct_state=-new,ct_label=0x${(BigInt(id) << 32n).toString(16)}/0xffffffff00000000,ip`, `goto_table:${T('L3Forwarding')}`],
    ]);
    assert.ok(flows.filter((f) => f.priority === p).every((f) => f.cookie === cookies.cookie('NetworkPolicy', r.id)), 'every flow of the rule carries its cookie');
  });

  it('ingress: peers are sources (clause 1), targets match reg1 = their OVS port (clause 2); ct_label low half', () => {
    const r = rule({ id: 'i', direction: 'ingress', targets: [{ key: 'ns/a', ip: '10.0.0.2' }, { key: 'ns/b', ip: '10.0.0.3' }] });
    const { flows, realized } = policyFlows(input([r]), pipeline, cookies);
    const id = realized[0]!.conjId;
    const rt = inTable(flows, 'AntreaPolicyIngressRule').filter((f) => f.priority !== 64990);
    assert.deepEqual(rt.map((f) => [f.match.join(','), f.actions.join(',')]).sort(), [
      [`conj_id=${id},ip`, `set_field:0x${id.toString(16)}->reg6,ct(commit,table=${T('IngressMetric')},zone=65520,exec(set_field:0x${id.toString(16)}/0xffffffff->ct_label))`],
      ['ip,nw_src=10.0.1.5', `conjunction(${id},1/2)`],
      ['reg1=0x5', `conjunction(${id},2/2)`],
      ['reg1=0x6', `conjunction(${id},2/2)`],
    ].sort());
  });

  it('flow count is linear: M peers + N targets + S services (+1 action, +2 metric), never M×N', () => {
    const targets = Array.from({ length: 20 }, (_, i) => ({ key: `ns/t${i}`, ip: `10.0.0.${i + 10}` }));
    const ips = Array.from({ length: 50 }, (_, i) => `10.0.9.${i + 1}`);
    const r = rule({ id: 'big', targets, peers: { any: false, ips, cidrs: ['192.168.0.0/16'] }, services: [{ protocol: 'TCP', port: 80 }, { protocol: 'UDP', port: 53 }] });
    const { flows } = policyFlows(input([r]), pipeline, cookies);
    const ruleFlows = flows.filter((f) => f.priority !== 64990);
    assert.equal(ruleFlows.length, 20 + 51 + 2 + 1 + 2);
  });

  it('a rule restricted in one dimension only gets an `ip` clause (OVS needs two)', () => {
    const r = rule({ id: 'x', action: 'Drop', peers: { any: true, ips: [], cidrs: [] } });
    const { flows, realized } = policyFlows(input([r]), pipeline, cookies);
    const id = realized[0]!.conjId;
    const clauses = inTable(flows, 'AntreaPolicyEgressRule').filter((f) => f.actions[0]!.startsWith('conjunction'));
    assert.deepEqual(clauses.map((f) => [f.match.join(','), f.actions.join(',')]), [
      ['ip,nw_src=10.0.0.2', `conjunction(${id},1/2)`],
      ['ip', `conjunction(${id},2/2)`],
    ]);
  });

  it('Drop: reg3 = id, deny mark, disposition, then the metric table drops', () => {
    const r = rule({ id: 'd', action: 'Drop' });
    const { flows, realized } = policyFlows(input([r]), pipeline, cookies);
    const id = realized[0]!.conjId;
    const hex = `0x${id.toString(16)}`;
    assert.deepEqual(flows.find((f) => f.match[0] === `conj_id=${id}`)!.actions, [`set_field:${hex}->reg3`, 'set_field:0x400/0x400->reg0', 'set_field:0x800/0x1800->reg0', `goto_table:${T('EgressMetric')}`]);
    assert.deepEqual(inTable(flows, 'EgressMetric').map((f) => [f.match.join(','), f.actions.join(',')]), [[`reg0=0x400/0x400,reg3=${hex}`, 'drop']]);
  });

  it('Reject: the metric table sends the packet to the agent with userdata naming the rule', () => {
    const r = rule({ id: 'rj', action: 'Reject', direction: 'ingress' });
    const { flows, realized } = policyFlows(input([r]), pipeline, cookies);
    const id = realized[0]!.conjId;
    const metric = inTable(flows, 'IngressMetric');
    assert.equal(metric.length, 1);
    const m = /^controller\(userdata=([0-9a-f.]+)\)$/.exec(metric[0]!.actions[0]!);
    assert.ok(m, metric[0]!.actions[0]);
    assert.deepEqual(decodeUserdata(Buffer.from(m[1]!.replaceAll('.', ''), 'hex')), { operations: 2, direction: 'ingress', conjId: id, reason: 'policy' });
    assert.ok(flows.find((f) => f.match[0] === `conj_id=${id}`)!.actions.includes('set_field:0x1000/0x1800->reg0'));
  });

  it('Pass: goes on to the K8s rule table of its direction, no metric flow', () => {
    const { flows, realized } = policyFlows(input([rule({ id: 'e', action: 'Pass' }), rule({ id: 'i', action: 'Pass', direction: 'ingress' })]), pipeline, cookies);
    const action = (id: string) => flows.find((f) => f.match[0] === `conj_id=${realized.find((r) => r.rule.id === id)!.conjId}`)!.actions;
    assert.equal(action('e').at(-1), `goto_table:${T('EgressRule')}`);
    assert.equal(action('i').at(-1), `goto_table:${T('IngressRule')}`);
    assert.equal(inTable(flows, 'EgressMetric').length + inTable(flows, 'IngressMetric').length, 0);
  });

  it('K8s rules: EgressRule table, clauses at 200 and the action at 190; isolation drops at 200 in the default tables', () => {
    const r = rule({ id: 'k', layer: 'k8s', tier: 'k8s', order: { tierPriority: 251, policyPriority: 0, ruleIndex: 0 } });
    const { flows } = policyFlows(input([r], { 'ns/a': 5 }, { egress: [{ key: 'ns/a', ip: '10.0.0.2' }], ingress: [{ key: 'ns/a', ip: '10.0.0.2' }, { key: 'ns/gone', ip: '10.0.0.9' }] }), pipeline, cookies);
    assert.deepEqual(inTable(flows, 'EgressRule').map((f) => f.priority).sort(), [190, 200, 200]);
    assert.deepEqual(inTable(flows, 'EgressDefaultRule').map((f) => [f.priority, f.match.join(','), f.actions.join(',')]), [[200, 'ip,nw_src=10.0.0.2', 'drop']]);
    assert.deepEqual(inTable(flows, 'IngressDefaultRule').map((f) => [f.priority, f.match.join(','), f.actions.join(',')]), [[200, 'reg1=0x5', 'drop']]);
  });

  it('baseline rules sit in the default tables under the K8s isolation drops', () => {
    const r = rule({ id: 'b', layer: 'baseline', tier: 'baseline', order: { tierPriority: 253, policyPriority: 1, ruleIndex: 0 } });
    const { realized } = policyFlows(input([r]), pipeline, cookies);
    assert.equal(realized[0]!.table, 'EgressDefaultRule');
    assert.ok(realized[0]!.priority >= 10 && realized[0]!.priority <= 180);
  });

  it('priorities follow tier, then policy priority, then rule index', () => {
    const o = (tierPriority: number, policyPriority: number, ruleIndex: number): RuleOrder => ({ tierPriority, policyPriority, ruleIndex });
    const rules = [
      rule({ id: 'app-p2-r0', order: o(250, 2, 0) }),
      rule({ id: 'app-p1.5-r1', order: o(250, 1.5, 1) }),
      rule({ id: 'emergency', order: o(50, 100, 3) }),
      rule({ id: 'app-p1.5-r0', order: o(250, 1.5, 0) }),
      rule({ id: 'custom-10', order: o(10, 9999, 0) }),
    ];
    const { realized } = policyFlows(input(rules), pipeline, cookies);
    const byPriority = [...realized].sort((a, b) => b.priority - a.priority).map((r) => r.rule.id);
    assert.deepEqual(byPriority, ['custom-10', 'emergency', 'app-p1.5-r0', 'app-p1.5-r1', 'app-p2-r0']);
    assert.ok(realized.every((r) => r.priority > 100 && r.priority < 64990));
  });

  it('rules with equal order share a priority; equal clause flows merge their conjunction actions', () => {
    const a = rule({ id: 'a', policy: { kind: 'AntreaClusterNetworkPolicy', name: 'a' } });
    const b = rule({ id: 'b', policy: { kind: 'AntreaClusterNetworkPolicy', name: 'b' }, peers: { any: false, ips: ['10.0.1.6'], cidrs: [] } });
    const { flows, realized } = policyFlows(input([a, b]), pipeline, cookies);
    assert.equal(realized[0]!.priority, realized[1]!.priority);
    const src = flows.filter((f) => f.match.join(',') === 'ip,nw_src=10.0.0.2');
    assert.equal(src.length, 1);
    assert.deepEqual([...src[0]!.actions].sort(), realized.map((r) => `conjunction(${r.conjId},1/2)`).sort());
    assert.equal(src[0]!.cookie, cookies.cookie('NetworkPolicy', 'a'), 'owned by the smallest rule id');
  });

  it('ingress targets without an OVS port are skipped and reported', () => {
    const r = rule({ id: 'i', direction: 'ingress', targets: [{ key: 'ns/none', ip: '10.0.0.7' }] });
    const { realized, skipped } = policyFlows(input([r]), pipeline, cookies);
    assert.deepEqual(realized, []);
    assert.deepEqual(skipped, [{ ruleId: 'i', reason: 'no target has an OVS port yet' }]);
  });

  it('toServices: the destination clause is each frontend of the named Services by conntrack\'s original destination; a missing Service is skipped', () => {
    const frontends = serviceFrontends({
      nodes: new Map(), namespaces: new Map(), pods: new Map(),
      services: new Map<string, InventoryService>([
        ['prod/web', { namespace: 'prod', name: 'web', type: 'ClusterIP', clusterIP: '10.43.0.10', ports: [{ name: 'http', protocol: 'TCP', port: 80, nodePort: 0 }, { name: 'dns', protocol: 'UDP', port: 53, nodePort: 0 }], affinitySeconds: 0, externalTrafficPolicy: 'Cluster', internalTrafficPolicy: 'Cluster' }],
        ['prod/headless', { namespace: 'prod', name: 'headless', type: 'ClusterIP', ports: [{ name: '', protocol: 'TCP', port: 80, nodePort: 0 }], affinitySeconds: 0, externalTrafficPolicy: 'Cluster', internalTrafficPolicy: 'Cluster' }],
      ]),
    });
    const r = rule({ id: 'ts', action: 'Drop', peers: { any: false, ips: [], cidrs: [], toServices: [{ namespace: 'prod', name: 'headless' }, { namespace: 'prod', name: 'web' }] } });
    const { flows, realized, skipped } = policyFlows({ ...input([r]), serviceFrontends: frontends }, pipeline, cookies);
    const id = realized[0]!.conjId;
    const clauses = inTable(flows, 'AntreaPolicyEgressRule').filter((f) => f.actions.some((a) => a.startsWith('conjunction(')));
    assert.deepEqual(clauses.map((f) => [f.match.join(','), f.actions.join(',')]), [
      ['ip,nw_src=10.0.0.2', `conjunction(${id},1/2)`],
      ['ct_state=+trk-inv,ip,ct_nw_dst=10.43.0.10,ct_nw_proto=17,ct_tp_dst=53', `conjunction(${id},2/2)`],
      ['ct_state=+trk-inv,ip,ct_nw_dst=10.43.0.10,ct_nw_proto=6,ct_tp_dst=80', `conjunction(${id},2/2)`],
    ]);
    // OVS takes ct_nw_dst only with a valid ct_state (+trk alone is refused): the encoder checks the same prerequisites.
    for (const f of clauses) assert.doesNotThrow(() => matchKey(f.match.join(',')));
    assert.throws(() => matchKey('ct_state=+trk,ip,ct_nw_dst=10.43.0.10'), /needs a valid ct_state/);
    assert.deepEqual(skipped, []);
    const missing = policyFlows({ ...input([rule({ ...r, id: 'ts2' })]), serviceFrontends: new Map() }, pipeline, cookies);
    assert.deepEqual(missing.realized, []);
    assert.deepEqual(missing.skipped, [{ ruleId: 'ts2', reason: 'no Service of prod/headless, prod/web with an IPv4 cluster IP on this node' }]);
  });

  it('the previous state keeps priorities and conjunction ids of unchanged rules when a rule is inserted', () => {
    const o = (policyPriority: number): RuleOrder => ({ tierPriority: 250, policyPriority, ruleIndex: 0 });
    const first = policyFlows(input([rule({ id: 'p1', order: o(1) }), rule({ id: 'p3', order: o(3) })]), pipeline, cookies);
    const second = policyFlows(input([rule({ id: 'p1', order: o(1) }), rule({ id: 'p2', order: o(2) }), rule({ id: 'p3', order: o(3) })]), pipeline, cookies, first.state);
    const pr = (res: typeof first, id: string) => res.realized.find((r) => r.rule.id === id)!;
    for (const id of ['p1', 'p3']) {
      assert.equal(pr(second, id).priority, pr(first, id).priority);
      assert.equal(pr(second, id).conjId, pr(first, id).conjId);
    }
    assert.ok(pr(second, 'p2').priority < pr(second, 'p1').priority && pr(second, 'p2').priority > pr(second, 'p3').priority);
    const unchanged = new Set(first.flows.map((f) => JSON.stringify([f.table, f.priority, f.match, f.actions])));
    assert.ok(first.flows.every((f) => unchanged.has(JSON.stringify([f.table, f.priority, f.match, f.actions]))));
    const again = new Set(second.flows.map((f) => JSON.stringify([f.table, f.priority, f.match, f.actions])));
    assert.equal(first.flows.filter((f) => !again.has(JSON.stringify([f.table, f.priority, f.match, f.actions]))).length, 0, 'no flow of the first run changes');
  });

  describe('helpers', () => {
    it('assignPriorities spreads with gaps, inserts between neighbours, respreads when a gap is full', () => {
      const o = (policyPriority: number): RuleOrder => ({ tierPriority: 250, policyPriority, ruleIndex: 0 });
      const range = { top: 110, bottom: 100 };
      const a = assignPriorities([o(1), o(2)], range);
      assert.deepEqual([...a.values()], [107, 103]);
      const b = assignPriorities([o(1), o(1.5), o(2)], range, a);
      assert.deepEqual([a.get(orderKey(o(1))), a.get(orderKey(o(2)))], [b.get(orderKey(o(1))), b.get(orderKey(o(2)))]);
      assert.equal(b.get(orderKey(o(1.5))), 105);
      const c = assignPriorities([o(1), o(1.2), o(1.4), o(1.5), o(2)], range, b);
      const vals = [o(1), o(1.2), o(1.4), o(1.5), o(2)].map((x) => c.get(orderKey(x))!);
      assert.deepEqual(vals, [...vals].sort((x, y) => y - x));
      assert.equal(new Set(vals).size, 5);
      assert.throws(() => assignPriorities(Array.from({ length: 12 }, (_, i) => o(i + 1)), range), /do not fit/);
      assert.equal(assignPriorities([o(1)], ANTREA_POLICY_RANGE).get(orderKey(o(1))), 32500);
    });

    it('port ranges become exact value/mask matches', () => {
      const masks = portRangeMasks(30000, 30100);
      for (let p = 29990; p <= 30110; p++) {
        const hit = masks.some(({ value, mask }) => (p & mask) === value);
        assert.equal(hit, p >= 30000 && p <= 30100, `port ${p}`);
      }
      assert.deepEqual(portRangeMasks(1, 65535).length, 16);
      assert.deepEqual(serviceMatches({ protocol: 'TCP', port: 8080, endPort: 8083 }), [['tcp', 'tp_dst=0x1f90/0xfffc']]);
      assert.deepEqual(serviceMatches({ protocol: 'ICMP', icmpType: 8, icmpCode: 0 }), [['icmp', 'icmp_type=8', 'icmp_code=0']]);
    });

    it('conjunction ids are unique, order-independent and keep previous values', () => {
      const ids = Array.from({ length: 5000 }, (_, i) => `rule-${i}`);
      const a = allocateConjIds(ids);
      assert.equal(new Set(a.values()).size, 5000);
      assert.deepEqual(allocateConjIds([...ids].reverse()), a);
      const prev = new Map([['rule-1', 7]]);
      assert.equal(allocateConjIds(ids, prev).get('rule-1'), 7);
    });
  });
});
