import assert from 'node:assert/strict';
import { checksum, icmpEchoFrame, tcpSynFrame, udpFrame } from '../../../src/agent/ovs/frame.js';
import { ICMP_PORT_UNREACHABLE, icmpUnreachable, rejectFrame, tcpReset } from '../../../src/agent/policy/reject-frames.js';
import { OP_REJECT, decodeUserdata, encodeServiceNoEndpointUserdata, encodeUserdata } from '../../../src/agent/policy/userdata.js';
import { TokenBucket, rejectPacketOut } from '../../../src/agent/policy/reject.js';

const spec = { srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', srcIp: '10.10.1.2', dstIp: '10.10.2.3' };
const ip = (f: Buffer) => f.subarray(14, 34);
const addr = (b: Buffer, off: number) => [...b.subarray(off, off + 4)].join('.');
/** The checksum over a header that includes its checksum field is 0 when the field is right. */
const tcpOk = (f: Buffer) => {
  const tcp = f.subarray(34);
  const pseudo = Buffer.concat([f.subarray(26, 34), Buffer.from([0, 6, tcp.length >> 8, tcp.length & 0xff])]);
  return checksum(Buffer.concat([pseudo, tcp])) === 0;
};

describe('reject frames', () => {
  it('computes the Internet checksum of a known-good IPv4 header', () => {
    // RFC 1071 worked example as in the usual textbook header (checksum 0xb861).
    const hdr = Buffer.from('450000730000400040110000c0a80001c0a800c7', 'hex');
    assert.equal(checksum(hdr), 0xb861);
    hdr.writeUInt16BE(0xb861, 10);
    assert.equal(checksum(hdr), 0);
  });

  it('answers a SYN with RST+ACK: swapped addresses and ports, ack = seq + 1, valid checksums', () => {
    const syn = tcpSynFrame({ ...spec, srcPort: 40000, dstPort: 5001, seq: 0xfffffff0 });
    const r = tcpReset(syn)!;
    const f = r.frame;
    assert.equal(f.subarray(0, 6).toString('hex'), '020000000001');
    assert.equal(f.subarray(6, 12).toString('hex'), '020000000002');
    assert.equal(addr(f, 26), '10.10.2.3');
    assert.equal(addr(f, 30), '10.10.1.2');
    assert.equal(checksum(ip(f)), 0);
    assert.equal(f.readUInt16BE(34), 5001);
    assert.equal(f.readUInt16BE(36), 40000);
    assert.equal(f.readUInt32BE(38), 0);
    assert.equal(f.readUInt32BE(42), 0xfffffff1);
    assert.equal(f[47], 0x14); // RST|ACK
    assert.ok(tcpOk(f));
    assert.equal(f.length, 54);
  });

  it('answers a segment carrying an ACK with a bare RST whose seq is that ack', () => {
    const seg = tcpSynFrame({ ...spec, srcPort: 40000, dstPort: 5001, seq: 7 });
    seg[47] = 0x10; // ACK only
    seg.writeUInt32BE(123456, 42);
    seg.writeUInt16BE(0, 50);
    const f = tcpReset(seg)!.frame;
    assert.equal(f.readUInt32BE(38), 123456);
    assert.equal(f[47], 0x04);
    assert.ok(tcpOk(f));
  });

  it('never answers a RST', () => {
    const rst = tcpSynFrame({ ...spec, srcPort: 1, dstPort: 2 });
    rst[47] = 0x04;
    assert.equal(tcpReset(rst), undefined);
    assert.equal(rejectFrame(rst), undefined);
  });

  it('answers ICMP echo with type 3 code 10 quoting the IP header and 8 bytes', () => {
    const echo = icmpEchoFrame({ ...spec, id: 9, seq: 3 });
    const r = rejectFrame(echo)!;
    assert.equal(r.kind, 'icmp-unreachable');
    const f = r.frame;
    assert.equal(checksum(ip(f)), 0);
    assert.equal(f[23], 1);
    assert.equal(addr(f, 30), '10.10.1.2');
    const icmp = f.subarray(34);
    assert.deepEqual([icmp[0], icmp[1]], [3, 10]);
    assert.equal(checksum(icmp), 0);
    assert.deepEqual(icmp.subarray(8), echo.subarray(14, 14 + 28));
  });

  it('answers UDP to a Service without endpoints with port unreachable (type 3 code 3), TCP still with a RST', () => {
    const udp = udpFrame({ ...spec, srcPort: 40000, dstPort: 53 });
    const f = rejectFrame(udp, ICMP_PORT_UNREACHABLE)!.frame;
    assert.deepEqual([f[23], f[34], f[35], addr(f, 26)], [1, 3, 3, '10.10.2.3']);
    assert.equal(checksum(f.subarray(34)), 0);
    assert.equal(rejectFrame(tcpSynFrame({ ...spec, srcPort: 1, dstPort: 80 }), ICMP_PORT_UNREACHABLE)!.kind, 'tcp-rst');
  });

  it('tells a Service-without-endpoint packet-in from a policy one by its category', () => {
    const svc = Buffer.from(encodeServiceNoEndpointUserdata().replaceAll('.', ''), 'hex');
    assert.deepEqual(decodeUserdata(svc), { operations: OP_REJECT, direction: 'ingress', conjId: 0, reason: 'serviceNoEndpoint' });
    const policy = Buffer.from(encodeUserdata({ operations: OP_REJECT, direction: 'egress', conjId: 7 }).replaceAll('.', ''), 'hex');
    assert.equal(decodeUserdata(policy)!.reason, 'policy');
  });

  it('does not answer an ICMP error', () => {
    const echo = icmpEchoFrame({ ...spec });
    const err = icmpUnreachable(echo)!.frame;
    assert.equal(icmpUnreachable(err), undefined);
  });

  it('injects answers for local senders at their port, for remote ones into L3Forwarding', () => {
    const ports = { l3ForwardingTable: 17, gatewayPort: 2, tunnelPort: 1 };
    assert.deepEqual(rejectPacketOut(5, 'aa', ports).actions, ['output:5']);
    assert.deepEqual(rejectPacketOut(1, 'aa', ports).actions, ['resubmit(,17)']);
    assert.deepEqual(rejectPacketOut(2, 'aa', ports).actions, ['resubmit(,17)']);
  });

  it('rate-limits with a token bucket', () => {
    let now = 0;
    const b = new TokenBucket(10, 2, () => now);
    assert.deepEqual([b.take(), b.take(), b.take()], [true, true, false]);
    now = 100;
    assert.equal(b.take(), true);
    assert.equal(b.take(), false);
  });
});
