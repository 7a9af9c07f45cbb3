import assert from 'node:assert/strict';
import { packetInEvent, parsePacketLine } from '../../../src/agent/ovs/packet-in.js';
import { formatTcpFlags, parseFrame } from '../../../src/agent/ovs/packet-fields.js';
import { encodePacketOutAction, encodePacketOutMessage } from '../../../src/agent/ovs/packet-out.js';
import { decodePacketIn2, isPacketIn2 } from '../../../src/lib/openflow/packet-in2.js';
import { icmpEchoFrame, tcpSynFrame, udpFrame } from '../../../src/agent/ovs/frame.js';
import { parseFlowMod, asFlowError, FlowRejectedError, FlowSyntaxError } from '../../../src/agent/ovs/canonical.js';
import { CommandError } from '../../../src/lib/exec.js';

/** An NXT_PACKET_IN2 body as OVS builds it (ofputil_put_packet_in): properties padded to 8. */
function packetIn2(props: [number, Buffer][]): Buffer {
  const parts = [Buffer.from([0, 0, 0x23, 0x20, 0, 0, 0, 30])];
  for (const [type, v] of props) {
    const p = Buffer.alloc((4 + v.length + 7) & ~7);
    p.writeUInt16BE(type, 0);
    p.writeUInt16BE(4 + v.length, 2);
    v.copy(p, 4);
    parts.push(p);
  }
  return Buffer.concat(parts);
}
const hex = (h: string) => Buffer.from(h.replace(/ /g, ''), 'hex');

