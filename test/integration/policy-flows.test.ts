// Policy compute + policy flows against a real private OVS: the pipeline's default flows, pod
// connectivity for two local pods and the policy flows go in through OpenFlowBridge.reconcile;
// decisions are checked with ofproto/trace (new connections unless said otherwise).
import assert from 'node:assert/strict';
import { run } from '../../src/lib/exec.js';
import { bridgeMgmt, startOvsInstance, stopOvsInstance, type OvsInstance } from '../../src/lab/ovs-instance.js';
import { OvsdbClient } from '../../src/agent/ovs/ovsdb.js';
import { VSwitch } from '../../src/agent/ovs/vswitch.js';
import { Pipeline } from '../../src/agent/ovs/pipeline.js';
import { defaultFlows } from '../../src/agent/ovs/default-flows.js';
import { OpenFlowBridge } from '../../src/agent/ovs/bridge.js';
import { CookieAllocator } from '../../src/agent/ovs/cookie.js';
import { connectivityFlows, mergeFlows } from '../../src/agent/connectivity/flows.js';
import { policyFlows } from '../../src/agent/policy/flows.js';
import { computeNodePolicies } from '../../src/policy/compute/compute.js';
import { requirePrereqs } from '../helpers/prereqs.js';
import { acnp, inventory, knp, pod } from '../unit/policy/fixtures.js';

const pipeline = Pipeline.build();
const gw = { ofport: 2, mac: '02:00:00:00:00:01', ip: '10.10.0.1' };
const A = { key: 'prod/a', ofport: 3, mac: '02:00:00:00:00:03', ip: '10.10.0.3' };
const B = { key: 'prod/b', ofport: 4, mac: '02:00:00:00:00:04', ip: '10.10.0.4' };

// ofproto/trace prints one "Datapath actions" line per recirculation (each ct()); the last one decides.
const lastActions = (trace: string) => [...trace.matchAll(/Datapath actions: (.*)/g)].at(-1)?.[1] ?? '';

const policies = [
  acnp('drop-22', { tier: 'securityops', priority: 1, appliedTo: [{ podSelector: { matchLabels: { app: 'b' } } }], ingress: [{ action: 'Drop', from: [{ podSelector: { matchLabels: { app: 'a' } } }], ports: [{ port: 22 }] }] }),
  acnp('reject-23', { priority: 5, appliedTo: [{ podSelector: { matchLabels: { app: 'b' } } }], ingress: [{ action: 'Reject', ports: [{ port: 23 }] }] }),
  acnp('pass-80', { tier: 'securityops', priority: 2, appliedTo: [{ podSelector: { matchLabels: { app: 'b' } } }], ingress: [{ action: 'Pass', ports: [{ port: 80 }, { port: 81 }] }] }),
  acnp('drop-80', { priority: 1, appliedTo: [{ podSelector: { matchLabels: { app: 'b' } } }], ingress: [{ action: 'Drop', ports: [{ port: 80 }, { port: 81 }] }] }),
  acnp('allow-9001', { priority: 9, appliedTo: [{ podSelector: { matchLabels: { app: 'b' } } }], ingress: [{ action: 'Allow', ports: [{ port: 9001 }] }] }),
  acnp('baseline-9002', { tier: 'baseline', priority: 1, appliedTo: [{ podSelector: { matchLabels: { app: 'b' } } }], ingress: [{ action: 'Allow', ports: [{ port: 9002 }] }] }),
  acnp('baseline-drop-a', { tier: 'baseline', priority: 1, appliedTo: [{ podSelector: { matchLabels: { app: 'a' } } }], ingress: [{ action: 'Drop', ports: [{ port: 7000 }] }] }),
  acnp('egress-dns', { priority: 3, appliedTo: [{ podSelector: { matchLabels: { app: 'a' } } }], egress: [{ action: 'Drop', to: [{ ipBlock: { cidr: '10.10.0.0/24', except: ['10.10.0.128/25'] } }], ports: [{ protocol: 'UDP', port: 53 }] }] }),
  knp('prod', 'b-ingress', { podSelector: { matchLabels: { app: 'b' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'a' } } }], ports: [{ port: 80 }, { port: 8080 }] }] }),
];

