import assert from 'node:assert/strict';
import { PacketInParser, parsePacketLine, type PacketInEvent } from '../../../src/agent/ovs/packet-in.js';
import { icmpEchoFrame, tcpSynFrame } from '../../../src/agent/ovs/frame.js';
import { parseFlowMod, asFlowError, FlowRejectedError, FlowSyntaxError } from '../../../src/agent/ovs/canonical.js';
import { CommandError } from '../../../src/lib/exec.js';

// Captured from `ovs-ofctl -O OpenFlow15 monitor … 65534 -P nxt_packet_in2` (Open vSwitch 3.1.0).
const captured = `NXT_PACKET_IN2 (OF1.5) (xid=0x0): table_id=2 cookie=0x700000000abc total_len=99 reg0=0x5,in_port=1 (via action) data_len=99 (unbuffered)
 userdata=01.02.03
icmp,vlan_tci=0x0000,dl_src=00:11:22:33:44:55,dl_dst=aa:bb:cc:dd:ee:ff,nw_src=10.0.0.1,nw_dst=10.0.0.2,nw_tos=4,nw_ecn=0,nw_ttl=64,nw_frag=no,icmp_type=8,icmp_code=0 icmp_csum:4d56
2026-11-25T20:00:37Z|00001|vconn|INFO|something unrelated
NXT_PACKET_IN (OF1.5) (xid=0x0): table_id=2 cookie=0x0 total_len=55 reg0=0x5,in_port=1 (via action) data_len=55 (unbuffered)
tcp,vlan_tci=0x0000,dl_src=00:11:22:33:44:55,dl_dst=aa:bb:cc:dd:ee:ff,nw_src=10.0.0.1,nw_dst=10.0.0.2,nw_tos=0,nw_ecn=0,nw_ttl=64,nw_frag=no,tp_src=12345,tp_dst=80,tcp_flags=syn tcp_csum:0
`;

function parseAll(text: string): PacketInEvent[] {
  const p = new PacketInParser();
  return text.split('\n').map((l) => p.push(l)).filter((e): e is PacketInEvent => !!e);
}

describe('packet-in parsing', () => {
  it('parses NXT_PACKET_IN2 blocks with userdata and the packet line', () => {
    const [icmp, tcp] = parseAll(captured);
    assert.equal(icmp.tableId, 2);
    assert.equal(icmp.cookie, 0x700000000abcn);
    assert.equal(icmp.reason, 'action');
    assert.equal(icmp.totalLen, 99);
    assert.equal(icmp.inPort, 1);
    assert.deepEqual(icmp.metadata, { reg0: '0x5' });
    assert.deepEqual(icmp.userdata, Buffer.from([1, 2, 3]));
    assert.equal(icmp.packet.protocol, 'icmp');
    assert.equal(icmp.packet.nwSrc, '10.0.0.1');
    assert.equal(icmp.packet.nwDst, '10.0.0.2');
    assert.equal(icmp.packet.dscp, 1);
    assert.equal(icmp.packet.nwTtl, 64);
    assert.equal(icmp.packet.icmpType, 8);
    assert.equal(tcp.userdata, undefined);
    assert.equal(tcp.packet.protocol, 'tcp');
    assert.deepEqual([tcp.packet.tpSrc, tcp.packet.tpDst, tcp.packet.tcpFlags], [12345, 80, 'syn']);
  });

  it('ignores other messages and a header that never got its packet line', () => {
    const text = `OFPT_PORT_STATUS (OF1.5) (xid=0x0): ADD: 3(p3): addr:aa:aa:aa:aa:aa:aa
     config:     0
${captured}`;
    assert.equal(parseAll(text).length, 2);
    const p = new PacketInParser();
    p.push('NXT_PACKET_IN2 (OF1.5) (xid=0x0): table_id=1 cookie=0x0 total_len=10 in_port=CONTROLLER (via packet_out) data_len=10 (unbuffered)');
    const ev = p.push(captured.split('\n')[0]); // a new header replaces the unfinished one
    assert.equal(ev, undefined);
  });

  it('parses arp packet lines', () => {
    const arp = parsePacketLine('arp,vlan_tci=0x0000,dl_src=aa:bb:cc:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff,arp_spa=10.0.0.1,arp_tpa=10.0.0.2,arp_op=1,arp_sha=aa:bb:cc:00:00:01,arp_tha=00:00:00:00:00:00');
    assert.deepEqual([arp.protocol, arp.nwSrc, arp.nwDst, arp.fields.arp_op], ['arp', '10.0.0.1', '10.0.0.2', '1']);
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
