// Service planning and flow/group building without a switch: which endpoints each Service
// port gets (traffic policies, terminating endpoints, named ports), the groups and flows they
// become (affinity learn, EndpointDNAT once per endpoint, hairpin per pod), the group diff and
// id allocation, and the NodePort host rules.
import assert from 'node:assert/strict';
import { CookieAllocator } from '../../../src/agent/ovs/cookie.js';
import { allocateGroupIds, groupIdOf, planGroupChanges, parseDumpGroups } from '../../../src/agent/ovs/group.js';
import { Pipeline } from '../../../src/agent/ovs/pipeline.js';
import { groupKeys, serviceFlows } from '../../../src/agent/service/flows.js';
import { nodePortRules } from '../../../src/agent/service/nodeport-host.js';
import { planServices, type ServicePortPlan } from '../../../src/agent/service/plan.js';
import { endpointSliceView, serviceView } from '../../../src/agent/inventory/convert.js';
import type { Inventory } from '../../../src/api/inventory.js';
import { EndpointSliceSchema, ServiceSchema } from '../../../src/api/k8s-core.js';

const pipeline = Pipeline.build();
const cookies = new CookieAllocator(3);

function inventory(opts: { internal?: 'Local'; external?: 'Local'; affinity?: number; type?: 'NodePort' } = {}): Inventory {
  const svc = ServiceSchema.parse({
    metadata: { name: 'web', namespace: 'shop' },
    spec: {
      type: opts.type ?? 'ClusterIP', clusterIP: '10.43.0.100', selector: { app: 'web' },
      ports: [{ name: 'http', port: 80, targetPort: 'http', ...(opts.type ? { nodePort: 30080 } : {}) }, { name: 'dns', protocol: 'UDP', port: 53 }],
      ...(opts.affinity ? { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: opts.affinity } } } : {}),
      ...(opts.internal ? { internalTrafficPolicy: opts.internal } : {}),
      ...(opts.external ? { externalTrafficPolicy: opts.external } : {}),
    },
  });
  const headless = ServiceSchema.parse({ metadata: { name: 'db', namespace: 'shop' }, spec: { clusterIP: 'None', ports: [{ port: 5432 }] } });
  const slice = EndpointSliceSchema.parse({
    metadata: { name: 'web-abc', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'web' } },
    addressType: 'IPv4',
    endpoints: [
      { addresses: ['10.42.1.5'], conditions: { ready: true }, nodeName: 'box2' },
      { addresses: ['10.42.0.7'], conditions: { ready: true }, nodeName: 'box1' },
      { addresses: ['10.42.0.9'], conditions: { ready: false, serving: true, terminating: true }, nodeName: 'box1' },
      { addresses: ['10.42.0.8'], nodeName: 'box1' },
    ],
    ports: [{ name: 'http', port: 8080 }, { name: 'dns', protocol: 'UDP', port: 5353 }],
  });
  return {
    nodes: new Map(), namespaces: new Map(), pods: new Map(),
    services: new Map([svc, headless].map((s) => [`${s.metadata.namespace}/${s.metadata.name}`, serviceView(s)])),
    endpointSlices: new Map([['shop/web-abc', endpointSliceView(slice)]]),
  };
}

const context = (plans: ServicePortPlan[], pods = [{ key: 'shop/web-1', ip: '10.42.0.7', ofport: 12 }]) => ({
  gatewayIP: '10.42.0.1', pods, groupIds: allocateGroupIds(groupKeys(plans)),
});

describe('Service planning', () => {
  it('balances each port to the serving, non-terminating endpoints of its named slice port; headless Services get nothing', () => {
    const plans = planServices(inventory(), 'box1');
    assert.deepEqual(plans.map((p) => p.key), ['shop/web:dns', 'shop/web:http']);
    const http = plans.find((p) => p.portName === 'http')!;
    assert.deepEqual(http.clusterEndpoints.map((e) => `${e.ip}:${e.port}`), ['10.42.0.7:8080', '10.42.0.8:8080', '10.42.1.5:8080']);
    assert.deepEqual(plans.find((p) => p.portName === 'dns')!.clusterEndpoints.map((e) => e.port), [5353, 5353, 5353]);
    assert.equal(http.affinitySeconds, 0);
    assert.equal(http.nodePort, 0);
  });

  it('keeps only this box\'s endpoints under a Local traffic policy, and SNATs NodePorts only under Cluster', () => {
    const internal = planServices(inventory({ internal: 'Local', type: 'NodePort' }), 'box2').find((p) => p.portName === 'http')!;
    assert.deepEqual(internal.clusterEndpoints.map((e) => e.ip), ['10.42.1.5']);
    assert.equal(internal.nodePortEndpoints.length, 3, 'the external policy is still Cluster');
    assert.equal(internal.nodePortSNAT, true);
    const external = planServices(inventory({ external: 'Local', type: 'NodePort' }), 'box2').find((p) => p.portName === 'http')!;
    assert.deepEqual(external.nodePortEndpoints.map((e) => e.ip), ['10.42.1.5']);
    assert.equal(external.clusterEndpoints.length, 3);
    assert.equal(external.nodePortSNAT, false);
  });
});

