// The kernel conntrack source on the real kernel table of a test network namespace: entries
// made with `conntrack -I` (zone 65520 and others, accounting on) come back through
// KernelConntrackSource with tuples, state, zone, mark and counters; stats() reads the
// namespace's count and bound.
import assert from 'node:assert/strict';
import { KernelConntrackSource } from '../../src/agent/flows/kernel-conntrack.js';
import { run } from '../../src/lib/exec.js';
import { requirePrereqs } from '../helpers/prereqs.js';

describe('kernel conntrack source (real kernel table in a netns)', function () {
  this.timeout(30_000);
  const netns = `seine-kct-${process.pid}`;

  before(async () => {
    requirePrereqs('root', 'ip', 'conntrack');
    await run('ip', ['netns', 'add', netns]);
    const ns = (...args: string[]) => run('ip', ['netns', 'exec', netns, ...args]);
    await ns('sysctl', '-qw', 'net.netfilter.nf_conntrack_acct=1');
    await ns('conntrack', '-I', '-p', 'tcp', '-s', '10.42.0.2', '-d', '10.42.1.2', '--sport', '40000', '--dport', '5001', '--state', 'ESTABLISHED', '-u', 'ASSURED', '-t', '300', '-m', '3', '-w', '65520');
    await ns('conntrack', '-I', '-p', 'udp', '-s', '10.42.0.3', '-d', '10.42.1.3', '--sport', '40001', '--dport', '53', '-t', '30', '-w', '65520');
    await ns('conntrack', '-I', '-p', 'icmp', '-s', '10.42.0.2', '-d', '10.42.1.3', '--icmp-type', '8', '--icmp-code', '0', '--icmp-id', '77', '-t', '30', '-w', '65520');
    await ns('conntrack', '-I', '-p', 'tcp', '-s', '192.168.0.1', '-d', '192.168.0.2', '--sport', '1', '--dport', '2', '--state', 'ESTABLISHED', '-t', '300');
  });

  after(async () => {
    await run('ip', ['netns', 'del', netns], { allowFailure: true });
  });

  it('dumps the pod zone only, with tuples, TCP state, mark, ICMP id and per-direction counters', async () => {
    const src = new KernelConntrackSource({ netns });
    const entries = await src.dump(65520);
    assert.equal(entries.length, 3, JSON.stringify(entries, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)));
    const tcp = entries.find((e) => e.protocol === 6)!;
    assert.deepEqual(tcp.orig, { src: '10.42.0.2', dst: '10.42.1.2', sport: 40000, dport: 5001 });
    assert.deepEqual(tcp.reply, { src: '10.42.1.2', dst: '10.42.0.2', sport: 5001, dport: 40000 });
    assert.equal(tcp.tcpState, 'ESTABLISHED');
    assert.equal(tcp.mark, 3);
    assert.equal(tcp.zone, 65520);
    assert.deepEqual(tcp.counters, { packets: 0, octets: 0, reversePackets: 0, reverseOctets: 0 }, 'accounting on: counters present (no packets went through)');
    assert.equal(entries.find((e) => e.protocol === 1)!.icmpId, 77);
    assert.equal(entries.find((e) => e.protocol === 17)!.orig.dport, 53);
  });

  it('reads the table size and bound', async () => {
    const s = await new KernelConntrackSource({ netns }).stats();
    assert.equal(s.total, 4);
    assert.ok(s.max > 0);
  });
});
