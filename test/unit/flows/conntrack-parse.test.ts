// Parsers of the two conntrack sources, on output captured from the real tools (OVS 3.1
// dpctl/dump-conntrack -m -s in a lab box; a ctnetlink dump of real connections in a test netns,
// test/fixtures/netlink), and the learned-flow counters joined to entries.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { learnedCookie, learnedCounters, learnedCountersFromText, LearnedKind, parseLearnedMatch } from '../../../src/agent/flows/accounting.js';
import { connectionKey } from '../../../src/agent/flows/conntrack.js';
import { kernelEntries } from '../../../src/agent/flows/kernel-conntrack.js';
import { splitMessages } from '../../../src/lib/netlink/message.js';
import { attachCounters, parseGeneral, parseOvsConntrack, parseOvsConntrackLine, splitTopLevel } from '../../../src/agent/flows/ovs-conntrack.js';
import { parseDumpFlows } from '../../../src/agent/ovs/flow.js';

const OVS = `icmp,orig=(src=10.42.0.2,dst=10.42.1.2,id=11014,type=8,code=0),reply=(src=10.42.1.2,dst=10.42.0.2,id=11014,type=0,code=0),id=0,zone=65520,status=0,timeout=29,mark=3
udp,orig=(src=10.42.0.2,dst=10.42.1.3,sport=34826,dport=9999),reply=(src=10.42.1.3,dst=10.42.0.2,sport=9999,dport=34826),id=0,zone=65520,status=0,timeout=59,mark=3
tcp,orig=(src=10.42.0.2,dst=10.42.1.2,sport=53644,dport=5001),reply=(src=10.42.1.2,dst=10.42.0.2,sport=5001,dport=53644),id=0,zone=65520,status=0,timeout=29,mark=5,labels=0x200000003,protoinfo=(state_orig=FIN_WAIT_2,state_reply=FIN_WAIT_2,wscale_orig=10,wscale_reply=10,flags_orig=WINDOW_SCALE,flags_reply=WINDOW_SCALE)
tcp,orig=(src=10.42.0.9,dst=10.43.0.10,sport=40000,dport=80),reply=(src=10.42.1.5,dst=10.42.0.9,sport=8080,dport=40000),id=0,zone=65520,status=0,timeout=86399,mark=0x13,protoinfo=(state_orig=ESTABLISHED,state_reply=ESTABLISHED)
udp,orig=(src=172.31.250.11,dst=172.31.250.12,sport=1,dport=2),reply=(src=172.31.250.12,dst=172.31.250.11,sport=2,dport=1),id=0,zone=0,status=0,timeout=30
`;

const KERNEL_DUMP = splitMessages(Buffer.from(readFileSync(new URL('../../fixtures/netlink/conntrack-dump.hex', import.meta.url), 'utf8').trim(), 'hex'));

