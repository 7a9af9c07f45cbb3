import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { CookieAllocator, decodeCookie, Category } from '../../../src/agent/ovs/cookie.js';
import type { Flow } from '../../../src/agent/ovs/flow.js';
import type { PacketInEvent } from '../../../src/agent/ovs/packet-in.js';
import { Pipeline } from '../../../src/agent/ovs/pipeline.js';
import type { RealizedRule } from '../../../src/agent/policy/flows.js';
import { traceflowFlows, tagMatch } from '../../../src/agent/traceflow/flows.js';
import { observationsOf, type ObservationContext } from '../../../src/agent/traceflow/observations.js';
import { TracePoint, decodeTraceUserdata, encodeTraceUserdata } from '../../../src/agent/traceflow/userdata.js';
import { decodeUserdata } from '../../../src/agent/policy/userdata.js';
import { LearnedKind, withDenyAccounting } from '../../../src/agent/flows/accounting.js';
import type { NodeReported } from '../../../src/api/node-state.js';
import { planTraceflow, PlanError } from '../../../src/controller/traceflow/plan.js';
import { TagAllocator } from '../../../src/controller/traceflow/tags.js';
import { traceflowSpecFromFlags } from '../../../src/cli/traceflow-command.js';
import { printTraceflow } from '../../../src/controller/client/traceflow-print.js';

const pipeline = Pipeline.build();
const cookies = new CookieAllocator(3);

describe('traceflow userdata', () => {
  it('round-trips and is not a policy packet-in', () => {
    const hex = encodeTraceUserdata(42, TracePoint.PolicyDeny);
    const buf = Buffer.from(hex.replace(/\./g, ''), 'hex');
    assert.deepEqual(decodeTraceUserdata(buf), { tag: 42, point: TracePoint.PolicyDeny });
    assert.equal(decodeUserdata(buf), undefined);
    assert.equal(decodeTraceUserdata(Buffer.from([1, 2, 3, 0, 0, 0, 1])), undefined);
  });
});