describe('Service flows and groups', () => {
  it('makes one select group per Service port with a bucket per endpoint, and a ServiceLB flow pointing at it', () => {
    const plans = planServices(inventory(), 'box1');
    const ctx = context(plans);
    const { flows, groups } = serviceFlows(plans, ctx, pipeline, cookies);
    const id = ctx.groupIds.get('shop/web:http')!;
    const g = groups.find((x) => x.id === id)!;
    assert.match(g.spec, /^type=select,selection_method=hash,fields\(ip_src,tcp_src\),bucket=bucket_id:0,/);
    assert.equal(g.spec.match(/bucket=/g)!.length, 3);
    assert.ok(g.spec.includes(`set_field:0xa2a0007->reg3,set_field:0x1f90/0xffff->reg4,resubmit(,${pipeline.id('EndpointDNAT')})`));
    const lb = flows.filter((f) => f.table === 'ServiceLB' && f.match.includes('nw_dst=10.43.0.100') && f.match.includes('tp_dst=80'));
    assert.equal(lb.length, 1);
    assert.deepEqual(lb[0]!.match, ['tcp', 'reg4=0x10000/0xf0000', 'nw_dst=10.43.0.100', 'tp_dst=80']);
    assert.deepEqual(lb[0]!.actions, ['set_field:0x200/0x200->reg0', 'set_field:0x20000/0x70000->reg4', `group:${id}`]);
    const udp = groups.find((x) => x.id === ctx.groupIds.get('shop/web:dns'))!;
    assert.match(udp.spec, /fields\(ip_src,udp_src\)/);
  });

  it('commits the DNAT once per endpoint address, port and protocol, marking the connection as a Service one', () => {
    const plans = planServices(inventory({ type: 'NodePort' }), 'box1');
    const { flows } = serviceFlows(plans, context(plans), pipeline, cookies);
    const dnat = flows.filter((f) => f.table === 'EndpointDNAT');
    assert.equal(dnat.length, 6, 'three endpoints × (tcp 8080, udp 5353); the NodePort shares them');
    const one = dnat.find((f) => f.match.includes('reg3=0xa2a0007') && f.match.includes('tcp'))!;
    assert.deepEqual(one.match, ['tcp', 'reg3=0xa2a0007', 'reg4=0x21f90/0x7ffff']);
    assert.match(one.actions[0]!, /^ct\(commit,table=\d+,zone=65520,nat\(dst=10\.42\.0\.7:8080\),exec\(set_field:0x10\/0x10->ct_mark,move:NXM_NX_REG0\[0\.\.3\]->NXM_NX_CT_MARK\[0\.\.3\]\)\)$/);
  });

  it('learns the chosen endpoint for the affinity timeout with a ClientIP Service', () => {
    const plans = planServices(inventory({ affinity: 600 }), 'box1');
    const ctx = context(plans);
    const { flows, groups } = serviceFlows(plans, ctx, pipeline, cookies);
    const id = ctx.groupIds.get('shop/web:http')!;
    assert.ok(groups.find((g) => g.id === id)!.spec.includes(`resubmit(,${pipeline.id('ServiceLB')})`), 'buckets come back to ServiceLB to learn');
    const learn = flows.find((f) => f.table === 'ServiceLB' && f.match.includes('reg4=0x30000/0xf0000') && f.match.includes('tp_dst=80'))!;
    assert.match(learn.actions[0]!, new RegExp(`^learn\\(table=${pipeline.id('SessionAffinity')},hard_timeout=600,priority=200,delete_learned,cookie=0x[0-9a-f]+,eth_type=0x800,nw_proto=6,NXM_OF_TCP_DST\\[\\],NXM_OF_IP_DST\\[\\],NXM_OF_IP_SRC\\[\\],`));
    assert.ok(learn.actions[0]!.endsWith('load:0x1->NXM_NX_REG0[9])'));
    assert.deepEqual(learn.actions.slice(1), ['set_field:0x20000/0x70000->reg4', pipeline.goto('EndpointDNAT')]);
  });

  it('matches node ports on the NodePort mark and SNATs them to the gateway under the Cluster policy', () => {
    const plans = planServices(inventory({ type: 'NodePort' }), 'box1');
    const ctx = context(plans);
    const { flows, groups } = serviceFlows(plans, ctx, pipeline, cookies);
    const np = flows.find((f) => f.table === 'ServiceLB' && f.match.includes('tp_dst=30080'))!;
    assert.deepEqual(np.match, ['tcp', 'reg4=0x90000/0xf0000', 'tp_dst=30080']);
    assert.ok(np.actions.includes('set_field:0x100000/0x100000->reg4'), 'SNAT bit');
    assert.ok(np.actions.includes(`group:${ctx.groupIds.get('shop/web:http/nodePort')}`));
    assert.equal(groups.length, 3, 'http, http/nodePort, dns (a UDP port without nodePort in this Service has none)');
    assert.ok(flows.some((f) => f.table === 'SNAT' && f.actions[0]!.includes('nat(src=10.42.0.1)')));
    assert.ok(flows.some((f) => f.table === 'UnSNAT' && f.match.includes('nw_dst=10.42.0.1')));
  });

  it('adds a hairpin SNAT and an IN_PORT output per local pod', () => {
    const plans = planServices(inventory(), 'box1');
    const pods = [{ key: 'shop/a', ip: '10.42.0.7', ofport: 12 }, { key: 'shop/b', ip: '10.42.0.8', ofport: 13 }];
    const { flows } = serviceFlows(plans, context(plans, pods), pipeline, cookies);
    const hairpin = flows.filter((f) => f.table === 'SNATMark' && f.match.some((m) => m.startsWith('nw_src=')));
    assert.deepEqual(hairpin.map((f) => f.match.slice(-2)), [['nw_src=10.42.0.7', 'nw_dst=10.42.0.7'], ['nw_src=10.42.0.8', 'nw_dst=10.42.0.8']]);
    const out = flows.filter((f) => f.table === 'Output' && f.actions.includes('IN_PORT'));
    assert.deepEqual(out.map((f) => f.match), [['reg0=0x200000/0x600000', 'in_port=12', 'reg1=0xc'], ['reg0=0x200000/0x600000', 'in_port=13', 'reg1=0xd']]);
    assert.ok(flows.some((f) => f.table === 'SNAT' && f.actions[0]!.includes('nat(src=169.254.0.253)')));
  });

  it('sends packets to a port without any serving endpoint to the agent (reject), and only drops under Local with remote endpoints only', () => {
    const inv = { ...inventory({ internal: 'Local' }), endpointSlices: new Map() };
    let plans = planServices(inv, 'box1');
    let { flows } = serviceFlows(plans, context(plans), pipeline, cookies);
    const lb = (fs: typeof flows) => fs.find((f) => f.table === 'ServiceLB' && f.match.includes('tp_dst=53'))!;
    assert.deepEqual(lb(flows).actions, ['controller(userdata=04.02)']);
    // box3 has no endpoint of its own but the Service has some: Local drops there (the empty group), as kube-proxy.
    plans = planServices(inventory({ internal: 'Local' }), 'box3');
    ({ flows } = serviceFlows(plans, context(plans), pipeline, cookies));
    assert.match(lb(flows).actions.at(-1)!, /^group:\d+$/);
  });

  it('with no Services keeps only the fixed flows (lookups, established skip, commit skip) and no groups', () => {
    const { flows, groups } = serviceFlows([], context([], []), pipeline, cookies);
    assert.deepEqual(groups, []);
    assert.ok(!flows.some((f) => f.table === 'ServiceLB' || f.table === 'EndpointDNAT'));
    assert.ok(flows.some((f) => f.table === 'ConntrackState' && f.match.includes('ct_mark=0x10/0x10')));
  });
});

