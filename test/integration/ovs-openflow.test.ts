// The OpenFlow layer against a real private OVS (userspace datapath): the pipeline's default
// flows, diff-only reconcile (counters of untouched flows survive), canonicalisation of flows
// not written the way OVS prints them, round-aware restart without churn, atomic bundles,
// and packet-out → packet-in through the pipeline.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { bridgeMgmt, type OvsInstance } from '../../src/lab/ovs-instance.js';
import { OvsdbClient } from '../../src/agent/ovs/ovsdb.js';
import { VSwitch } from '../../src/agent/ovs/vswitch.js';
import { Pipeline } from '../../src/agent/ovs/pipeline.js';
import { defaultFlows } from '../../src/agent/ovs/default-flows.js';
import { OpenFlowBridge } from '../../src/agent/ovs/bridge.js';
import { CookieAllocator, categoryFilter, decodeCookie } from '../../src/agent/ovs/cookie.js';
import { formatFlow, toOvsFlow, type Flow, type OvsFlow } from '../../src/agent/ovs/flow.js';
import { FlowRound, reconcileRound } from '../../src/agent/ovs/round.js';
import { FlowRejectedError, FlowSyntaxError } from '../../src/agent/ovs/canonical.js';
import { PacketInMonitor, type PacketInEvent } from '../../src/agent/ovs/packet-in.js';
import { icmpEchoFrame } from '../../src/agent/ovs/frame.js';
import { requirePrereqs } from '../helpers/prereqs.js';
import { startPrivateOvs, stopPrivateOvs } from '../helpers/private-ovs.js';

const pipeline = Pipeline.build();
const frame = (dscp = 0, src = '10.10.0.2') =>
  icmpEchoFrame({ srcMac: '02:00:00:00:00:02', dstMac: '02:00:00:00:00:03', srcIp: src, dstIp: '10.10.0.3', dscp }).toString('hex');

/** Pod connectivity flows for two pods, partly written in non-canonical form on purpose. */
function podFlows(round: number): Flow[] {
  const c = new CookieAllocator(round);
  return [
    ...defaultFlows(pipeline, round),
    // `load:` and `dl_type=0x0800` are not how OVS prints them (set_field:, ip).
    { table: 'Classifier', priority: 190, match: ['in_port=1'], actions: ['load:0x3->NXM_NX_REG0[0..3]', pipeline.goto('SpoofGuard')], cookie: c.cookie('PodConnectivity', 'pod-a') },
    { table: 'Classifier', priority: 190, match: ['in_port=2'], actions: ['set_field:0x3/0xf->reg0', pipeline.goto('SpoofGuard')], cookie: c.cookie('PodConnectivity', 'pod-b') },
    { table: 'SpoofGuard', priority: 200, match: ['ip', 'in_port=1', 'nw_src=10.10.0.2'], actions: [pipeline.goto('UnSNAT')], cookie: c.cookie('PodConnectivity', 'pod-a') },
    { table: 'SpoofGuard', priority: 200, match: ['dl_type=0x0800', 'in_port=2', 'nw_src=10.10.0.3'], actions: [pipeline.goto('UnSNAT')], cookie: c.cookie('PodConnectivity', 'pod-b') },
  ];
}

function policyFlows(round: number, sources: number): Flow[] {
  const c = new CookieAllocator(round).cookie('NetworkPolicy', 'acnp/web/ingress-0');
  const flows: Flow[] = [];
  for (let i = 1; i <= sources; i++) flows.push({ table: 'AntreaPolicyIngressRule', priority: 14000, match: ['ip', `nw_src=10.20.0.${i}`], actions: ['conjunction(7,1/2)'], cookie: c });
  flows.push({ table: 'AntreaPolicyIngressRule', priority: 14000, match: ['ip', 'nw_dst=10.10.0.3'], actions: ['conjunction(7,2/2)'], cookie: c });
  flows.push({ table: 'AntreaPolicyIngressRule', priority: 14000, match: ['conj_id=7', 'ip'], actions: ['load:0x7->NXM_NX_REG3[]', pipeline.goto('IngressMetric')], cookie: c });
  return flows;
}

