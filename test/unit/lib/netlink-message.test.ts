// Netlink framing without a kernel: header and attribute encoding byte for byte, splitting a
// multi-message reply, and error decoding (plain and with the kernel's extended-ack text).
import assert from 'node:assert/strict';
import { NLA_F_NESTED, NLM_F, NetlinkError, attr, attrList, attrNested, attrString, attrU16, attrU32, attrU32BE, codec, decodeAttrs, decodeError, decodeHeader, decodeIp, encodeAttrs, encodeIp, encodeMessage, errnoName, parseAttrs, readString, splitMessages } from '../../../src/lib/netlink/message.js';

describe('netlink message framing', () => {
  it('encodes a header with length, type and flags (seq and pid left for the socket)', () => {
    const m = encodeMessage(18, NLM_F.REQUEST | NLM_F.DUMP, Buffer.alloc(16));
    assert.equal(m.length, 32);
    assert.equal(m.toString('hex', 0, 16), '20000000' + '1200' + '0103' + '00000000' + '00000000');
    const h = decodeHeader(m);
    assert.deepEqual([h.type, h.flags, h.body.length], [18, 0x301, 16]);
  });

  it('pads attributes to 4 bytes and keeps the unpadded length in nla_len', () => {
    assert.equal(attrString(3, 'eth0').toString('hex'), '0900' + '0300' + '6574683000' + '000000');
    assert.equal(attrU16(1, 0x1234).toString('hex'), '0600010034120000');
    assert.equal(attrU32BE(2, 1).toString('hex'), '0800024000000001', 'network byte order flag 0x4000 set');
    const nested = attrNested(5, [attrU32(1, 7)]);
    assert.equal(nested.readUInt16LE(2), 5 | NLA_F_NESTED);
  });

  it('parses attributes back, stripping the flag bits, nested included', () => {
    const buf = Buffer.concat([attrString(3, 'veth-x'), attrU32(4, 1500), attrNested(18, [attrString(1, 'veth'), attr(2, Buffer.from([1, 2, 3]))])]);
    const a = parseAttrs(buf);
    assert.equal(readString(a.get(3)!), 'veth-x');
    assert.equal(a.get(4)!.readUInt32LE(0), 1500);
    const inner = attrList(a.get(18)!);
    assert.deepEqual(inner.map(([t]) => t), [1, 2]);
    assert.deepEqual([...inner[1][1]], [1, 2, 3]);
  });

  it('refuses an attribute whose length overruns the buffer', () => {
    const bad = attrU32(1, 1);
    bad.writeUInt16LE(40, 0);
    assert.throws(() => parseAttrs(bad), /attribute length 40 at offset 0 overruns 8 bytes/);
  });

  it('splits back-to-back messages and refuses a truncated one', () => {
    const a = encodeMessage(16, NLM_F.MULTI, Buffer.alloc(17)); // 33 bytes, padded to 36 in a reply
    const b = encodeMessage(3, NLM_F.MULTI, Buffer.alloc(4));
    const reply = Buffer.concat([a, Buffer.alloc(3), b]);
    const parts = splitMessages(reply);
    assert.deepEqual(parts.map((p) => p.length), [33, 20]);
    assert.deepEqual(parts.map((p) => decodeHeader(p).type), [16, 3]);
    assert.throws(() => splitMessages(reply.subarray(0, 30)), /nlmsg_len 33 at offset 0 overruns the 30-byte reply/);
  });

  it('decodes an ACK, an error, and an extended-ack message', () => {
    const body = (errno: number, extra: Buffer = Buffer.alloc(0)) => {
      const b = Buffer.alloc(4 + 16);
      b.writeInt32LE(-errno, 0);
      b.writeUInt32LE(16, 4); // the echoed request: its header only
      return Buffer.concat([b, extra]);
    };
    assert.deepEqual(decodeError(decodeHeader(encodeMessage(2, 0, body(0)))), { errno: 0 });
    assert.deepEqual(decodeError(decodeHeader(encodeMessage(2, 0, body(17)))), { errno: 17 });
    const ext = decodeError(decodeHeader(encodeMessage(2, 0x100 | 0x200, body(22, attrString(1, 'Nexthop device is not up')))));
    assert.deepEqual(ext, { errno: 22, kernelMessage: 'Nexthop device is not up' });
  });

  it('names errnos the way Node does', () => {
    assert.equal(errnoName(17), 'EEXIST');
    assert.equal(errnoName(19), 'ENODEV');
    const err = new NetlinkError('link add x', 17, 'exists');
    assert.equal(err.code, 'EEXIST');
    assert.equal(err.message, 'link add x: EEXIST (exists)');
  });

  it('encodes and decodes through an attribute table, in table order, skipping unset fields', () => {
    const table = { mac: [1, codec.mac], name: [3, codec.string], mtu: [4, codec.u32], gw: [5, codec.ip] } as const;
    const bufs = encodeAttrs(table, { name: 'antrea-gw0', mtu: 1450, mac: '0a:58:0a:f4:00:01' });
    assert.deepEqual(bufs.map((b) => b.readUInt16LE(2)), [1, 3, 4]);
    assert.equal(bufs[0].toString('hex'), '0a000100' + '0a580af40001' + '0000');
    const back = decodeAttrs(table, Buffer.concat([...bufs, attrU32(99, 7)]));
    assert.deepEqual(back, { mac: '0a:58:0a:f4:00:01', name: 'antrea-gw0', mtu: 1450 });
    assert.throws(() => encodeAttrs(table, { mac: '0a:58:0a:f4:00' }), /"0a:58:0a:f4:00" is not a MAC address/);
  });

  it('writes IPv4 and IPv6 addresses in network order and prints IPv6 the RFC 5952 way', () => {
    assert.equal(encodeIp('10.244.0.1').toString('hex'), '0af40001');
    assert.equal(encodeIp('fe80::1').toString('hex'), 'fe800000000000000000000000000001');
    assert.equal(decodeIp(encodeIp('fe80::1')), 'fe80::1');
    assert.equal(decodeIp(encodeIp('2001:db8:0:0:1:0:0:1')), '2001:db8::1:0:0:1');
    assert.equal(decodeIp(encodeIp('::')), '::');
    assert.equal(decodeIp(encodeIp('1:2:3:4:5:6:7:8')), '1:2:3:4:5:6:7:8');
    assert.throws(() => encodeIp('10.244.0.256'), /"10\.244\.0\.256" is not an IP address/);
    assert.throws(() => encodeIp('1::2::3'), /is not an IP address/);
  });
});
