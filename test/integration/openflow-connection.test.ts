// The native OpenFlow connection against a real private OVS: handshake and features, barrier and
// echo, OFPT_ERROR turned into a named error for the request that caused it, a multipart reply
// of many parts reassembled, and reconnection after ovs-vswitchd is restarted.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { bridgeMgmt, type OvsInstance } from '../../src/lab/ovs-instance.js';
import { OvsdbClient } from '../../src/agent/ovs/ovsdb.js';
import { VSwitch } from '../../src/agent/ovs/vswitch.js';
import { OpenFlowConnection, OpenFlowDisconnectedError, OpenFlowError } from '../../src/lib/openflow/connection.js';
import { OFPMP, OFPT } from '../../src/lib/openflow/header.js';
import { acquireConnection } from '../../src/lib/openflow/shared.js';
import { run } from '../../src/lib/exec.js';
import { stopProcesses } from '../../src/lib/process.js';
import { requirePrereqs } from '../helpers/prereqs.js';
import { restartVswitchd, startPrivateOvs, stopPrivateOvs } from '../helpers/private-ovs.js';

describe('OpenFlow connection (real OVS)', function () {
  this.timeout(60_000);
  let inst: OvsInstance | undefined;
  let client: OvsdbClient | undefined;
  let conn: OpenFlowConnection | undefined;
  const ofctl = (...args: string[]) => run('ovs-ofctl', ['-O', 'OpenFlow15', ...args], { env: inst!.env });

  before(async () => {
    requirePrereqs('root', 'ovs', 'ip');
    inst = await startPrivateOvs('ofc');
    client = await OvsdbClient.connect({ remote: inst.dbRemote });
    const vs = new VSwitch(client);
    await vs.ensureBridge('br-int', { datapathType: 'netdev', failMode: 'secure', protocols: ['OpenFlow15'] });
    await vs.waitOfport('br-int');
  });

  after(async () => {
    await conn?.close();
    await client?.close();
    if (inst) await stopPrivateOvs(inst);
  });

  it('negotiates OpenFlow 1.5 and reads the features', async () => {
    conn = await OpenFlowConnection.connect({ remote: bridgeMgmt(inst!, 'br-int'), packetIn: true, echoIntervalMs: 200 });
    assert.equal(conn.version, 6);
    assert.equal(conn.features.nTables, 254);
    const dpid = /dpid:([0-9a-f]{16})/.exec((await ofctl('show', bridgeMgmt(inst!, 'br-int'))).stdout)![1];
    assert.equal(conn.features.datapathId, BigInt(`0x${dpid}`));
    await conn.barrier();
    const echo = await conn.request(OFPT.ECHO_REQUEST, Buffer.from('ping'));
    assert.equal(echo.type, OFPT.ECHO_REPLY);
    assert.equal(echo.body.toString(), 'ping');
    // Our own echoes every 200 ms keep the connection up: still usable after several rounds.
    await new Promise((r) => setTimeout(r, 700));
    assert.ok(conn.connected);
  });

  it('names the error and the request OVS refused', async () => {
    // A multipart request of a type OVS does not know.
    await assert.rejects(conn!.multipart(0x7777, Buffer.alloc(0), { what: 'bogus stats' }), (err: Error) => {
      assert.ok(err instanceof OpenFlowError);
      assert.equal(err.errorName, 'OFPET_BAD_REQUEST/OFPBRC_BAD_MULTIPART');
      assert.match(err.message, /OVS refused bogus stats: OFPET_BAD_REQUEST\/OFPBRC_BAD_MULTIPART/);
      return true;
    });
    // A reply-less message (a flow mod to table 255, which does not exist) fails at the barrier.
    const flowMod = Buffer.alloc(48);
    flowMod.writeUInt8(255, 16); // table_id after cookie, cookie_mask
    flowMod.writeUInt16BE(1, 40); // match type OXM, length 4
    flowMod.writeUInt16BE(4, 42);
    await assert.rejects(conn!.send(OFPT.FLOW_MOD, flowMod, { what: 'flow_mod into table 255' }), (err: Error) => {
      assert.ok(err instanceof OpenFlowError, err.message);
      assert.match(err.message, /flow_mod into table 255: OFPET_/);
      return true;
    });
    // The connection stays usable after errors.
    await conn!.barrier();
  });

  it('reassembles a flow dump of many multipart parts', async () => {
    const lines = Array.from({ length: 3000 }, (_, i) => `table=1,priority=100,ip,nw_src=10.${i >> 8}.${i & 255}.1,actions=drop`);
    await run('ovs-ofctl', ['-O', 'OpenFlow15', '--bundle', 'add-flows', bridgeMgmt(inst!, 'br-int'), '-'], { env: inst!.env, input: lines.join('\n') });
    const req = Buffer.alloc(40);
    req.writeUInt8(0xff, 0); // all tables
    req.writeUInt32BE(0xffffffff, 4); // out_port any
    req.writeUInt32BE(0xffffffff, 8); // out_group any
    req.writeUInt16BE(1, 32); // empty OXM match
    req.writeUInt16BE(4, 34);
    const parts = await conn!.multipart(OFPMP.FLOW_DESC, req);
    assert.ok(parts.length > 1, `a reply of ${parts.length} part(s)`);
    let flows = 0;
    for (const part of parts) for (let pos = 0; pos < part.length; pos += part.readUInt16BE(pos)) flows++;
    assert.equal(flows, 3000);
  });

  it('fails pending requests when vswitchd goes away and reconnects by itself', async () => {
    const disconnected = once(conn!, 'disconnect');
    const reconnected = once(conn!, 'reconnected');
    const pending = conn!.barrier().then(() => undefined, (err: Error) => err);
    await stopProcesses([inst!.vswitchd]);
    await disconnected;
    // Whether the barrier was answered before the kill is a race; if not, it must fail clearly.
    const outcome = await pending;
    if (outcome) assert.ok(outcome instanceof OpenFlowDisconnectedError, outcome.message);
    await assert.rejects(conn!.barrier(), OpenFlowDisconnectedError);
    await restartVswitchd(inst!);
    await reconnected;
    assert.ok(conn!.connected);
    await conn!.barrier();
    const [dumped] = await conn!.multipart(OFPMP.FLOW_DESC, (() => {
      const req = Buffer.alloc(40);
      req.writeUInt8(0xff, 0);
      req.writeUInt32BE(0xffffffff, 4);
      req.writeUInt32BE(0xffffffff, 8);
      req.writeUInt16BE(1, 32);
      req.writeUInt16BE(4, 34);
      return req;
    })());
    assert.equal(dumped!.length, 0, 'the restarted switch has no flows');
  });

  it('shares one connection per bridge between its users; the last release closes it', async () => {
    const a = await acquireConnection(bridgeMgmt(inst!, 'br-int'));
    const b = await acquireConnection(bridgeMgmt(inst!, 'br-int').replace(/^unix:/, ''));
    assert.equal(a.conn, b.conn);
    await a.release();
    await a.release(); // idempotent: does not take b's reference
    assert.ok(b.conn.connected);
    await b.conn.barrier();
    await b.release();
    assert.ok(!b.conn.connected);
    const c = await acquireConnection(bridgeMgmt(inst!, 'br-int'));
    assert.notEqual(c.conn, a.conn, 'a new one after the last release');
    await c.release();
  });
});