describe('traceflow flows', () => {
  const deny: Flow = { table: 'IngressMetric', priority: 200, match: ['reg0=0x400/0x400', 'reg3=0x7'], actions: ['drop'], cookie: 1n };
  const reject: Flow = { table: 'EgressMetric', priority: 200, match: ['reg0=0x400/0x400', 'reg3=0x8'], actions: ['controller(userdata=01.02.01.00.00.00.08)'], cookie: 1n };
  const isolation: Flow = { table: 'IngressDefaultRule', priority: 200, match: ['reg1=0x5'], actions: ['drop'], cookie: 1n };
  const allow: Flow = { table: 'IngressMetric', priority: 200, match: ['ct_state=+new', 'ct_label=0x9/0xffffffff', 'ip'], actions: ['goto_table:30'], cookie: 1n };

  it('has no flows without tags', () => {
    assert.deepEqual(traceflowFlows([], [deny], pipeline, cookies), []);
  });

  it('copies each drop flow per tag one priority up, with the tag in the match and a packet-in first', () => {
    const flows = traceflowFlows([{ tag: 5 }, { tag: 9 }], [deny, reject, isolation, allow], pipeline, cookies);
    const ofTag = (t: number) => flows.filter((f) => f.match.includes(tagMatch(t)));
    assert.equal(ofTag(5).length, 5); // 2 Output + 3 copies (the Allow metric flow is not a decision)
    assert.equal(ofTag(9).length, 5);
    const c = ofTag(5).find((f) => f.table === 'IngressMetric')!;
    assert.deepEqual([c.priority, c.match, c.actions], [201, ['ip', 'reg0=0x400/0x400', 'reg3=0x7', 'nw_tos=20'], [`controller(userdata=${encodeTraceUserdata(5, TracePoint.PolicyDeny)})`]]);
    const r = ofTag(5).find((f) => f.table === 'EgressMetric')!;
    assert.deepEqual(r.actions, [`controller(userdata=${encodeTraceUserdata(5, TracePoint.PolicyDeny)})`, 'controller(userdata=01.02.01.00.00.00.08)'], 'the Reject answer still goes out');
    const iso = ofTag(9).find((f) => f.table === 'IngressDefaultRule')!;
    assert.deepEqual(iso.actions, [`controller(userdata=${encodeTraceUserdata(9, TracePoint.Isolation)})`]);
    const out = ofTag(9).find((f) => f.table === 'Output' && f.priority === 210)!;
    assert.ok(out.match.includes('ct_state=-rpl+trk'), 'replies are not traced');
    assert.deepEqual(out.actions[0], 'output:NXM_NX_REG1[]');
    // Per-tag cookies: removing one traceflow leaves the other's flows.
    const owners = new Set(flows.map((f) => f.cookie));
    assert.equal(owners.size, 2);
    for (const o of owners) assert.equal(decodeCookie(o).category, Category.Traceflow);
  });

  it('with the flow exporter\'s deny accounting: each per-protocol variant is copied, the most specific copy on top', () => {
    assert.ok(pipeline.has('DenyAccounting'), 'the default pipeline has the accounting table');
    const variants = [...withDenyAccounting(isolation, pipeline, LearnedKind.IsolatedIngress), ...withDenyAccounting(deny, pipeline, LearnedKind.DeniedByRule, 7)];
    const flows = traceflowFlows([{ tag: 2 }], variants, pipeline, cookies);
    const iso = flows.filter((f) => f.table === 'IngressDefaultRule');
    assert.deepEqual(iso.map((f) => [f.priority, f.match.filter((m) => ['ip', 'tcp', 'udp'].includes(m)).join('+')]), [[202, 'tcp'], [202, 'udp'], [201, 'ip']]);
    for (const f of iso) assert.equal(f.actions[0], `controller(userdata=${encodeTraceUserdata(2, TracePoint.Isolation)})`);
    assert.equal(flows.filter((f) => f.table === 'IngressMetric').length, 3);
  });

  it('live traffic: tags the source Pod\'s matching untagged packets in SpoofGuard; droppedOnly leaves out the delivery copy', () => {
    const flows = traceflowFlows([{ tag: 7, droppedOnly: true, live: { ofport: 4, mac: '02:00:00:00:00:04', ip: '10.42.0.4', filter: { dstIP: '10.42.1.2', protocol: 'tcp', dstPort: 80 } } }], [deny], pipeline, cookies);
    const tagging = flows.find((f) => f.table === 'SpoofGuard')!;
    assert.deepEqual(tagging.match, ['tcp', 'in_port=4', 'dl_src=02:00:00:00:00:04', 'nw_src=10.42.0.4', 'nw_dst=10.42.1.2', 'nw_tos=0', 'tp_dst=80']);
    assert.deepEqual(tagging.actions, ['set_field:7->ip_dscp', pipeline.goto(pipeline.table('SpoofGuard').next!)]);
    assert.equal(flows.some((f) => f.table === 'Output' && f.priority === 210), false);
    assert.ok(flows.some((f) => f.table === 'IngressMetric'));
  });
});

