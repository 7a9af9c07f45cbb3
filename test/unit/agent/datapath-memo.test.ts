// The datapath's desired set keeps its Flow objects while their inputs stay (flow-memo.ts), so
// the bridge's delta planning (desired-memo.ts) sees only what changed: a Service endpoint
// change beside 1k+ policy flows is a partial plan of Service flows only, and that partial plan
// makes exactly the changes a whole plan would. Built by the agent's own Datapath.desiredFlows
// with the real policy, Service and connectivity builders; the pods, peers and ofports are
// listed again as new objects on every sync, as OVSDB and the inventory hand them out.
import assert from 'node:assert/strict';
import { Datapath, type DerivedFlowFeature, type FlowFeature } from '../../../src/agent/datapath.js';
import { categoryName, decodeCookie } from '../../../src/agent/ovs/cookie.js';
import { DesiredMemo } from '../../../src/agent/ovs/desired-memo.js';
import { FlowInterner, LastResult } from '../../../src/agent/ovs/flow-memo.js';
import { FlowIndex, planFlowChanges, type FlowPlan } from '../../../src/agent/ovs/flow-plan.js';
import { formatFlow, toOvsFlow, type Flow } from '../../../src/agent/ovs/flow.js';
import { Pipeline } from '../../../src/agent/ovs/pipeline.js';
import type { OpenFlowBridge } from '../../../src/agent/ovs/bridge.js';
import type { OvsPodPorts, PodPortInfo } from '../../../src/agent/pod-ports.js';
import { NetworkPolicyFeature } from '../../../src/agent/policy/feature.js';
import { ServiceFeature } from '../../../src/agent/service/feature.js';
import type { InternalRule, NodePolicySet } from '../../../src/policy/compute/types.js';
import { NODE, setSlice, slice, snapshot, start, type Inv } from '../../helpers/service-inventory.js';

const pipeline = Pipeline.build();
const toWant = (f: Flow) => toOvsFlow(f, pipeline);
const category = (f: Flow) => categoryName(decodeCookie(f.cookie).category);
const changes = (p: FlowPlan) => [...p.add, ...p.replace, ...p.modify, ...p.delete].map(formatFlow).sort();

/** 100 egress rules × 12 peers: 1,400+ policy flows. */
function policySet(peerOf: (rule: number, k: number) => string = (i, k) => `10.50.${i}.${k + 1}`): NodePolicySet {
  const rules: InternalRule[] = Array.from({ length: 100 }, (_, i) => ({
    id: `acnp:p${i}|egress|0`, policy: { kind: 'AntreaClusterNetworkPolicy', name: `p${i}` }, ruleName: 'r', direction: 'egress', action: i % 2 ? 'Allow' : 'Drop',
    layer: 'antrea', tier: 'application', order: { tierPriority: 250, policyPriority: i, ruleIndex: 0 },
    targets: [{ key: 'shop/a', ip: '10.42.0.7' }], peers: { any: false, ips: Array.from({ length: 12 }, (_, k) => peerOf(i, k)), cidrs: [] },
    services: [{ protocol: 'TCP', port: 1000 + i }], enableLogging: false,
  }));
  return { node: NODE, rules, isolated: { ingress: [], egress: [] } };
}

class Box {
  inv: Inv = start();
  policies = policySet();
  pods: { key: string; ofport: number; mac: string; ip: string }[] = [{ key: 'shop/a', ofport: 12, mac: '02:00:0a:2a:00:07', ip: '10.42.0.7' }];
  /** A feature that builds its (equal) flows as new objects every time, as fqdn and Egress do. */
  readonly plain: FlowFeature = { name: 'plain', flows: () => [{ table: 'L3Forwarding', priority: 150, match: ['ip', 'nw_dst=10.99.0.0/16'], actions: ['drop'], cookie: 0n }] };
  readonly derived: DerivedFlowFeature = { name: 'copy', derivedFlows: (all) => [{ ...all[0]!, priority: 1 }] };
  readonly policy = new NetworkPolicyFeature(() => ({ policies: this.policies, ofports: new Map(this.pods.map((p) => [p.key, p.ofport])) }));
  readonly services = new ServiceFeature({ nodeName: NODE, inventory: () => snapshot(this.inv), gatewayIP: '10.42.0.1', pods: async () => this.pods.map((p) => ({ ...p })) });
  readonly datapath: Datapath;

  constructor() {
    const podPorts = { list: async (): Promise<PodPortInfo[]> => this.pods.map((p) => ({ ...p, portName: `p${p.ofport}`, containerId: p.key })) };
    this.datapath = new Datapath({
      bridge: {} as OpenFlowBridge, pipeline, round: 3, podPorts: podPorts as unknown as OvsPodPorts,
      network: { gateway: { name: 'gw0', ofport: 2, mac: '02:00:0a:2a:00:01', ip: '10.42.0.1', prefixLength: 24 }, tunnel: { name: 'tun0', ofport: 1 } },
      podCIDR: '10.42.0.0/24', serviceCIDR: '10.43.0.0/16',
      peers: () => [{ name: 'box2', podCIDR: '10.42.1.0/24', underlayIP: '192.168.1.12', encap: true }],
      features: [this.policy, this.plain, this.services], derived: [this.derived],
    });
  }
}

