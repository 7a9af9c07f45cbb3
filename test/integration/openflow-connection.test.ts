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
import { PacketInMonitor, type PacketInEvent } from '../../src/agent/ovs/packet-in.js';
import { PacketOutSender } from '../../src/agent/ovs/packet-out.js';
import { BridgeStats } from '../../src/agent/ovs/flow-stats.js';
import { icmpEchoFrame, tcpSynFrame, udpFrame } from '../../src/agent/ovs/frame.js';
import { formatOxmValue } from '../../src/lib/openflow/oxm.js';
import { learnedCookie, learnedCountersFromText, learnedCountersOf, LearnedKind, LEARNED_FLOWS } from '../../src/agent/flows/accounting.js';
import { metricOf } from '../../src/agent/policy/stats.js';
import { requirePrereqs } from '../helpers/prereqs.js';
import { restartVswitchd, startPrivateOvs, stopPrivateOvs } from '../helpers/private-ovs.js';

describe('OpenFlow connection (real OVS)', function () {
  this.timeout(60_000);
  let inst: OvsInstance | undefined;
  let client: OvsdbClient | undefined;
  let conn: OpenFlowConnection | undefined;
  let monitor: PacketInMonitor | undefined;
  let packetOuts: PacketOutSender | undefined;
  let stats: BridgeStats | undefined;
  const mgmt = () => bridgeMgmt(inst!, 'br-int');
  const frame = (src: string, dst: string, proto: 'icmp' | 'tcp' | 'udp', sport = 0, dport = 0) => {
    const spec = { srcMac: '02:00:00:00:00:02', dstMac: '02:00:00:00:00:03', srcIp: src, dstIp: dst };
    const f = proto === 'icmp' ? icmpEchoFrame(spec) : proto === 'tcp' ? tcpSynFrame({ ...spec, srcPort: sport, dstPort: dport }) : udpFrame({ ...spec, srcPort: sport, dstPort: dport });
    return f.toString('hex');
  };
  const ofctl = (...args: string[]) => run('ovs-ofctl', ['-O', 'OpenFlow15', ...args], { env: inst!.env });

  before(async () => {
    requirePrereqs('root', 'ovs', 'ip');
    inst = await startPrivateOvs('ofc');
    client = await OvsdbClient.connect({ remote: inst.dbRemote });
    const vs = new VSwitch(client);
    await vs.ensureBridge('br-int', { datapathType: 'netdev', failMode: 'secure', protocols: ['OpenFlow15'] });
    await vs.ensurePort('br-int', 'pod-a', { type: 'internal', ofportRequest: 1 });
    await vs.ensurePort('br-int', 'pod-b', { type: 'internal', ofportRequest: 2 });
    for (const p of ['br-int', 'pod-a', 'pod-b']) await vs.waitOfport(p);
    // An internal port whose device is down drops what OVS sends it: up, it counts as sent.
    for (const p of ['pod-a', 'pod-b']) await run('ip', ['-n', inst.netns!, 'link', 'set', p, 'up']);
  });

  after(async () => {
    await monitor?.stop();
    await packetOuts?.close();
    await stats?.close();
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

  it('receives NXT_PACKET_IN2 with the controller action\'s userdata and pipeline fields; a packet-out reaches a port', async () => {
    await ofctl('add-flow', mgmt(), 'table=0,priority=100,ip,in_port=1,actions=set_field:0x5->reg0,set_field:0x3->reg3,resubmit(,3)');
    await ofctl('add-flow', mgmt(), 'table=3,priority=200,cookie=0x7000000000abc,icmp,actions=controller(userdata=0a.0b.0c,max_len=128)');
    monitor = new PacketInMonitor({ mgmt: mgmt() });
    await monitor.start();
    packetOuts = new PacketOutSender(mgmt());
    const got = once(monitor, 'packetIn') as Promise<[PacketInEvent]>;
    await packetOuts.send({ inPort: 1, packetHex: frame('10.10.0.2', '10.10.0.3', 'icmp'), actions: ['resubmit(,0)'] });
    const [ev] = await got;
    assert.deepEqual([ev.tableId, ev.cookie, ev.reason, ev.inPort], [3, 0x7000000000abcn, 'action', 1]);
    assert.deepEqual(ev.userdata, Buffer.from([0x0a, 0x0b, 0x0c]));
    assert.deepEqual(ev.metadata, { reg0: '0x5', reg3: '0x3' });
    assert.deepEqual([ev.packet.protocol, ev.packet.nwSrc, ev.packet.nwDst, ev.packet.icmpType, ev.totalLen], ['icmp', '10.10.0.2', '10.10.0.3', 8, 98]);

    stats = new BridgeStats(mgmt());
    const txBefore = (await stats.ports(2))[0]!.txPackets;
    await packetOuts.send({ inPort: 'controller', packetHex: frame('10.10.0.9', '10.10.0.3', 'icmp'), actions: ['output:2'] });
    const [after] = await stats.ports(2);
    assert.equal(after!.txPackets, txBefore + 1, 'the packet went out of pod-b');
    const ofctlTx = Number(/port +2: rx pkts=\d+, bytes=\d+, drop=\d+, errs=\d+, frame=\d+, over=\d+, crc=\d+\s+tx pkts=(\d+)/.exec((await ofctl('dump-ports', mgmt(), '2')).stdout)![1]);
    assert.equal(after!.txPackets, ofctlTx, 'port stats equal ovs-ofctl dump-ports');
    // OVS refuses a bad packet-out by name: the error comes back on the send.
    await assert.rejects(packetOuts.send({ inPort: 1, packetHex: 'aabb', actions: ['output:99999'] }), /OVS refused packet-out in_port=1 actions=output:99999: OFPET_BAD_/);
  });

  it('reads flow counters equal to ovs-ofctl dump-flows after traffic, and the learned 5-tuples the exporter needs', async () => {
    const learned = learnedCookie(LearnedKind.Connection);
    const c = `0x${learned.toString(16)}`;
    await ofctl('del-flows', mgmt());
    const flows = [
      'table=0,priority=100,ip,in_port=1,actions=resubmit(,5),resubmit(,6)',
      `table=5,priority=100,cookie=${c},tcp,nw_src=10.10.0.2,nw_dst=10.10.0.3,tp_src=3333,tp_dst=80,actions=drop`,
      `table=5,priority=100,cookie=${c},udp,nw_src=10.10.0.2,nw_dst=10.10.0.3,tp_src=5353,tp_dst=53,actions=drop`,
      `table=5,priority=100,cookie=${c},icmp,nw_src=10.10.0.2,nw_dst=10.10.0.3,actions=drop`,
      'table=5,priority=90,cookie=0x2000000000001,ip,actions=drop',
      'table=6,priority=200,cookie=0x2000000000007,ct_state=-new,ct_label=0x700000000/0xffffffff00000000,ip,actions=drop',
      'table=6,priority=200,cookie=0x2000000000007,reg3=0x9,ip,actions=drop',
      'table=6,priority=0,actions=drop',
    ];
    await run('ovs-ofctl', ['-O', 'OpenFlow15', 'add-flows', mgmt(), '-'], { env: inst!.env, input: flows.join('\n') });
    const sends = [
      ...Array.from({ length: 3 }, () => frame('10.10.0.2', '10.10.0.3', 'tcp', 3333, 80)),
      ...Array.from({ length: 2 }, () => frame('10.10.0.2', '10.10.0.3', 'udp', 5353, 53)),
      frame('10.10.0.2', '10.10.0.3', 'icmp'),
      frame('10.10.0.7', '10.10.0.3', 'icmp'),
    ];
    for (const hex of sends) await packetOuts!.send({ inPort: 1, packetHex: hex, actions: ['resubmit(,0)'] });
    const entries = await stats!.flows();
    const text = (await ofctl('dump-flows', mgmt())).stdout;
    const lines = text.split('\n').filter((l) => l.includes('priority'));
    assert.equal(entries.length, lines.length);
    const byKey = (tableId: number, priority: number, m: (l: string) => boolean) => ({
      ours: entries.filter((e) => e.tableId === tableId && e.priority === priority),
      line: lines.find((l) => l.includes(`table=${tableId},`) && l.includes(`priority=${priority}`) && m(l))!,
    });
    const counters = (l: string) => [Number(/n_packets=(\d+)/.exec(l)![1]), Number(/n_bytes=(\d+)/.exec(l)![1])];
    const tcp = byKey(5, 100, (l) => l.includes('tcp,'));
    const ourTcp = tcp.ours.find((e) => e.match.some((f) => f.name === 'tcp_dst'))!;
    assert.deepEqual([ourTcp.packets, ourTcp.bytes], counters(tcp.line));
    assert.deepEqual([ourTcp.packets, ourTcp.bytes], [3, 3 * 54]);
    const miss = byKey(6, 0, () => true);
    assert.deepEqual([miss.ours[0]!.packets, miss.ours[0]!.bytes], counters(miss.line));
    assert.equal(miss.ours[0]!.packets, sends.length);
    const fallback = byKey(5, 90, () => true);
    assert.deepEqual([fallback.ours[0]!.packets], [counters(fallback.line)[0]]);
    assert.equal(fallback.ours[0]!.packets, 1);
    // Decoded matches: what OVS prints, and the metric flows' rule ids.
    const nwSrc = ourTcp.match.find((f) => f.name === 'nw_src')!;
    assert.equal(formatOxmValue(nwSrc), '10.10.0.2');
    const metric = entries.filter((e) => e.tableId === 6 && e.priority === 200).map((e) => metricOf(e.match)).sort((a, b) => a.conjId! - b.conjId!);
    assert.deepEqual(metric, [{ conjId: 7, newSessions: false }, { conjId: 9, newSessions: false }]);
    // The exporter's learned counters: the same as the text parser reads from dump-flows.
    const ours = learnedCountersOf(await stats!.cursor({ tableId: 5, cookie: LEARNED_FLOWS }));
    const fromText = learnedCountersFromText((await ofctl('dump-flows', mgmt(), 'table=5')).stdout);
    const strip = (xs: typeof ours) => xs.map(({ durationS: _d, ...x }) => x).sort((a, b) => a.key.localeCompare(b.key));
    assert.equal(ours.length, 3);
    assert.deepEqual(strip(ours), strip(fromText));
    assert.deepEqual(ours.map((x) => x.packets).sort(), [1, 2, 3]);
    // Per-table flow counts from table stats equal what a dump counts.
    const byTable = await stats!.flowsByTable();
    assert.deepEqual(Object.fromEntries(byTable), { 0: 1, 5: 4, 6: 3 });
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
    const restarted = once(monitor!, 'restart');
    await reconnected;
    assert.ok(conn!.connected);
    await restarted; // the monitor's shared connection is back and a probe came through it
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
    // The earlier tests' users give their references back first.
    await monitor?.stop();
    await packetOuts?.close();
    await stats?.close();
    [monitor, packetOuts, stats] = [undefined, undefined, undefined];
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