describe('packet-in decoding', () => {
  const icmp = icmpEchoFrame({ srcMac: '00:11:22:33:44:55', dstMac: 'aa:bb:cc:dd:ee:ff', srcIp: '10.0.0.1', dstIp: '10.0.0.2', dscp: 1 });

  it('decodes NXT_PACKET_IN2 properties: table, cookie, reason, metadata TLVs, userdata and the frame', () => {
    const body = packetIn2([
      [0, icmp],
      [3, Buffer.from([2])],
      [4, hex('00000000 0000700000000abc')], // 4 bytes of padding before a 64-bit property
      [5, Buffer.from([1])],
      // in_port (OXM, 32 bits), xreg0 with only reg0's half set (mask), tun_dst, ct_state new|trk
      [6, hex('80000004 00000001 80010110 0000000500000000 ffffffff00000000 00014004 0a000009 0001d204 00000021')],
      [7, Buffer.from([1, 2, 3])],
    ]);
    assert.ok(isPacketIn2({ version: 6, type: 4, length: body.length + 8, xid: 0, body }));
    const ev = packetInEvent(decodePacketIn2(body));
    assert.equal(ev.tableId, 2);
    assert.equal(ev.cookie, 0x700000000abcn);
    assert.equal(ev.reason, 'action');
    assert.equal(ev.totalLen, icmp.length);
    assert.equal(ev.inPort, 1);
    assert.deepEqual(ev.metadata, { reg0: '0x5', tun_dst: '10.0.0.9', ct_state: 'new|trk' });
    assert.deepEqual(ev.userdata, Buffer.from([1, 2, 3]));
    assert.deepEqual(ev.raw, icmp);
    assert.equal(ev.packet.protocol, 'icmp');
    assert.deepEqual([ev.packet.nwSrc, ev.packet.nwDst, ev.packet.dscp, ev.packet.nwTtl, ev.packet.icmpType], ['10.0.0.1', '10.0.0.2', 1, 64, 8]);
    assert.equal(ev.packet.fields.nw_tos, '4');
  });

  it('names reserved in_ports and reads full_len of a cut packet', () => {
    const ev = packetInEvent(decodePacketIn2(packetIn2([[0, icmp.subarray(0, 40)], [1, hex('00000062')], [6, hex('80000004 fffffffd')]])));
    assert.equal(ev.inPort, 'CONTROLLER');
    assert.equal(ev.totalLen, 98);
    assert.equal(ev.raw!.length, 40);
    assert.equal(ev.userdata, undefined);
  });

  it('refuses a property running past the message', () => {
    const body = packetIn2([[0, icmp]]);
    body.writeUInt16BE(500, 10);
    assert.throws(() => decodePacketIn2(body), /property 0 at offset 8 has length 500/);
  });

  it('reads TCP, UDP, ARP and IPv6 frames with the field names OVS prints', () => {
    const tcp = parseFrame(tcpSynFrame({ srcMac: '00:11:22:33:44:55', dstMac: 'aa:bb:cc:dd:ee:ff', srcIp: '10.0.0.1', dstIp: '10.0.0.2', srcPort: 12345, dstPort: 80 }));
    assert.deepEqual([tcp.protocol, tcp.tpSrc, tcp.tpDst, tcp.tcpFlags], ['tcp', 12345, 80, 'syn']);
    const udp = parseFrame(udpFrame({ srcMac: '00:11:22:33:44:55', dstMac: 'aa:bb:cc:dd:ee:ff', srcIp: '10.0.0.1', dstIp: '10.0.0.2', srcPort: 5353, dstPort: 53 }));
    assert.deepEqual([udp.protocol, udp.tpSrc, udp.tpDst, udp.fields.nw_frag], ['udp', 5353, 53, 'no']);
    const arp = parseFrame(hex('ffffffffffff aabbcc000001 0806 0001 0800 06 04 0001 aabbcc000001 0a000001 000000000000 0a000002'));
    assert.deepEqual([arp.protocol, arp.nwSrc, arp.nwDst, arp.fields.arp_op], ['arp', '10.0.0.1', '10.0.0.2', '1']);
    const v6 = parseFrame(hex('aabbccddeeff 001122334455 86dd 60000000 0008 3a 40 fd000000000000000000000000000001 fd000000000000000000000000000002 8000 0000 0000 0000'));
    assert.deepEqual([v6.protocol, v6.nwSrc, v6.nwDst, v6.icmpType], ['icmp6', 'fd00::1', 'fd00::2', 128]);
    assert.equal(formatTcpFlags(0x12), 'syn|ack');
  });

  it('parses packet lines of the text form (tests, debugging)', () => {
    const arp = parsePacketLine('arp,vlan_tci=0x0000,dl_src=aa:bb:cc:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff,arp_spa=10.0.0.1,arp_tpa=10.0.0.2,arp_op=1,arp_sha=aa:bb:cc:00:00:01,arp_tha=00:00:00:00:00:00');
    assert.deepEqual([arp.protocol, arp.nwSrc, arp.nwDst, arp.fields.arp_op], ['arp', '10.0.0.1', '10.0.0.2', '1']);
  });
});

describe('packet-out encoding', () => {
  it('encodes the actions the agent uses, and refuses others by name', () => {
    assert.equal(encodePacketOutAction('output:5').toString('hex'), '0000001000000005ffff000000000000');
    assert.equal(encodePacketOutAction('resubmit(,17)').toString('hex'), 'ffff001000002320000efff811000000');
    const ctl = encodePacketOutAction('controller(userdata=0a.0b.0c)');
    assert.equal(ctl.length, 24);
    assert.equal(ctl.toString('hex'), 'ffff001800002320002500000000000000030007 0a0b0c00'.replace(/ /g, ''));
    assert.throws(() => encodePacketOutAction('mod_dl_src:00:00:00:00:00:01'), /"mod_dl_src:00:00:00:00:00:01" is not supported/);
    const msg = encodePacketOutMessage({ inPort: 'controller', packetHex: 'aabb', actions: ['output:1'] });
    assert.equal(msg.toString('hex'), 'ffffffff001000000001000c80000004fffffffd000000000000001000000001ffff000000000000aabb');
  });
});