describe('traceflow observations', () => {
  const rule = (conjId: number, table: RealizedRule['table'], name: string) => ({
    conjId, table, priority: 1, cookie: 0n,
    rule: { policy: { kind: 'AntreaClusterNetworkPolicy', name: 'web' }, ruleName: name },
  }) as unknown as RealizedRule;
  const rules = new Map([[7, rule(7, 'AntreaPolicyIngressRule', 'deny-web')], [3, rule(3, 'AntreaPolicyEgressRule', 'allow-out')]]);
  const ctx: ObservationContext = {
    tunnelPort: 1, gatewayPort: 2, podByPort: new Map([[5, 'default/b']]),
    rule: (id) => rules.get(id), tableName: (id) => pipeline.nameOf(id),
  };
  const ev = (over: Partial<PacketInEvent>): PacketInEvent => ({
    tableId: pipeline.id('Output'), cookie: 0n, reason: 'action', totalLen: 98, inPort: 4, metadata: {},
    packet: { protocol: 'icmp', fields: {}, nwTtl: 63, dlDst: 'aa:bb:cc:dd:ee:ff' }, ...over,
  });

  it('a packet a Service load-balanced: an LB observation with the endpoint as translatedDstIP', () => {
    const obs = observationsOf(ev({ metadata: { reg0: '0x200213', reg1: '0x5', reg4: '0x21f90' }, packet: { protocol: 'tcp', fields: {}, nwDst: '10.42.0.5', nwTtl: 63 } }), TracePoint.Output, ctx);
    assert.deepEqual(obs.map((o) => `${o.component}/${o.componentInfo}/${o.action}`), ['SpoofGuard/SpoofGuard/Forwarded', 'LB/EndpointDNAT/Forwarded', 'Routing/L3Forwarding/Forwarded', 'Forwarding/Output/Delivered']);
    assert.equal(obs[1]!.translatedDstIP, '10.42.0.5');
    const plain = observationsOf(ev({ metadata: { reg0: '0x200013', reg1: '0x5', reg4: '0x10000' } }), TracePoint.Output, ctx);
    assert.ok(!plain.some((o) => o.component === 'LB'), 'no LB observation without a chosen endpoint');
  });

  it('sender to the tunnel: SpoofGuard, the allowing egress rule, routing, Forwarded with tunnelDstIP', () => {
    const obs = observationsOf(ev({ metadata: { reg0: '0x200013', reg1: '0x1', reg5: '0x3', tun_dst: '172.31.250.12' } }), TracePoint.Output, ctx);
    assert.deepEqual(obs.map((o) => `${o.component}/${o.componentInfo}/${o.action}`), ['SpoofGuard/SpoofGuard/Forwarded', 'NetworkPolicy/AntreaPolicyEgressRule/Forwarded', 'Routing/L3Forwarding/Forwarded', 'Forwarding/Output/Forwarded']);
    assert.equal(obs[1]!.networkPolicy, 'AntreaClusterNetworkPolicy:web');
    assert.equal(obs.at(-1)!.tunnelDstIP, '172.31.250.12');
  });

  it('receiver: Received from the tunnel, then Rejected by the rule in reg3 (disposition in reg0)', () => {
    const obs = observationsOf(ev({ inPort: 1, tableId: pipeline.id('IngressMetric'), metadata: { reg0: '0x1401', reg3: '0x7' } }), TracePoint.PolicyDeny, ctx);
    assert.deepEqual(obs[0], { component: 'Forwarding', componentInfo: 'Classifier', action: 'Received' });
    assert.deepEqual(obs.at(-1), { component: 'NetworkPolicy', componentInfo: 'IngressMetric', action: 'Rejected', networkPolicy: 'AntreaClusterNetworkPolicy:web', networkPolicyRule: 'deny-web' });
  });

  it('delivery names the pod; the gateway is ForwardedOutOfOverlay', () => {
    assert.equal(observationsOf(ev({ metadata: { reg1: '0x5' } }), TracePoint.Output, ctx).at(-1)!.pod, 'default/b');
    assert.equal(observationsOf(ev({ metadata: { reg1: '0x2' } }), TracePoint.Output, ctx).at(-1)!.action, 'ForwardedOutOfOverlay');
  });
});

