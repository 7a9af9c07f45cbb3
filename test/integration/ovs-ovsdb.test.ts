// The OVSDB client and vswitch helpers against a real private OVS (ovsdb-server + vswitchd,
// userspace datapath): idempotent ensure*, ofport_request, external_ids, monitors, errors,
// and reconnect after ovsdb-server restarts in the same directory.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { run } from '../../src/lib/exec.js';
import { processRef, stopProcesses } from '../../src/lib/process.js';
import { type OvsInstance } from '../../src/lab/ovs-instance.js';
import { OvsdbClient, OvsdbDisconnectedError, OvsdbError } from '../../src/agent/ovs/ovsdb.js';
import { VSwitch } from '../../src/agent/ovs/vswitch.js';
import type { TableUpdates } from '../../src/agent/ovs/ovsdb-types.js';
import { requirePrereqs } from '../helpers/prereqs.js';
import { startPrivateOvs, stopPrivateOvs } from '../helpers/private-ovs.js';

const until = async (what: string, cond: () => boolean | Promise<boolean>, ms = 5000) => {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('OVSDB client and vswitch helpers (real OVS)', function () {
  this.timeout(60_000);
  let inst: OvsInstance | undefined;
  let client: OvsdbClient;
  let vs: VSwitch;
  // Records the non-select operations sent while fn runs: "no write" means none.
  const writesDuring = async <T>(fn: () => Promise<T>) => {
    const writes: string[] = [];
    const orig = client.transact.bind(client);
    client.transact = (ops, opts) => {
      writes.push(...ops.filter((o) => o.op !== 'select').map((o) => o.op));
      return orig(ops, opts);
    };
    try {
      return { result: await fn(), writes };
    } finally {
      client.transact = orig;
    }
  };
  const vsctl = (...args: string[]) => run('ovs-vsctl', [`--db=${inst!.dbRemote}`, ...args], { env: inst!.env });

  before(async () => {
    requirePrereqs('root', 'ovs', 'ip');
    inst = await startPrivateOvs('db');
    client = await OvsdbClient.connect({ remote: inst.dbRemote, backoff: { initialMs: 20, maxMs: 200 } });
    vs = new VSwitch(client);
  });

  after(async () => {
    await client?.close();
    if (inst) await stopPrivateOvs(inst);
  });

  it('creates a netdev bridge once; a second ensureBridge sends no write', async () => {
    const first = await vs.ensureBridge('br-int', { datapathType: 'netdev', failMode: 'secure', protocols: ['OpenFlow15'] });
    assert.deepEqual([first.created, first.changed], [true, true]);
    const again = await writesDuring(() => vs.ensureBridge('br-int', { datapathType: 'netdev', failMode: 'secure', protocols: ['OpenFlow15'] }));
    assert.deepEqual(again.result, { uuid: first.uuid, created: false, changed: false });
    assert.deepEqual(again.writes, [], 'only selects were sent');
    assert.equal((await vsctl('get', 'bridge', 'br-int', 'datapath_type')).stdout.trim(), 'netdev');
    assert.equal((await vsctl('get', 'bridge', 'br-int', 'fail_mode')).stdout.trim(), 'secure');
    assert.equal((await vsctl('get', 'bridge', 'br-int', 'protocols')).stdout.trim(), '[OpenFlow15]');
    assert.equal(await vs.getBridgeDatapathType('br-int'), 'netdev');
    assert.equal(await vs.getBridgeDatapathType('br-none'), undefined);
    assert.equal(await vs.waitOfport('br-int'), 65534, 'the bridge has its local port');
  });

  it('updates only what differs on an existing bridge', async () => {
    const res = await vs.ensureBridge('br-int', { datapathType: 'netdev', externalIds: { 'seine-round': '3' } });
    assert.deepEqual([res.created, res.changed], [false, true]);
    assert.equal((await vsctl('get', 'bridge', 'br-int', 'external_ids:seine-round')).stdout.trim(), '"3"');
    assert.equal((await vs.ensureBridge('br-int', { datapathType: 'netdev', externalIds: { 'seine-round': '3' } })).changed, false);
  });

  it('honours ofport_request and round-trips external_ids; the second ensurePort changes nothing', async () => {
    const spec = { type: 'internal' as const, ofportRequest: 11, externalIds: { 'seine/pod': 'default/web-1', 'seine/owner': 'cni' } };
    const created = await vs.ensurePort('br-int', 'web-1', spec);
    assert.deepEqual([created.created, created.changed], [true, true]);
    assert.equal(await vs.waitOfport('web-1', 5000), 11);
    const again = await writesDuring(() => vs.ensurePort('br-int', 'web-1', spec));
    assert.deepEqual(again.result, { uuid: created.uuid, created: false, changed: false });
    assert.deepEqual(again.writes, []);
    const port = (await vs.listPorts('br-int')).find((p) => p.name === 'web-1')!;
    assert.deepEqual(port.externalIds, spec.externalIds);
    assert.deepEqual([port.type, port.ofport, port.ofportRequest], ['internal', 11, 11]);
    const updated = await vs.ensurePort('br-int', 'web-1', { ...spec, externalIds: { 'seine/pod': 'default/web-2' } });
    assert.equal(updated.changed, true);
    assert.equal((await vsctl('get', 'port', 'web-1', 'external_ids:seine/pod')).stdout.trim(), '"default/web-2"');
  });

  it('keeps tunnel options exactly as specified', async () => {
    await vs.ensurePort('br-int', 'tun0', { type: 'geneve', options: { remote_ip: 'flow', key: 'flow' }, ofportRequest: 100 });
    assert.equal(await vs.waitOfport('tun0'), 100);
    assert.equal((await vs.ensurePort('br-int', 'tun0', { type: 'geneve', options: { remote_ip: 'flow', key: 'flow' } })).changed, false);
    assert.equal((await vs.ensurePort('br-int', 'tun0', { type: 'geneve', options: { remote_ip: 'flow' } })).changed, true);
    assert.deepEqual((await vs.listPorts('br-int')).find((p) => p.name === 'tun0')!.options, { remote_ip: 'flow' });
    const vx = await vs.ensurePort('br-int', 'tun0', { type: 'vxlan', options: { remote_ip: 'flow' } });
    assert.equal(vx.changed, true);
    assert.equal((await vsctl('get', 'interface', 'tun0', 'type')).stdout.trim(), 'vxlan');
  });

  it('sees through a monitor a port that another client adds', async () => {
    const mon = await client.monitor(['Interface'], { Interface: ['name', 'ofport'] });
    const names = () => [...mon.table('Interface').values()].map((r) => r.name);
    assert.ok(names().includes('web-1'));
    const seen = new Promise<void>((resolve) =>
      mon.on('update', (u: TableUpdates) => {
        for (const { new: row } of Object.values(u.Interface ?? {})) if (row?.name === 'other-1' && typeof row.ofport === 'number' && row.ofport > 0) resolve();
      }),
    );
    await vsctl('add-port', 'br-int', 'other-1', '--', 'set', 'interface', 'other-1', 'type=internal', 'ofport_request=21');
    await seen;
    assert.ok(names().includes('other-1'));
    await mon.cancel();
    assert.equal(await vs.waitOfport('other-1'), 21);
  });

  it('surfaces OVSDB errors and the Interface error column', async () => {
    await assert.rejects(client.transact([{ op: 'insert', table: 'Bridge', row: { name: 'br-bad', fail_mode: 'bogus' } }]), (e: unknown) => {
      assert.ok(e instanceof OvsdbError);
      assert.match(e.message, /constraint violation: bogus is not one of the allowed values/);
      return true;
    });
    await vs.ensurePort('br-int', 'no-such-dev', { type: 'system' });
    await assert.rejects(vs.waitOfport('no-such-dev', 3000), /no usable ofport \(-1\): could not open network device no-such-dev/);
    await assert.rejects(vs.waitOfport('never-created', 100), /interface never-created does not exist/);
    await assert.rejects(vs.ensurePort('br-missing', 'x', {}), /bridge br-missing does not exist/);
  });

  it('deletes ports idempotently', async () => {
    assert.equal(await vs.deletePort('br-int', 'no-such-dev'), true);
    assert.equal(await vs.deletePort('br-int', 'no-such-dev'), false);
    assert.ok(!(await vs.listPorts('br-int')).some((p) => p.name === 'no-such-dev'));
    assert.equal((await vsctl('--if-exists', 'get', 'interface', 'no-such-dev', 'name')).stdout.trim(), '');
  });

  it('reconnects after ovsdb-server restarts and re-issues its monitors', async () => {
    const dir = inst!.dir;
    const mon = await client.monitor(['Port'], { Port: ['name'] });
    const portNames = () => [...mon.table('Port').values()].map((r) => String(r.name));
    const updates: TableUpdates[] = [];
    mon.on('update', (u: TableUpdates) => updates.push(u));
    const lost = once(client, 'disconnect');
    await stopProcesses([inst!.ovsdb]);
    await lost;
    await assert.rejects(client.transact([{ op: 'select', table: 'Bridge', where: [] }]), OvsdbDisconnectedError);
    // Meanwhile the database changes (offline, as another tool would do it before the server is back).
    await run('ovsdb-tool', ['transact', path.join(dir, 'conf.db'), JSON.stringify(['Open_vSwitch',
      { op: 'insert', table: 'Interface', row: { name: 'offline-1', type: 'internal' }, 'uuid-name': 'i' },
      { op: 'insert', table: 'Port', row: { name: 'offline-1', interfaces: ['named-uuid', 'i'] }, 'uuid-name': 'p' },
      { op: 'mutate', table: 'Bridge', where: [['name', '==', 'br-int']], mutations: [['ports', 'insert', ['named-uuid', 'p']]] }])], { env: inst!.env });
    const back = once(client, 'reconnect');
    await run('ip', ['netns', 'exec', inst!.netns!, 'ovsdb-server', path.join(dir, 'conf.db'), `--remote=punix:${dir}/db.sock`, `--pidfile=${dir}/ovsdb-server.pid`,
      `--unixctl=${dir}/ovsdb-server.ctl`, '--detach', `--log-file=${dir}/ovsdb-server.log`], { env: inst!.env });
    inst!.ovsdb = processRef(Number((await readFile(path.join(dir, 'ovsdb-server.pid'), 'utf8')).trim()));
    await back;
    assert.ok(portNames().includes('offline-1'), 'monitor rows resynced');
    assert.ok(updates.some((u) => Object.values(u.Port ?? {}).some((r) => r.new?.name === 'offline-1')), 'resync reported the new port');
    assert.equal((await vs.ensurePort('br-int', 'web-1', { type: 'internal', ofportRequest: 11 })).changed, false);
    await until('vswitchd to pick up the offline port', async () => (await vs.listPorts('br-int')).some((p) => p.name === 'offline-1' && (p.ofport ?? 0) > 0));
    await mon.cancel();
  });
});