describe('frames', () => {
  const sum = (b: Buffer) => {
    let s = 0;
    for (let i = 0; i < b.length; i += 2) s += (b[i] << 8) + (b[i + 1] ?? 0);
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    return s;
  };
  it('builds an ICMP echo with valid IPv4 and ICMP checksums and the DSCP set', () => {
    const f = icmpEchoFrame({ srcMac: '00:11:22:33:44:55', dstMac: 'aa:bb:cc:dd:ee:ff', srcIp: '10.0.0.1', dstIp: '10.0.0.2', dscp: 1 });
    assert.equal(f.length, 14 + 20 + 64);
    assert.equal(f.readUInt16BE(12), 0x0800);
    assert.equal(f[15], 4);
    assert.equal(sum(f.subarray(14, 34)), 0xffff);
    assert.equal(sum(f.subarray(34)), 0xffff);
  });
  it('builds a TCP SYN', () => {
    const f = tcpSynFrame({ srcMac: '00:11:22:33:44:55', dstMac: 'aa:bb:cc:dd:ee:ff', srcIp: '10.0.0.1', dstIp: '10.0.0.2', srcPort: 12345, dstPort: 80 });
    assert.equal(f[23], 6);
    assert.equal(f[14 + 20 + 13], 0x02);
  });
});

describe('parse-flows output', () => {
  it('extracts canonical match and actions from a FLOW_MOD line', () => {
    assert.deepEqual(parseFlowMod('OFPT_FLOW_MOD (OF1.5) (xid=0x4): ADD table:3 priority=190,in_port=1 actions=set_field:0x3/0xf->reg0,resubmit(,4)'), {
      priority: 190, match: 'in_port=1', actions: 'set_field:0x3/0xf->reg0,resubmit(,4)',
    });
    assert.deepEqual(parseFlowMod('OFPT_FLOW_MOD (OF1.5) (xid=0x3): ADD priority=0 actions=drop'), { priority: 0, match: '', actions: 'drop' });
    assert.deepEqual(parseFlowMod('OFPT_FLOW_MOD (OF1.5) (xid=0x3): ADD table:5 actions=NORMAL'), { priority: 32768, match: '', actions: 'NORMAL' });
    assert.deepEqual(parseFlowMod('OFPT_FLOW_MOD (OF1.5) (xid=0x3): ADD table:5 reg1=0x5 actions=drop'), { priority: 32768, match: 'reg1=0x5', actions: 'drop' });
  });

  it('names the offending flow when ovs-ofctl refuses one', () => {
    const err = new CommandError('ovs-ofctl', { code: 1, stdout: '', stderr: 'ovs-ofctl: -:2: unknown keyword bogus\n' });
    const mapped = asFlowError(err, ['table=1, priority=1 actions=drop', 'table=1, priority=2,bogus=1 actions=drop']);
    assert.ok(mapped instanceof FlowSyntaxError);
    assert.match(mapped.message, /invalid flow "table=1, priority=2,bogus=1 actions=drop": unknown keyword bogus/);
  });

  it('names the flow the switch refused in a bundle', () => {
    // Captured from ovs-ofctl 3.1.0 --bundle add-flows with a flow pointing at a missing group.
    const stderr = 'Error OFPBAC_BAD_OUT_GROUP for: OFPT_FLOW_MOD (OF1.5) (xid=0x7): ADD table:11 priority=200,tcp,nw_dst=10.96.0.1,tp_dst=443 actions=group:99\nError OFPBFC_MSG_FAILED for: OFPT_BUNDLE_CONTROL (OF1.5) (xid=0xa):\n bundle_id=0 type=COMMIT_REQUEST flags=atomic ordered\novs-ofctl: talking to unix:/x/br-int.mgmt (Protocol error)\n';
    const mapped = asFlowError(new CommandError('ovs-ofctl', { code: 1, stdout: '', stderr }), []);
    assert.ok(mapped instanceof FlowRejectedError);
    assert.equal(mapped.ofpError, 'OFPBAC_BAD_OUT_GROUP');
    assert.equal(mapped.flow, 'ADD table:11 priority=200,tcp,nw_dst=10.96.0.1,tp_dst=443 actions=group:99');
  });
});