describe('traceflow plan (controller)', () => {
  const reports = new Map<string, Pick<NodeReported, 'inventory'>>([
    ['box1', { inventory: { pods: [{ namespace: 'default', name: 'a', ips: ['10.42.0.2'], labels: {} }] } }],
    ['box2', { inventory: { pods: [{ namespace: 'default', name: 'b', ips: ['10.42.1.2'], labels: {} }] } }],
  ]);
  it('sender, receiver and packet from the spec and the reported pods', () => {
    const p = planTraceflow({ source: { namespace: 'default', pod: 'a' }, destination: { namespace: 'default', pod: 'b' }, packet: { ipHeader: { protocol: 6 }, transportHeader: { tcp: { dstPort: 80 } } } }, reports);
    assert.deepEqual([p.sender, p.receivers, p.inject!.protocol, p.inject!.dstIP, p.inject!.dstPort], ['box1', ['box2'], 'tcp', '10.42.1.2', 80]);
    assert.deepEqual(planTraceflow({ source: { namespace: 'default', pod: 'a' }, destination: { ip: '10.42.0.9' } }, reports).receivers, []);
    assert.deepEqual(planTraceflow({ source: { namespace: 'default', pod: 'a' }, destination: { ip: '10.42.1.2' } }, reports).receivers, ['box2']);
  });
  it('live traffic: tag the source Pod\'s packets, filtered by what the spec names', () => {
    const p = planTraceflow({ source: { namespace: 'default', pod: 'a' }, destination: { namespace: 'default', pod: 'b' }, liveTraffic: true, droppedOnly: true }, reports);
    assert.deepEqual([p.inject, p.live, p.droppedOnly, p.receivers], [undefined, { sourcePod: { namespace: 'default', name: 'a' }, dstIP: '10.42.1.2' }, true, ['box2']]);
    assert.throws(() => planTraceflow({ source: { ip: '10.42.0.2' }, destination: { namespace: 'default', pod: 'b' }, liveTraffic: true }, reports), { message: /^source\.ip:/ });
  });
  it('problems name the field', () => {
    assert.throws(() => planTraceflow({ source: { namespace: 'x', pod: 'a' }, destination: { ip: '1.2.3.4' } }, reports), (e: Error) => e instanceof PlanError && /^source\.pod: Pod x\/a is on no node/.test(e.message));
    assert.throws(() => planTraceflow({ source: { namespace: 'default', pod: 'a' }, destination: { ip: '1.2.3.4' }, packet: { ipHeader: { protocol: 47 } } }, reports), { message: /^packet\.ipHeader\.protocol: 47/ });
  });
});

describe('traceflow tags', () => {
  it('hands out 1..63 round robin, never one in use', () => {
    const t = new TagAllocator();
    const got = Array.from({ length: 63 }, () => t.allocate());
    assert.deepEqual(got, Array.from({ length: 63 }, (_, i) => i + 1));
    assert.equal(t.allocate(), undefined);
    t.release(17);
    t.release(3);
    assert.equal(t.allocate(), 3, 'after 63 comes 1, 2 … the first free');
    t.release(3);
    assert.equal(t.allocate(), 17, 'a tag just freed is not the next one handed out');
  });
});

