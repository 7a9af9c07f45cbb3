// Incremental Service sync against a real private OVS (userspace datapath): the Service feature
// (only changed Services recomputed) and a sole-writer bridge (only changed flows planned
// against its mirror) through a sequence of changes. After each one the switch holds exactly
// the full recompute: a fresh bridge that dumps finds no flow to change and the same group ids.
// At the end, installing the full recompute from scratch into an empty switch (an agent
// restarted on a fresh box) gives the same `dump-flows --no-stats` and `dump-groups` lines.
import assert from 'node:assert/strict';
import { bridgeMgmt, type OvsInstance } from '../../src/lab/ovs-instance.js';
import { run } from '../../src/lib/exec.js';
import { OvsdbClient } from '../../src/agent/ovs/ovsdb.js';
import { VSwitch } from '../../src/agent/ovs/vswitch.js';
import { Pipeline } from '../../src/agent/ovs/pipeline.js';
import { defaultFlows } from '../../src/agent/ovs/default-flows.js';
import { OpenFlowBridge } from '../../src/agent/ovs/bridge.js';
import { CookieAllocator } from '../../src/agent/ovs/cookie.js';
import { allocateGroupIds } from '../../src/agent/ovs/group.js';
import { LEARNED_FLOWS } from '../../src/agent/flows/accounting.js';
import { ServiceFeature } from '../../src/agent/service/feature.js';
import { groupKeys, serviceFlows } from '../../src/agent/service/flows.js';
import { planServices } from '../../src/agent/service/plan.js';
import type { Inventory } from '../../src/api/inventory.js';
import { requirePrereqs } from '../helpers/prereqs.js';
import { startPrivateOvs, stopPrivateOvs } from '../helpers/private-ovs.js';
import { editSvc, NODE, setSlice, slice, snapshot, start, svc } from '../helpers/service-inventory.js';

const pipeline = Pipeline.build();
const cookies = new CookieAllocator(2);
const defaults = defaultFlows(pipeline, 2);
const PODS = [{ key: 'shop/a', ip: '10.42.0.7', ofport: 12 }];

function fullRecompute(inv: Inventory) {
  const plans = planServices(inv, NODE);
  return serviceFlows(plans, { gatewayIP: '10.42.0.1', pods: PODS, groupIds: allocateGroupIds(groupKeys(plans)) }, pipeline, cookies);
}

describe('incremental Service sync (real OVS)', function () {
  this.timeout(120_000);
  let inst: OvsInstance | undefined;
  let client: OvsdbClient | undefined;

  before(async () => {
    requirePrereqs('root', 'ovs', 'ip');
    inst = await startPrivateOvs('svcsync');
    client = await OvsdbClient.connect({ remote: inst.dbRemote });
    const vs = new VSwitch(client);
    await vs.ensureBridge('br-int', { datapathType: 'netdev', failMode: 'secure', protocols: ['OpenFlow15'] });
    await vs.waitOfport('br-int');
  });

  after(async () => {
    await client?.close();
    if (inst) await stopPrivateOvs(inst);
  });

  it('keeps the switch equal to the full recompute through a sequence of changes, and gives the same dumps as a from-scratch install', async () => {
    const mgmt = bridgeMgmt(inst!, 'br-int');
    const ofctl = (...args: string[]) => run('ovs-ofctl', ['-O', 'OpenFlow15', ...args], { env: inst!.env });
    const agent = new OpenFlowBridge({ mgmt, tables: pipeline, env: inst!.env, soleWriter: true, foreign: LEARNED_FLOWS });
    const inv = start();
    let current = snapshot(inv);
    const feature = new ServiceFeature({ nodeName: NODE, inventory: () => current, gatewayIP: '10.42.0.1', pods: async () => PODS });
    let dumps = 0;
    const dumpFlows = agent.dumpFlows.bind(agent);
    agent.dumpFlows = (o) => (dumps++, dumpFlows(o));
    const sync = async () => agent.reconcile([...defaults, ...(await feature.flows(pipeline, cookies))], { groups: feature.groups() });
    const check = async (what: string) => {
      const want = fullRecompute(current);
      const fresh = new OpenFlowBridge({ mgmt, tables: pipeline, env: inst!.env, foreign: LEARNED_FLOWS });
      const r = await fresh.reconcile([...defaults, ...want.flows]);
      assert.deepEqual([r.added, r.modified, r.deleted], [0, 0, 0], `${what}: a dumping bridge finds nothing to change`);
      assert.deepEqual((await fresh.dumpGroups()).map((g) => g.id).sort(), want.groups.map((g) => g.id).sort(), `${what}: the full recompute's group ids`);
      await fresh.close();
    };

    await sync();
    await check('start');
    const steps: [string, () => void, number][] = [
      ['one endpoint replaced', () => setSlice(inv, slice('s7', 'a', ['10.42.7.1', '10.42.70.2', '10.42.7.3'])), 4],
      ['a Service added', () => (inv.services.set('shop/new', svc('new', 100)), setSlice(inv, slice('new', 'x', ['10.42.9.9', '10.42.100.1']))), 8],
      ['a Service removed', () => inv.services.delete('shop/s1'), 10],
      ['affinity turned on', () => editSvc(inv, 's5', { affinitySeconds: 30 }), 6],
      ['a node port added, external policy Local', () => editSvc(inv, 's2', { type: 'NodePort', externalTrafficPolicy: 'Local', ports: [{ name: 'http', protocol: 'TCP', port: 80, nodePort: 30500 }] }), 8],
      ['every slice of a Service gone', () => inv.endpointSlices.delete('shop/s10-a'), 10],
    ];
    for (const [what, change, most] of steps) {
      change();
      current = snapshot(inv);
      const r = await sync();
      const touched = r.added + r.modified + r.deleted;
      assert.ok(touched > 0 && touched <= most, `${what}: ${touched} flow changes (at most ${most})`);
      await check(what);
    }
    assert.equal(dumps, 1, 'the agent dumped once, at the start');
    // OVS lists flows of one priority in its classifier's order, which follows the install
    // history: compared as sets of lines, each line byte for byte.
    const lines = async (...args: string[]) => (await ofctl(...args)).stdout.split('\n').filter((l) => l && !l.includes('reply (OF1.5)')).sort();
    const flows = await lines('dump-flows', '--no-stats', mgmt);
    const groups = await lines('dump-groups', mgmt);
    assert.ok(flows.length > 100 && groups.length > 10);

    // An agent started on an empty switch computes everything at once.
    await ofctl('del-flows', mgmt);
    await ofctl('del-groups', mgmt);
    const want = fullRecompute(current);
    const restarted = new OpenFlowBridge({ mgmt, tables: pipeline, env: inst!.env, soleWriter: true, foreign: LEARNED_FLOWS });
    await restarted.reconcile([...defaults, ...want.flows], { groups: want.groups });
    assert.deepEqual(await lines('dump-flows', '--no-stats', mgmt), flows, 'the same dump-flows lines');
    assert.deepEqual(await lines('dump-groups', mgmt), groups, 'the same dump-groups lines');
    await agent.close();
    await restarted.close();
  });
});
