// The ctnetlink codec on a dump captured from this machine's kernel (6.18; fixture made by
// test/fixtures/netlink/capture-conntrack.sh: real loopback TCP/UDP/ICMP/ICMPv6 connections in
// zone 65520 with counters, start times, a mark and ct labels, and one zone-0 entry), requests
// checked byte by byte against the kernel's layout, and malformed input refused by name.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  AF_INET, AF_INET6, AF_UNSPEC, decodeCtDump, decodeCtMessage, decodeStats, encodeCreateRequest, encodeDumpRequest, encodeStatsRequest,
  IPS,
} from '../../../src/lib/netlink/conntrack.js';
import { attr, splitMessages } from '../../../src/lib/netlink/message.js';

const DUMP = Buffer.from(readFileSync(new URL('../../fixtures/netlink/conntrack-dump.hex', import.meta.url), 'utf8').trim(), 'hex');

describe('lib/netlink/conntrack: ctnetlink codec', () => {
  const msgs = splitMessages(DUMP);

  it('splits the captured stream into its messages and ends on NLMSG_DONE', () => {
    assert.equal(msgs.length, 6);
    assert.equal(msgs.at(-1)!.readUInt16LE(4), 3, 'NLMSG_DONE');
    assert.equal(decodeCtMessage(msgs.at(-1)!), undefined);
    assert.throws(() => splitMessages(DUMP.subarray(0, 100)), /nlmsg_len \d+ at offset 0 overruns the 100-byte reply/);
  });

  it('decodes tuples, protocol, zone, mark, labels, status, TCP state, counters per direction, id and start time', () => {
    const all = decodeCtDump(msgs);
    assert.equal(all.length, 5);
    const tcp = all.find((e) => e.protocol === 6 && e.zone === 65520)!;
    assert.equal(tcp.family, AF_INET);
    assert.deepEqual(tcp.orig, { src: '127.0.0.1', dst: '127.0.0.1', sport: tcp.orig.sport, dport: 5001 });
    assert.ok(tcp.orig.sport >= 1024);
    assert.deepEqual(tcp.reply, { src: '127.0.0.1', dst: '127.0.0.1', sport: 5001, dport: tcp.orig.sport });
    assert.equal(tcp.tcpState, 'ESTABLISHED');
    assert.equal(tcp.mark, 3);
    assert.equal(tcp.labels, (1n << 33n) | (1n << 1n), 'iptables connlabel bits 1 and 33');
    assert.ok(tcp.status & IPS.ASSURED && tcp.status & IPS.SEEN_REPLY);
    // 1000 bytes one way, 10 back, over a handshake: IP bytes per direction as conntrack counts them.
    assert.deepEqual(tcp.counters, { packets: 4, octets: 1216, reversePackets: 3, reverseOctets: 174 });
    assert.ok(tcp.id! > 0);
    assert.ok(tcp.timeout! > 400_000, 'established TCP timeout (5 days)');
    // CTA_TIMESTAMP_START 0x18ef038d_293cdabe ns = 1796658681.161243326 s (the capture's time).
    assert.equal(tcp.startSeconds, 1796658681);

    const udp = all.find((e) => e.protocol === 17)!;
    assert.deepEqual(udp.counters, { packets: 1, octets: 48, reversePackets: 0, reverseOctets: 0 });
    assert.equal(udp.orig.dport, 53);
    assert.equal(udp.tcpState, '');
    assert.equal(udp.status & IPS.SEEN_REPLY, 0);

    const icmp = all.find((e) => e.protocol === 1)!;
    assert.deepEqual([icmp.orig.sport, icmp.orig.dport, icmp.icmpType, icmp.icmpCode], [0, 0, 8, 0]);
    assert.ok(icmp.icmpId! > 0);
    assert.equal(icmp.counters!.packets, 2);

    const v6 = all.find((e) => e.family === AF_INET6)!;
    assert.deepEqual([v6.protocol, v6.orig.src, v6.reply.dst, v6.icmpType], [58, '::1', '::1', 128]);

    const zone0 = all.find((e) => e.zone === 0)!;
    assert.deepEqual(zone0.orig, { src: '192.168.0.1', dst: '192.168.0.2', sport: 1, dport: 2 });
    assert.equal(decodeCtDump(msgs, 65520).length, 4, 'zone filter');
  });

  it('skips attribute types it does not know; a length past the end is an error', () => {
    // A copy of the TCP message with an unknown attribute (type 200) appended.
    const m = msgs.find((b) => decodeCtMessage(b)?.protocol === 6 && decodeCtMessage(b)?.zone === 65520)!;
    const extra = attr(200, Buffer.from([1, 2, 3, 4, 5]));
    const b = Buffer.concat([m, extra]);
    b.writeUInt32LE(b.length, 0);
    assert.deepEqual(decodeCtMessage(b), decodeCtMessage(m));
    // The same attribute with a length past the message's end is an error, not a silent read.
    const bad = Buffer.from(b);
    bad.writeUInt16LE(200, m.length);
    assert.throws(() => decodeCtMessage(bad), /bad attribute length 200 at byte \d+/);
  });

  it('turns an NLMSG_ERROR into its errno name', () => {
    const err = Buffer.alloc(36);
    err.writeUInt32LE(36, 0);
    err.writeUInt16LE(2, 4);
    err.writeInt32LE(-1, 16);
    assert.throws(() => decodeCtMessage(err), /ctnetlink: EPERM \(errno 1\)/);
    err.writeInt32LE(0, 16);
    assert.equal(decodeCtMessage(err), undefined, 'an ACK');
  });

  it('encodes the dump request as the kernel expects it (nlmsghdr, nfgenmsg, CTA_ZONE, mark filter)', () => {
    const plain = encodeDumpRequest();
    // len 20, type CTNETLINK<<8|CT_GET, flags REQUEST|DUMP, seq and pid (the socket's), AF_INET.
    assert.equal(plain.toString('hex'), '14000000' + '0101' + '0103' + '00000000' + '00000000' + '02000000');
    const z = encodeDumpRequest({ family: AF_UNSPEC, zone: 65520, mark: { value: 3, mask: 0xff } });
    assert.equal(z.readUInt32LE(0), z.length);
    assert.equal(z[16], AF_UNSPEC);
    // CTA_ZONE (18) = 0xfff0 big-endian, padded; CTA_MARK (8), CTA_MARK_MASK (21).
    assert.equal(z.subarray(20).toString('hex'), '06001200fff00000' + '0800080000000003' + '08001500000000ff');
    assert.throws(() => encodeDumpRequest({ zone: 70000 }), /zone: 70000 is not an integer in 0\.\.65535/);
    assert.equal(encodeStatsRequest().toString('hex'), '14000000' + '0501' + '0500' + '00000000' + '00000000' + '00000000');
  });

  it('a create request decodes back to the same connection (round trip through the shared attribute tables)', () => {
    const req = encodeCreateRequest({
      protocol: 6, orig: { src: '10.42.0.2', dst: '10.42.1.2', sport: 40000, dport: 5001 }, reply: { src: '10.42.1.2', dst: '10.42.0.2', sport: 5001, dport: 40000 },
      zone: 65520, mark: 3, labels: 0x200000003n, timeout: 300, tcpState: 3, status: IPS.ASSURED | IPS.SEEN_REPLY,
    });
    // As the kernel would echo it: a NEW message (same layout, NEW type).
    const e = decodeCtMessage(req)!;
    assert.deepEqual(e, {
      family: AF_INET, protocol: 6, orig: { src: '10.42.0.2', dst: '10.42.1.2', sport: 40000, dport: 5001 }, reply: { src: '10.42.1.2', dst: '10.42.0.2', sport: 5001, dport: 40000 },
      icmpId: undefined, icmpType: undefined, icmpCode: undefined, zone: 65520, mark: 3, labels: 0x200000003n, status: IPS.ASSURED | IPS.SEEN_REPLY,
      timeout: 300, id: undefined, tcpState: 'ESTABLISHED', counters: undefined, startSeconds: undefined,
    });
    const v6 = decodeCtMessage(encodeCreateRequest({ family: AF_INET6, protocol: 58, orig: { src: 'fd00::1', dst: 'fd00::2:0:0:5', sport: 0, dport: 0 }, reply: { src: 'fd00::2:0:0:5', dst: 'fd00::1', sport: 0, dport: 0 }, icmp: { id: 9, type: 128, code: 0, replyType: 129 }, timeout: 30 }))!;
    assert.deepEqual([v6.orig.src, v6.orig.dst, v6.icmpId, v6.icmpType], ['fd00::1', 'fd00::2:0:0:5', 9, 128]);
    assert.throws(() => encodeCreateRequest({ protocol: 6, orig: { src: '10.0.0.300', dst: '10.0.0.1', sport: 1, dport: 2 }, reply: { src: '10.0.0.1', dst: '10.0.0.2', sport: 2, dport: 1 }, timeout: 1 }), /address: 10\.0\.0\.300 is not an IPv4 address/);
  });

  it('reads the table count and bound from a stats reply', () => {
    const reply = Buffer.concat([Buffer.alloc(20), attr(1, Buffer.from('00000007', 'hex')), attr(2, Buffer.from('00040000', 'hex'))]);
    reply.writeUInt32LE(reply.length, 0);
    reply.writeUInt16LE(0x0105, 4);
    assert.deepEqual(decodeStats([reply]), { total: 7, max: 262144 });
    assert.throws(() => decodeStats([]), /no IPCTNL_MSG_CT_GET_STATS reply/);
  });
});