const zero = { added: 0, modified: 0, deleted: 0 };
const changes = (r: { added: number; modified: number; deleted: number }) => ({ added: r.added, modified: r.modified, deleted: r.deleted });

describe('OpenFlow layer (real OVS)', function () {
  this.timeout(60_000);
  let inst: OvsInstance | undefined;
  let client: OvsdbClient | undefined;
  let bridge: OpenFlowBridge;
  let monitor: PacketInMonitor | undefined;
  const newBridge = () => new OpenFlowBridge({ mgmt: bridgeMgmt(inst!, 'br-int'), tables: pipeline });
  const find = (flows: OvsFlow[], table: Parameters<typeof pipeline.id>[0], priority: number, match: string) =>
    flows.find((f) => f.tableId === pipeline.id(table) && f.priority === priority && f.match === match);
  const inject = (n: number, inPort = 1, dscp = 0) =>
    Promise.all(Array.from({ length: n }, () => bridge.packetOut({ inPort, packetHex: frame(dscp, inPort === 1 ? '10.10.0.2' : '10.10.0.3'), actions: ['resubmit(,0)'] })));

  before(async () => {
    requirePrereqs('root', 'ovs', 'ip');
    inst = await startPrivateOvs('of');
    client = await OvsdbClient.connect({ remote: inst.dbRemote });
    const vs = new VSwitch(client);
    await vs.ensureBridge('br-int', { datapathType: 'netdev', failMode: 'secure', protocols: ['OpenFlow15'] });
    await vs.ensurePort('br-int', 'pod-a', { type: 'internal', ofportRequest: 1 });
    await vs.ensurePort('br-int', 'pod-b', { type: 'internal', ofportRequest: 2 });
    for (const p of ['br-int', 'pod-a', 'pod-b']) await vs.waitOfport(p);
    bridge = newBridge();
  });

  after(async () => {
    await monitor?.stop();
    await client?.close();
    if (inst) await stopPrivateOvs(inst);
  });

  it("installs the pipeline's default flows; reconciling again changes nothing", async () => {
    assert.equal((await bridge.dumpFlows()).length, 0, 'fail_mode=secure bridge starts empty');
    const desired = defaultFlows(pipeline, 1);
    const res = await bridge.reconcile(desired);
    assert.deepEqual(changes(res), { added: pipeline.tables.length + 2, modified: 0, deleted: 0 });
    const dumped = (await bridge.dumpFlowsText()).split('\n').map((l) => l.trim()).filter(Boolean).sort();
    assert.deepEqual(dumped, desired.map((f) => formatFlow(toOvsFlow(f, pipeline))).sort(), 'written exactly as OVS prints them');
    const again = await bridge.reconcile(desired);
    assert.deepEqual(changes(again), zero);
    assert.equal(again.unchanged, desired.length);
  });

  it('passes a packet through the empty policy tables to Output', async () => {
    await bridge.reconcile(podFlows(1));
    await inject(2);
    const flows = await bridge.dumpFlows({ stats: true });
    for (const t of ['AntreaPolicyEgressRule', 'EgressRule', 'IngressRule', 'IngressDefaultRule', 'ConntrackCommit', 'Output'] as const) {
      assert.equal(find(flows, t, 0, '')!.nPackets, 2, `${t} miss flow counted the packets`);
    }
  });

  it('learns the canonical form of flows not written the way OVS prints them: re-applying is a no-op', async () => {
    assert.deepEqual(changes(await bridge.reconcile(podFlows(1))), zero);
    // A fresh bridge object (as after an agent restart) has no cache yet and must still see no change.
    assert.deepEqual(changes(await newBridge().reconcile(podFlows(1))), zero);
    const installed = await bridge.dumpFlows();
    assert.equal(find(installed, 'Classifier', 190, 'in_port=1')!.actions, `set_field:0x3/0xf->reg0,goto_table:${pipeline.id('SpoofGuard')}`);
    assert.ok(find(installed, 'SpoofGuard', 200, 'ip,in_port=2,nw_src=10.10.0.3'));
  });

  it('applies only the difference of a modified set: counters of untouched flows survive', async () => {
    await bridge.reconcile([...podFlows(1), ...policyFlows(1, 3)]);
    await inject(3, 1);
    await inject(1, 2);
    const before = await bridge.dumpFlows({ stats: true });
    assert.equal(find(before, 'Classifier', 190, 'in_port=1')!.nPackets, 3 + 2);
    const desired = [...podFlows(1), ...policyFlows(1, 4)]
      .filter((f) => !(f.table === 'AntreaPolicyIngressRule' && f.match.includes('nw_src=10.20.0.1')))
      .map((f) => (f.table === 'Classifier' && f.match[0] === 'in_port=2' ? { ...f, actions: ['set_field:0x3/0xf->reg0', 'set_field:0x1->reg5', pipeline.goto('SpoofGuard')] } : f));
    const res = await bridge.reconcile(desired);
    assert.deepEqual(changes(res), { added: 1, modified: 1, deleted: 1 });
    const after = await bridge.dumpFlows({ stats: true });
    assert.equal(find(after, 'Classifier', 190, 'in_port=1')!.nPackets, 5, 'untouched flow kept its counter (not re-added)');
    assert.equal(find(after, 'SpoofGuard', 200, 'ip,in_port=1,nw_src=10.10.0.2')!.nPackets, 5);
    const modified = find(after, 'Classifier', 190, 'in_port=2')!;
    assert.equal(modified.nPackets, 1, 'modify_strict keeps the counter too');
    assert.match(modified.actions, /set_field:0x1->reg5/);
    assert.ok(!find(after, 'AntreaPolicyIngressRule', 14000, 'ip,nw_src=10.20.0.1'));
    assert.ok(find(after, 'AntreaPolicyIngressRule', 14000, 'ip,nw_src=10.20.0.4'));
    assert.deepEqual(changes(await bridge.reconcile(desired)), zero);
  });

  it('reconciles one module by cookie scope without touching the others', async () => {
    const total = (await bridge.dumpFlows()).length;
    const res = await bridge.reconcile(policyFlows(1, 2), { scope: categoryFilter('NetworkPolicy') });
    assert.deepEqual(changes(res), { added: 1, modified: 0, deleted: 2 });
    assert.equal((await bridge.dumpFlows()).length, total - 1);
    assert.equal((await bridge.dumpFlows({ cookie: categoryFilter('NetworkPolicy') })).length, 4);
  });

  it('after a restart (new round) re-applies the same state with zero churn: dump byte-identical, counters kept', async () => {
    const state = (round: number) => [...podFlows(round), ...policyFlows(round, 2)];
    await bridge.reconcile(state(1));
    const text = await bridge.dumpFlowsText();
    const hits = find(await bridge.dumpFlows({ stats: true }), 'Classifier', 190, 'in_port=1')!.nPackets;
    const res = await reconcileRound(newBridge(), state(2), 2);
    assert.deepEqual(changes(res), zero);
    assert.equal(res.adopted, state(2).length);
    assert.equal(await bridge.dumpFlowsText(), text, 'dump-flows --no-stats byte-identical');
    assert.equal(find(await bridge.dumpFlows({ stats: true }), 'Classifier', 190, 'in_port=1')!.nPackets, hits);
  });

  it('installs a new round module by module, forwarding throughout, then removes only the stale flows', async () => {
    const outputMiss = async () => find(await bridge.dumpFlows({ stats: true }), 'Output', 0, '')!.nPackets!;
    const before = await outputMiss();
    const round = await FlowRound.begin(newBridge(), 3);
    const traffic = inject(20);
    const pod = podFlows(3).map((f) => (f.table === 'SpoofGuard' && f.match.includes('in_port=2') ? { ...f, actions: [pipeline.goto('ConntrackZone')] } : f));
    const r1 = await round.install(pod);
    assert.deepEqual(changes(r1), { added: 0, modified: 1, deleted: 0 });
    const r2 = await round.install(policyFlows(3, 1));
    assert.deepEqual(changes(r2), zero);
    await traffic;
    assert.deepEqual(await round.finish(), { deleted: 1 }, 'the policy source no longer desired');
    assert.equal((await outputMiss()) - before, 20, 'every injected packet made it through the pipeline');
    const flows = await bridge.dumpFlows();
    const changed = find(flows, 'SpoofGuard', 200, 'ip,in_port=2,nw_src=10.10.0.3')!;
    assert.equal(decodeCookie(changed.cookie).round, 3, 'a rewritten flow carries the new round');
    assert.equal(decodeCookie(find(flows, 'Classifier', 190, 'in_port=1')!.cookie).round, 1, 'an adopted flow keeps its cookie');
    assert.ok(!find(flows, 'AntreaPolicyIngressRule', 14000, 'ip,nw_src=10.20.0.2'));
  });

  it('applies a bundle atomically: a flow the switch refuses leaves the table as it was', async () => {
    const text = await bridge.dumpFlowsText();
    const c = new CookieAllocator(3).cookie('Service', 'svc');
    const bad: Flow[] = [
      { table: 'ServiceLB', priority: 200, match: ['tcp', 'nw_dst=10.96.0.1', 'tp_dst=443'], actions: ['group:99'], cookie: c }, // no such group
      { table: 'ServiceLB', priority: 200, match: ['tcp', 'nw_dst=10.96.0.2', 'tp_dst=443'], actions: [pipeline.goto('EndpointDNAT')], cookie: c },
    ];
    await assert.rejects(bridge.reconcile(bad, { scope: categoryFilter('Service') }), (e: unknown) =>
      e instanceof FlowRejectedError && e.ofpError === 'OFPBAC_BAD_OUT_GROUP' && /actions=group:99/.test(e.flow));
    assert.equal(await bridge.dumpFlowsText(), text);
    const typo: Flow = { table: 'ServiceLB', priority: 200, match: ['tcp', 'bogus_field=1'], actions: ['drop'], cookie: c };
    await assert.rejects(bridge.reconcile([typo], { scope: categoryFilter('Service') }), (e: unknown) => e instanceof FlowSyntaxError && /bogus_field/.test(e.message));
    assert.equal(await bridge.dumpFlowsText(), text);
  });

  it('turns a packet-out of a hand-built ICMP frame into a parsed packet-in', async () => {
    monitor = new PacketInMonitor({ mgmt: bridgeMgmt(inst!, 'br-int') });
    await monitor.start();
    const cookie = new CookieAllocator(3).cookie('Traceflow', 'tf-1');
    const tf: Flow = {
      table: 'SpoofGuard', priority: 250, match: ['ip', 'in_port=1', 'ip_dscp=1'],
      actions: ['controller(reason=action,userdata=0a.0b.0c,max_len=128)', pipeline.goto('UnSNAT')], cookie,
    };
    assert.equal((await bridge.reconcile([tf], { scope: categoryFilter('Traceflow') })).added, 1);
    const next = () => once(monitor!, 'packetIn') as Promise<[PacketInEvent]>;
    let got = next();
    await bridge.packetOut({ inPort: 1, packetHex: frame(1), actions: ['resubmit(,0)'] });
    let [ev] = await got;
    assert.equal(ev.tableId, pipeline.id('SpoofGuard'));
    assert.equal(ev.cookie, cookie);
    assert.equal(ev.reason, 'action');
    assert.equal(ev.inPort, 1);
    assert.deepEqual(ev.userdata, Buffer.from([0x0a, 0x0b, 0x0c]));
    assert.equal(ev.packet.protocol, 'icmp');
    assert.deepEqual([ev.packet.nwSrc, ev.packet.nwDst, ev.packet.dscp, ev.packet.icmpType], ['10.10.0.2', '10.10.0.3', 1, 8]);
    assert.deepEqual(ev.metadata, { reg0: '0x3' }, 'the Classifier mark was already loaded');

    // A second packet-in on the same (shared, long-lived) connection; surviving a lost
    // connection is tested in openflow-connection.test.ts (vswitchd restarted).
    got = next();
    await bridge.packetOut({ inPort: 1, packetHex: frame(1), actions: ['resubmit(,0)'] });
    [ev] = await got;
    assert.equal(ev.cookie, cookie);
    await monitor.stop();
    monitor = undefined;
  });

  it('as sole writer plans against its mirror after one dump, and dumps again after a failed bundle', async () => {
    const agent = new OpenFlowBridge({ mgmt: bridgeMgmt(inst!, 'br-int'), tables: pipeline, soleWriter: true });
    let dumps = 0;
    const dumpFlows = agent.dumpFlows.bind(agent);
    agent.dumpFlows = (o) => (dumps++, dumpFlows(o));
    const same = async () => assert.deepEqual(changes(await newBridge().reconcile(state)), zero, 'a dumping bridge finds nothing to change');
    let state = [...podFlows(4), ...policyFlows(4, 3)];
    await agent.reconcile(state);
    assert.equal(dumps, 1);
    assert.ok(agent.mirrored);
    // Changes of every kind, in the authored (non-canonical) text of podFlows, against the mirror only.
    state = [...podFlows(4), ...policyFlows(4, 5)].filter((f) => !(f.table === 'AntreaPolicyIngressRule' && f.match.includes('nw_src=10.20.0.1')));
    assert.deepEqual(changes(await agent.reconcile(state)), { added: 2, modified: 0, deleted: 1 });
    assert.deepEqual(changes(await agent.reconcile(state)), zero);
    // The same flow written the canonical way instead of the authored one: still no change.
    state = state.map((f) => (f.match.includes('dl_type=0x0800') ? { ...f, match: ['ip', 'in_port=2', 'nw_src=10.10.0.3'] } : f));
    assert.deepEqual(changes(await agent.reconcile(state)), zero);
    state = state.filter((f) => !(f.table === 'SpoofGuard' && f.match.includes('in_port=2')));
    assert.deepEqual(changes(await agent.reconcile(state)), { added: 0, modified: 0, deleted: 1 });
    // A flow the mirror holds in authored text (never checked against OVS), then written the
    // canonical way: one switch flow, so no change, and above all no delete of it.
    const loose = (match: string[]): Flow => ({ table: 'AntreaPolicyIngressRule', priority: 14000, match, actions: ['conjunction(7,1/2)'], cookie: new CookieAllocator(4).cookie('NetworkPolicy', 'acnp/web/ingress-0') });
    state = [...state, loose(['dl_type=0x0800', 'nw_src=10.30.0.1'])];
    assert.deepEqual(changes(await agent.reconcile(state)), { added: 1, modified: 0, deleted: 0 });
    state = [...state.slice(0, -1), loose(['ip', 'nw_src=10.30.0.1']), loose(['ip', 'nw_src=10.30.0.2'])];
    assert.deepEqual(changes(await agent.reconcile(state)), { added: 1, modified: 0, deleted: 0 });
    assert.ok(find(await agent.dumpFlows(), 'AntreaPolicyIngressRule', 14000, 'ip,nw_src=10.30.0.1'));
    dumps--;
    assert.equal(dumps, 1, 'no dump after the first');
    await same();
    const text = await agent.dumpFlowsText();
    dumps = 0;
    const bad: Flow = { table: 'ServiceLB', priority: 200, match: ['tcp', 'nw_dst=10.96.0.1', 'tp_dst=443'], actions: ['group:99'], cookie: new CookieAllocator(4).cookie('Service', 'svc') };
    await assert.rejects(agent.reconcile([...state, bad]), FlowRejectedError);
    assert.ok(!agent.mirrored, 'a refused bundle drops the mirror');
    assert.equal(await agent.dumpFlowsText(), text);
    dumps = 0;
    assert.deepEqual(changes(await agent.reconcile(state)), zero);
    assert.equal(dumps, 1, 'the next reconcile dumps again');
    assert.ok(agent.mirrored);
    // vswitchd (or the bridge) re-created: the table starts empty and the mirror must notice.
    const vs = new VSwitch(client!);
    await vs.deleteBridge('br-int');
    await vs.ensureBridge('br-int', { datapathType: 'netdev', failMode: 'secure', protocols: ['OpenFlow15'] });
    await vs.waitOfport('br-int');
    assert.equal((await agent.reconcile(state)).added, new Set(state.map((f) => `${f.table}|${f.priority}|${f.match.join(',')}`)).size);
    await same();
  });
});