describe('policy flows (real OVS)', function () {
  this.timeout(60_000);
  const netns = `seine-polt-${process.pid}`;
  let inst: OvsInstance | undefined;
  let client: OvsdbClient | undefined;

  async function trace(flow: string, ct = 'trk,new'): Promise<{ text: string; verdict: 'delivered' | 'dropped' | 'controller' }> {
    const { stdout } = await run('ovs-appctl', ['-t', inst!.vswitchdCtl, 'ofproto/trace', 'br-int', flow, '--ct-next', ct, '--ct-next', 'trk,new', '--ct-next', 'trk,new'], { env: inst!.env });
    const dp = lastActions(stdout);
    const verdict = /controller|userspace/.test(dp) ? 'controller' : dp === 'drop' || dp === '' ? 'dropped' : 'delivered';
    if (verdict === 'delivered') assert.match(stdout, /output port is 4|output:4/, 'delivered to pod b');
    return { text: stdout, verdict };
  }
  const tcp = (port: number, src = A) => `in_port=${src.ofport},tcp,dl_src=${src.mac},dl_dst=${B.mac},nw_src=${src.ip},nw_dst=${B.ip},nw_ttl=64,tp_src=40000,tp_dst=${port}`;

  before(async () => {
    requirePrereqs('root', 'ovs', 'ip');
    await run('ip', ['netns', 'add', netns]);
    inst = await startOvsInstance(`/tmp/seine-policy-test-${process.pid}`, netns);
    client = await OvsdbClient.connect({ remote: inst.dbRemote });
    const vs = new VSwitch(client);
    await vs.ensureBridge('br-int', { datapathType: 'netdev', failMode: 'secure', protocols: ['OpenFlow15'] });
    await vs.ensurePort('br-int', 'antrea-gw0', { type: 'internal', ofportRequest: gw.ofport });
    await vs.ensurePort('br-int', 'pod-a', { type: 'internal', ofportRequest: A.ofport });
    await vs.ensurePort('br-int', 'pod-b', { type: 'internal', ofportRequest: B.ofport });
    for (const p of ['antrea-gw0', 'pod-a', 'pod-b']) await vs.waitOfport(p);

    const inv = inventory([pod('prod', 'a', { app: 'a' }, A.ip, 'n1'), pod('prod', 'b', { app: 'b' }, B.ip, 'n1')], {}, ['n1']);
    const computed = computeNodePolicies({ policies }, inv);
    assert.deepEqual(computed.errors, []);
    const cookies = new CookieAllocator(1);
    const connectivity = connectivityFlows({ podCIDR: '10.10.0.0/24', serviceCIDR: '10.96.0.0/16', gateway: gw, pods: [A, B], peers: [] }, pipeline, cookies);
    const policy = policyFlows({ policies: computed.nodes.get('n1')!, ofports: new Map([[A.key, A.ofport], [B.key, B.ofport]]) }, pipeline, cookies);
    assert.deepEqual(policy.skipped, []);
    const bridge = new OpenFlowBridge({ mgmt: bridgeMgmt(inst, 'br-int'), tables: pipeline });
    const result = await bridge.reconcile(mergeFlows(defaultFlows(pipeline, 1), [...connectivity, ...policy.flows]));
    assert.equal(result.deleted, 0);
    // A second reconcile of the same flows changes nothing: the flows are written as OVS keeps them (after canonicalisation).
    const again = await bridge.reconcile(mergeFlows(defaultFlows(pipeline, 1), [...connectivity, ...policy.flows]));
    assert.deepEqual([again.added, again.modified, again.deleted], [0, 0, 0]);
  });

  after(async () => {
    await client?.close();
    if (inst) await stopOvsInstance(inst);
    await run('ip', ['netns', 'del', netns], { allowFailure: true });
  });

  it('K8s allow: TCP 8080 from a reaches b', async () => {
    assert.equal((await trace(tcp(8080))).verdict, 'delivered');
  });

  it('K8s isolation: TCP 9000 (no rule allows it) is dropped', async () => {
    assert.equal((await trace(tcp(9000))).verdict, 'dropped');
  });

  it('a higher-tier Antrea Drop wins over the K8s allow it shadows (securityops drop 22)', async () => {
    assert.equal((await trace(tcp(22))).verdict, 'dropped');
  });

  it('Reject sends the packet to the agent', async () => {
    const t = await trace(tcp(23));
    assert.equal(t.verdict, 'controller', t.text);
  });

  it('Pass skips the lower-tier Antrea Drop and lets K8s decide: 80 allowed by K8s, 81 isolated', async () => {
    assert.equal((await trace(tcp(80))).verdict, 'delivered');
    assert.equal((await trace(tcp(81))).verdict, 'dropped');
  });

  it('an Antrea Allow overrides K8s isolation (9001), a baseline Allow cannot (9002)', async () => {
    assert.equal((await trace(tcp(9001))).verdict, 'delivered');
    assert.equal((await trace(tcp(9002))).verdict, 'dropped');
  });

  it('baseline Drop applies to a pod no K8s policy isolates', async () => {
    const toA = `in_port=${B.ofport},tcp,dl_src=${B.mac},dl_dst=${A.mac},nw_src=${B.ip},nw_dst=${A.ip},nw_ttl=64,tp_src=40000`;
    const d = async (port: number) => {
      const { stdout } = await run('ovs-appctl', ['-t', inst!.vswitchdCtl, 'ofproto/trace', 'br-int', `${toA},tp_dst=${port}`, '--ct-next', 'trk,new', '--ct-next', 'trk,new', '--ct-next', 'trk,new'], { env: inst!.env });
      return lastActions(stdout);
    };
    assert.equal(await d(7000), 'drop');
    assert.notEqual(await d(7001), 'drop');
  });

  it('egress Drop to an ipBlock minus except: UDP 53 to 10.10.0.4 dropped at the source', async () => {
    const udp = (dst: string) => `in_port=${A.ofport},udp,dl_src=${A.mac},dl_dst=${B.mac},nw_src=${A.ip},nw_dst=${dst},nw_ttl=64,udp_src=40000,udp_dst=53`;
    const t = await trace(udp(B.ip));
    assert.equal(t.verdict, 'dropped');
    assert.match(t.text, new RegExp(`\\n${pipeline.id("EgressMetric")}\\. reg0=0x400/0x400`), "dropped by the deny flow of the metric table");
  });

  it('established connections bypass the rules (Antrea: policy decides new connections only)', async () => {
    assert.equal((await trace(tcp(22), 'trk,est')).verdict, 'delivered');
  });
});