/** A memo of `desired` as installed, then the delta of `next` against it, checked against the whole plan. */
function deltaOf(desired: Flow[], next: Flow[]) {
  const installed = new FlowIndex(desired.map(toWant));
  const memo = DesiredMemo.whole(desired, desired.map(toWant), installed, 0);
  // The bridge's own bound: beyond an eighth of the table (at least 256) it plans the whole table.
  const d = memo.delta(next, toWant, Math.max(256, next.length >> 3));
  if (!d) return undefined;
  const part = planFlowChanges(new FlowIndex(d.installed), d.want, { deleteStale: true });
  const whole = planFlowChanges(installed, next.map(toWant), { deleteStale: true });
  assert.deepEqual(changes(part), changes(whole), 'the partial plan makes the whole plan\'s changes');
  return { fresh: d.slots.filter((s) => s.fresh).map((s) => s.fresh!), changed: changes(part) };
}

describe('datapath: Flow objects kept while their inputs stay', () => {
  it('a Service endpoint change beside 1k+ policy flows plans only Service flows (a partial plan)', async () => {
    const box = new Box();
    const first = await box.datapath.desiredFlows();
    assert.ok(first.filter((f) => category(f) === 'NetworkPolicy').length >= 1000, 'at least 1k policy flows');
    const again = await box.datapath.desiredFlows();
    assert.equal(again.filter((f, i) => f !== first[i]).length, 0, 'nothing changed: every object the same');

    setSlice(box.inv, slice('s7', 'a', ['10.42.7.1', '10.42.70.2', '10.42.7.3']));
    const next = await box.datapath.desiredFlows();
    const d = deltaOf(first, next);
    assert.ok(d, 'a partial plan, not the whole table');
    assert.ok(d.fresh.length > 0 && d.fresh.length <= 4, `a few fresh flows (${d.fresh.length})`);
    assert.deepEqual([...new Set(d.fresh.map(category))], ['Service']);
    assert.ok(d.changed.some((l) => l.includes('10.42.70.2')), 'the new endpoint is planned');
  });

  it('a policy change rebuilds the policy flows but plans only the changed rule\'s', async () => {
    const box = new Box();
    const first = await box.datapath.desiredFlows();
    box.policies = policySet((i, k) => (i === 42 && k === 0 ? '10.60.0.1' : `10.50.${i}.${k + 1}`));
    const next = await box.datapath.desiredFlows();
    const d = deltaOf(first, next)!;
    assert.ok(d, 'a partial plan');
    assert.deepEqual(d.fresh.map((f) => formatFlow(toWant(f)).includes('10.60.0.1')), [true]);
  });

  it('a pod added: connectivity and policy (its ofports) rebuilt, only the new pod\'s flows fresh', async () => {
    const box = new Box();
    const first = await box.datapath.desiredFlows();
    box.pods = [...box.pods, { key: 'shop/b', ofport: 13, mac: '02:00:0a:2a:00:08', ip: '10.42.0.8' }];
    const next = await box.datapath.desiredFlows();
    const d = deltaOf(first, next)!;
    assert.ok(d, 'a partial plan');
    const text = d.fresh.map((f) => formatFlow(toWant(f)));
    assert.ok(text.length > 0 && text.every((l) => /10\.42\.0\.8|in_port=13|reg1=0xd|:00:08/.test(l)), text.join('\n'));
  });
});

describe('flow-memo', () => {
  it('LastResult recomputes only when an input differs', () => {
    const m = new LastResult<number[]>();
    const a = {};
    let n = 0;
    const v1 = m.get([a, 1, 'x'], () => [++n]);
    assert.equal(m.get([a, 1, 'x'], () => [++n]), v1);
    assert.notEqual(m.get([{}, 1, 'x'], () => [++n]), v1);
    assert.equal(n, 2);
  });

  it('FlowInterner keeps the object of an equal flow, not of a changed one (any field)', () => {
    const i = new FlowInterner();
    const f = (o: Partial<Flow> = {}): Flow => ({ table: 'Output', priority: 200, match: ['reg1=0x1'], actions: ['output:1'], cookie: 5n, ...o });
    const [a] = i.intern([f()]);
    const out = i.intern([f(), f({ cookie: 6n }), f({ actions: ['drop'] }), f({ idleTimeout: 60 }), f({ match: ['reg1=0x2'] })]);
    assert.equal(out[0], a);
    for (const x of out.slice(1)) assert.notEqual(x, a);
    // Only the last call is remembered.
    i.intern([]);
    assert.notEqual(i.intern([f()])[0], a);
  });
});
