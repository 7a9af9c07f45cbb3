// Flow programming over the native OpenFlow connection against ovs-ofctl, end to end on a
// private OVS: the same 1k+ agent flows (built by the agent's flow builders) and Service
// groups go into two bridges, one through OpenFlowBridge (encoder + bundle over the
// connection), one through `ovs-ofctl --bundle add-flows` / `add-groups`; the two
// `dump-flows --no-stats` and `dump-groups` must be byte-identical. Then a fresh bridge
// object (as after an agent restart) finds nothing to change, through encoded identity alone.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { bridgeMgmt, type OvsInstance } from '../../src/lab/ovs-instance.js';
import { OvsdbClient } from '../../src/agent/ovs/ovsdb.js';
import { VSwitch } from '../../src/agent/ovs/vswitch.js';
import { Pipeline } from '../../src/agent/ovs/pipeline.js';
import { OpenFlowBridge } from '../../src/agent/ovs/bridge.js';
import { CookieAllocator, categoryFilter, matchesFilter } from '../../src/agent/ovs/cookie.js';
import { formatFlow, toOvsFlow, type Flow } from '../../src/agent/ovs/flow.js';
import { formatGroup } from '../../src/agent/ovs/group.js';
import { run } from '../../src/lib/exec.js';
import { requirePrereqs } from '../helpers/prereqs.js';
import { startPrivateOvs, stopPrivateOvs } from '../helpers/private-ovs.js';
import { seineFlows } from '../helpers/seine-flows.js';

const pipeline = Pipeline.build();

/** Flows written the way OVS does not print them (the encoder must mean the same). */
function authored(): Flow[] {
  const c = new CookieAllocator(1).cookie('PodConnectivity', 'authored');
  return [
    { table: 'Classifier', priority: 191, match: ['in_port=9'], actions: ['load:0x3->NXM_NX_REG0[0..3]', 'load:1->NXM_NX_REG4[28]', 'resubmit(,4)'], cookie: c },
    { table: 'SpoofGuard', priority: 201, match: ['dl_type=0x0800', 'in_port=9', 'nw_src=10.9.0.2'], actions: [pipeline.goto('UnSNAT')], cookie: c },
    { table: 'SpoofGuard', priority: 202, match: ['ip', 'ip_dscp=1', 'nw_src=10.0.0.0/255.255.255.0'], actions: ['mod_dl_dst:aa:bb:cc:dd:ee:ff', 'dec_ttl', 'normal'], cookie: c },
    { table: 'SpoofGuard', priority: 203, match: ['udp', 'tp_src=0x1000/0xf000'], actions: ['move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[]', 'IN_PORT'], cookie: c },
    { table: 'SpoofGuard', priority: 204, match: ['reg0=0x3/0xf', 'tun_dst=10.0.0.1'], actions: ['set_field:10.0.0.2->tun_dst', 'note:01.02.03', 'output:2'], cookie: c },
    { table: 'SpoofGuard', priority: 205, match: ['ct_state=+inv+trk', 'ct_mark=0x10/0x10', 'ip'], actions: ['controller(reason=action,userdata=01.02.03,max_len=128)', 'exit'], cookie: c },
  ];
}