describe('seinectl traceflow', () => {
  it('builds Antrea\'s spec from the flags', () => {
    assert.deepEqual(traceflowSpecFromFlags({ source: 'web/a', destination: '10.0.0.1', protocol: 'udp', port: '53', timeout: '3' }), {
      source: { namespace: 'web', pod: 'a' }, destination: { ip: '10.0.0.1' }, packet: { ipHeader: { protocol: 17 }, transportHeader: { udp: { dstPort: 53 } } }, timeout: 3,
    });
    assert.deepEqual(traceflowSpecFromFlags({ source: 'a', destination: 'svc/web/front', protocol: 'icmp' }).destination, { namespace: 'web', service: 'front' });
  });
  it('bad flags name the flag or the spec field', () => {
    assert.throws(() => traceflowSpecFromFlags({ source: 'a/b/c', destination: 'x', protocol: 'icmp' }), { message: /^--source a\/b\/c: expected NAMESPACE\/POD/ });
    assert.throws(() => traceflowSpecFromFlags({ source: 'a', destination: 'b', protocol: 'icmp', port: '80' }), { message: /^--port: needs --protocol tcp or udp/ });
    assert.throws(() => traceflowSpecFromFlags({ source: 'a', destination: 'b', protocol: 'tcp', port: '70000' }), { message: /^--port 70000/ });
    assert.throws(() => traceflowSpecFromFlags({ source: 'a', destination: 'b', protocol: 'tcp', timeout: '0' }), { message: /spec\.timeout/ });
    assert.throws(() => traceflowSpecFromFlags({ source: 'a', destination: 'b', droppedOnly: true }), { message: /^--dropped-only: needs --live/ });
  });
  it('--live without --protocol matches any packet', () => {
    assert.deepEqual(traceflowSpecFromFlags({ source: 'a', destination: 'b', live: true, droppedOnly: true }), {
      source: { namespace: 'default', pod: 'a' }, destination: { namespace: 'default', pod: 'b' }, liveTraffic: true, droppedOnly: true,
    });
  });
  it('prints the hops as a path and as a graph', () => {
    const tf = {
      metadata: { name: 'tf1' }, spec: { source: { namespace: 'default', pod: 'a' }, destination: { namespace: 'default', pod: 'b' } },
      status: { phase: 'Succeeded' as const, dataplaneTag: 3, results: [
        { node: 'box1', role: 'Sender' as const, observations: [{ component: 'SpoofGuard' as const, action: 'Forwarded' as const }, { component: 'Forwarding' as const, componentInfo: 'Output', action: 'Forwarded' as const, tunnelDstIP: '172.31.250.12' }] },
        { node: 'box2', role: 'Receiver' as const, observations: [{ component: 'NetworkPolicy' as const, componentInfo: 'IngressMetric', action: 'Dropped' as const, networkPolicy: 'AntreaClusterNetworkPolicy:web', networkPolicyRule: 'deny' }] },
      ] },
    };
    const text = printTraceflow(tf, 'table');
    assert.match(text, /^tf1: default\/a -> default\/b {2}phase Succeeded {2}tag 3\n/);
    assert.match(text, /2 +box1 +Sender +Forwarding +Output +Forwarded +tunnelDstIP=172\.31\.250\.12/);
    assert.match(text, /3 +box2 +Receiver +NetworkPolicy +IngressMetric +Dropped +policy=AntreaClusterNetworkPolicy:web rule=deny/);
    const dot = printTraceflow(tf, 'dot');
    assert.match(dot, /^digraph "tf1" \{/);
    assert.match(dot, /subgraph cluster_1 \{\n {4}label="box2 \(Receiver\)";/);
    assert.match(dot, /o2 \[label="NetworkPolicy \/ IngressMetric\\nDropped\\npolicy=AntreaClusterNetworkPolicy:web rule=deny", fillcolor="#f4cccc"\];/);
    assert.match(dot, /o1 -> o2;/);
    const svg = printTraceflow(tf, 'svg');
    const check = spawnSync('/usr/bin/python3', ['-c', 'import sys,xml.etree.ElementTree as E; r=E.fromstring(sys.stdin.read()); print(len(r.findall("{http://www.w3.org/2000/svg}line")))'], { input: svg, encoding: 'utf8' });
    assert.equal(check.status, 0, `not well-formed XML: ${check.stderr}`);
    assert.equal(check.stdout.trim(), '1', 'one straight arrow between the two hops of box1 (the tunnel is a path)');
    assert.match(svg, />box2 \(Receiver\)</);
    // The tunnel edge joins the facing sides: box1's last hop's right side to box2's first hop's left side.
    const hops = [...svg.matchAll(/<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)" rx="6"/g)].map((m) => m.slice(1, 5).map(Number) as [number, number, number, number]);
    assert.equal(hops.length, 3);
    const [, senderLast, receiverFirst] = hops as [unknown, [number, number, number, number], [number, number, number, number]];
    const tunnels = [...svg.matchAll(/<path class="tunnel" d="M([\d.]+),([\d.]+) H([\d.]+) V([\d.]+) H([\d.]+)"/g)];
    assert.equal(tunnels.length, 1, 'one tunnel edge');
    const [x1, y1, turn, y2, x2] = tunnels[0]!.slice(1, 6).map(Number) as [number, number, number, number, number];
    assert.equal(x1, senderLast[0] + senderLast[2], 'starts on the sender hop\'s right side');
    assert.ok(y1 > senderLast[1] && y1 < senderLast[1] + senderLast[3], `starts within that side's height (${y1})`);
    assert.equal(x2, receiverFirst[0], 'ends on the receiver hop\'s left side');
    assert.ok(y2 > receiverFirst[1] && y2 < receiverFirst[1] + receiverFirst[3], `ends within that side's height (${y2})`);
    assert.ok(turn > x1 && turn < x2, 'turns in the gap between the columns, crossing neither box');
    assert.match(svg, />box2 \(Receiver\)</);
    assert.match(svg, /fill="#f4cccc" stroke="#c00"/);
    assert.match(svg, />tf1: default\/a → default\/b</);
  });
});