describe('groups', () => {
  it('plans adds, rewrites and deletes by id', () => {
    const installed = new Map([[1, 'type=select,bucket=a'], [2, 'type=select,bucket=b'], [3, 'type=select']]);
    const plan = planGroupChanges(installed, [{ id: 1, spec: 'type=select,bucket=a' }, { id: 2, spec: 'type=select,bucket=c' }, { id: 4, spec: 'type=select' }]);
    assert.deepEqual(plan, { add: [{ id: 4, spec: 'type=select' }], modify: [{ id: 2, spec: 'type=select,bucket=c' }], delete: [3] });
  });

  it('allocates stable, distinct ids and parses dump-groups', () => {
    const keys = Array.from({ length: 2000 }, (_, i) => `ns/svc-${i}:http`);
    const ids = allocateGroupIds(keys);
    assert.equal(new Set(ids.values()).size, 2000);
    assert.equal(ids.get('ns/svc-7:http'), allocateGroupIds(['ns/svc-7:http', 'other']).get('ns/svc-7:http') ?? groupIdOf('ns/svc-7:http'));
    for (const id of ids.values()) assert.ok(id >= 1 && id < 0x7fffffff);
    const dumped = parseDumpGroups('OFPST_GROUP_DESC reply (OF1.5) (xid=0x2):\n group_id=5,type=select,selection_method=hash,fields(ip_src,tcp_src),bucket=bucket_id:0,weight:100,actions=resubmit(,12)\n');
    assert.deepEqual(dumped, [{ id: 5, spec: 'type=select,selection_method=hash,fields(ip_src,tcp_src),bucket=bucket_id:0,weight:100,actions=resubmit(,12)' }]);
  });
});

describe('NodePort host rules', () => {
  it('DNATs each node port to the virtual IP in one chain, and nothing when there is none', () => {
    const plans = planServices(inventory({ type: 'NodePort' }), 'box1');
    const text = nodePortRules(plans);
    assert.match(text, /^\*nat\n:SEINE-NODE-PORT - \[0:0\]\n-F SEINE-NODE-PORT\n-A SEINE-NODE-PORT -p tcp -m tcp --dport 30080 -j DNAT --to-destination 169\.254\.0\.252\nCOMMIT\n$/);
    assert.doesNotMatch(nodePortRules(planServices(inventory(), 'box1')), /-A /);
  });
});