describe('OpenFlow flow programming over the wire vs ovs-ofctl (real OVS)', function () {
  this.timeout(120_000);
  let inst: OvsInstance | undefined;
  let client: OvsdbClient | undefined;
  const bridges: OpenFlowBridge[] = [];

  before(async () => {
    requirePrereqs('root', 'ovs', 'ip');
    inst = await startPrivateOvs('wire');
    client = await OvsdbClient.connect({ remote: inst.dbRemote });
    const vs = new VSwitch(client);
    for (const br of ['br-wire', 'br-ofctl']) {
      await vs.ensureBridge(br, { datapathType: 'netdev', failMode: 'secure', protocols: ['OpenFlow15'] });
      await vs.waitOfport(br);
    }
  });

  after(async () => {
    for (const b of bridges) await b.close();
    await client?.close();
    if (inst) await stopPrivateOvs(inst);
  });

  it('installs 1k+ agent flows and their groups exactly as ovs-ofctl --bundle does: dumps byte-identical', async () => {
    const { flows: built, groups } = seineFlows(20);
    const flows = [...built, ...authored()];
    assert.ok(flows.length > 1000, `${flows.length} flows`);
    const env = inst!.env;
    const ofctl = (...args: string[]) => run('ovs-ofctl', ['-O', 'OpenFlow15', ...args], { env });
    const wire = new OpenFlowBridge({ mgmt: bridgeMgmt(inst!, 'br-wire'), tables: pipeline });
    bridges.push(wire);
    assert.equal(await wire.countFlows(), 0, 'an empty table is known from one aggregate request (no dump)');
    const res = await wire.reconcile(flows, { groups });
    assert.equal(await wire.countFlows(), res.added);
    assert.equal(await wire.countFlows({ cookie: categoryFilter('Service') }), flows.filter((f) => matchesFilter(f.cookie, categoryFilter('Service'))).length);
    assert.equal(res.added, new Set(flows.map((f) => `${f.table}|${f.priority}|${f.match.join(',')}`)).size);

    const other = bridgeMgmt(inst!, 'br-ofctl');
    const file = path.join(inst!.dir, 'flows.txt');
    await writeFile(file, flows.map((f) => formatFlow(toOvsFlow(f, pipeline))).join('\n') + '\n');
    await writeFile(`${file}.groups`, groups.map(formatGroup).join('\n') + '\n');
    await ofctl('add-groups', other, `${file}.groups`);
    await ofctl('--bundle', 'add-flows', other, file);

    const dump = async (mgmt: string) => (await ofctl('dump-flows', '--no-stats', mgmt)).stdout;
    const a = await dump(bridgeMgmt(inst!, 'br-wire'));
    const b = await dump(other);
    assert.ok(a.split('\n').length > 1000);
    assert.equal(a, b, 'dump-flows --no-stats byte-identical');
    // Groups print in OVS's hash order, which depends on insertion order: same lines, sorted.
    const groupLines = async (mgmt: string) => (await ofctl('dump-groups', mgmt)).stdout.split('\n').slice(1).sort();
    const ga = await groupLines(bridgeMgmt(inst!, 'br-wire'));
    assert.equal(ga.filter(Boolean).length, groups.length);
    assert.deepEqual(ga, await groupLines(other), 'dump-groups: the same lines');

    // After a restart: a new bridge object dumps, meets OVS's text by encoding, changes nothing.
    const fresh = new OpenFlowBridge({ mgmt: bridgeMgmt(inst!, 'br-wire'), tables: pipeline });
    bridges.push(fresh);
    const again = await fresh.reconcile(flows, { groups });
    assert.deepEqual([again.added, again.modified, again.deleted], [0, 0, 0]);
    assert.equal(await dump(bridgeMgmt(inst!, 'br-wire')), a);
  });

  it('refuses a whole bundle when OVS refuses one flow, naming the flow and the OpenFlow error', async () => {
    const mgmt = bridgeMgmt(inst!, 'br-wire');
    const bridge = new OpenFlowBridge({ mgmt, tables: pipeline });
    bridges.push(bridge);
    const before = (await run('ovs-ofctl', ['-O', 'OpenFlow15', 'dump-flows', '--no-stats', mgmt], { env: inst!.env })).stdout;
    const c = new CookieAllocator(2).cookie('Service', 'bad');
    const ok: Flow = { table: 'ServiceLB', priority: 300, match: ['tcp', 'nw_dst=10.96.9.9', 'tp_dst=443'], actions: [pipeline.goto('EndpointDNAT')], cookie: c };
    // Encodable, but OVS refuses it at add time: conjunction() in a flow that also outputs.
    const bad: Flow = { table: 'ServiceLB', priority: 301, match: ['tcp', 'nw_dst=10.96.9.8'], actions: ['conjunction(3,1/2)', 'output:1'], cookie: c };
    await assert.rejects(bridge.apply({ add: [toOvsFlow(ok, pipeline), toOvsFlow(bad, pipeline)], replace: [], modify: [], delete: [] }),
      (e: Error) => e.name === 'FlowRejectedError' && /conjunction\(3,1\/2\),output:1/.test(e.message) && /NXBAC_BAD_CONJUNCTION|OFPBAC/.test(e.message));
    assert.equal((await run('ovs-ofctl', ['-O', 'OpenFlow15', 'dump-flows', '--no-stats', mgmt], { env: inst!.env })).stdout, before, 'nothing applied');
  });
});