describe('conntrack sources: parsers', () => {
  it('splits OVS key=value lists at top-level commas only', () => {
    assert.deepEqual(splitTopLevel('a=1,b=(c=2,d=(e=3)),f'), [['a', '1'], ['b', '(c=2,d=(e=3))'], ['f', '']]);
  });

  it('parses OVS userspace entries: tuples, zone, mark, labels, TCP state, ICMP id', () => {
    const all = parseOvsConntrack(OVS);
    assert.equal(all.length, 5);
    const [icmp, udp, tcp, nat] = all;
    assert.deepEqual(icmp!.orig, { src: '10.42.0.2', dst: '10.42.1.2', sport: 0, dport: 0 });
    assert.equal(icmp!.icmpId, 11014);
    assert.equal(icmp!.protocol, 1);
    assert.equal(udp!.protocol, 17);
    assert.equal(udp!.timeout, 59);
    assert.equal(udp!.tcpState, '');
    assert.deepEqual(tcp!.orig, { src: '10.42.0.2', dst: '10.42.1.2', sport: 53644, dport: 5001 });
    assert.deepEqual(tcp!.reply, { src: '10.42.1.2', dst: '10.42.0.2', sport: 5001, dport: 53644 });
    assert.equal(tcp!.labels, 0x200000003n);
    assert.equal(tcp!.mark, 5);
    assert.equal(tcp!.zone, 65520);
    assert.equal(tcp!.tcpState, 'FIN_WAIT_2');
    assert.equal(nat!.mark, 0x13);
    assert.equal(parseOvsConntrack(OVS, 65520).length, 4, 'zone filter');
    assert.equal(parseOvsConntrackLine('Connections Stats:'), undefined);
    // The regex fast path and the general parser agree.
    for (const line of OVS.trim().split('\n')) assert.deepEqual(parseOvsConntrackLine(line), parseGeneral(line));
    assert.equal(parseOvsConntrackLine(''), undefined);
  });

  it('maps kernel ctnetlink entries (a dump captured from this kernel) to the source\'s: counters per direction, state, zone, labels, start time', () => {
    const all = kernelEntries(KERNEL_DUMP, 65520);
    assert.equal(all.length, 3, 'the pod zone\'s IPv4 entries (the capture, AF_UNSPEC, also holds an ICMPv6 one)');
    const tcp = all.find((e) => e.protocol === 6)!;
    assert.equal(tcp.tcpState, 'ESTABLISHED');
    assert.deepEqual(tcp.counters, { packets: 4, octets: 1216, reversePackets: 3, reverseOctets: 174 });
    assert.equal(tcp.zone, 65520);
    assert.equal(tcp.mark, 3);
    assert.equal(tcp.labels, 0x200000002n);
    assert.ok(tcp.startSeconds! > 1_700_000_000 && tcp.startSeconds! < 2_000_000_000);
    assert.equal(tcp.icmpId, undefined);
    const icmp = all.find((e) => e.protocol === 1)!;
    assert.ok(icmp.icmpId! > 0, 'the echo id');
    assert.deepEqual([icmp.orig.sport, icmp.orig.dport, icmp.tcpState], [0, 0, '']);
    const udp = all.find((e) => e.protocol === 17)!;
    assert.deepEqual(udp.counters, { packets: 1, octets: 48, reversePackets: 0, reverseOctets: 0 });
    assert.equal(kernelEntries(KERNEL_DUMP, 0).length, 1, 'the zone-0 entry only');
    assert.notEqual(connectionKey(tcp), connectionKey(udp));
  });

  it('reads learned counter flows and joins them to userspace entries (IP bytes, NAT-aware)', () => {
    const c = learnedCookie(LearnedKind.Connection);
    const dump = ` cookie=0x${c.toString(16)}, duration=2.615s, table=29, n_packets=75, n_bytes=104958, idle_timeout=300, idle_age=1, priority=100,tcp,nw_src=10.42.0.2,nw_dst=10.42.1.2,tp_src=53644,tp_dst=5001 actions=drop
 cookie=0x${c.toString(16)}, duration=2.615s, table=29, n_packets=26, n_bytes=1724, idle_timeout=300, idle_age=1, priority=100,tcp,nw_src=10.42.1.2,nw_dst=10.42.0.2,tp_src=5001,tp_dst=53644 actions=drop
 cookie=0x${c.toString(16)}, duration=1s, table=29, n_packets=1, n_bytes=98, idle_timeout=300, priority=100,icmp,nw_src=10.42.0.2,nw_dst=10.42.1.2 actions=drop
 cookie=0xa0000000000, duration=3s, table=29, n_packets=9, n_bytes=900, priority=2,ct_state=+trk,tcp actions=drop
`;
    const counters = learnedCounters(parseDumpFlows(dump));
    assert.deepEqual(learnedCountersFromText(dump), counters, 'the fast text parser reads the same');
    assert.equal(counters.length, 3, 'only learned flows');
    assert.equal(counters[0]!.octets, 104958 - 14 * 75);
    const entries = parseOvsConntrack(OVS, 65520);
    attachCounters(entries, counters);
    assert.deepEqual(entries[2]!.counters, { packets: 75, octets: 104958 - 14 * 75, reversePackets: 26, reverseOctets: 1724 - 14 * 26 });
    assert.deepEqual(entries[0]!.counters, { packets: 1, octets: 84, reversePackets: 0, reverseOctets: 0 });
    assert.deepEqual(parseLearnedMatch('priority=100,ip,nw_src=1.1.1.1,nw_dst=2.2.2.2,nw_proto=47'), { protocol: 47, src: '1.1.1.1', dst: '2.2.2.2', sport: 0, dport: 0 });
  });
});
