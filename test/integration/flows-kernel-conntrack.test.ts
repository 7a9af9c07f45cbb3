// The kernel conntrack source on the real kernel table of a test network namespace: entries
// made with `conntrack -I` (zone 65520 and others, accounting on) come back through
// KernelConntrackSource with tuples, state, zone, mark and counters; stats() reads the
// namespace's count and bound; the agent's start turns accounting on, and a box without the
// conntrack tool gets one warning.
import assert from 'node:assert/strict';
import path from 'node:path';
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

  it('the agent\'s kernel source turns accounting on and says so; without the conntrack tool the exporter warns once', async () => {
    // A fresh namespace (accounting off, its default) and a private mount namespace whose
    // /usr/sbin is empty: the box has no conntrack tool.
    const fresh = `seine-kct2-${process.pid}`;
    await run('ip', ['netns', 'add', fresh]);
    try {
      const acct = () => run('ip', ['netns', 'exec', fresh, 'cat', '/proc/sys/net/netfilter/nf_conntrack_acct']).then((r) => r.stdout.trim());
      assert.equal(await acct(), '0');
      const src = path.resolve('src');
      const code = `
        const { KernelConntrackSource } = await import('${src}/agent/flows/kernel-conntrack.ts');
        const { FlowExporter } = await import('${src}/agent/flows/exporter.ts');
        const source = new KernelConntrackSource();
        await source.enableAccounting();
        const ex = new FlowExporter({ source, zone: 65520, inventory: { snapshot: () => ({ pods: new Map(), namespaces: new Map(), nodes: new Map() }) }, rule: () => undefined, pollIntervalMs: 100, sinks: [] });
        ex.start();
        await new Promise((r) => setTimeout(r, 1500));
        await ex.stop();
        process.stdout.write(JSON.stringify({ errors: ex.stats.errors }));`;
      const r = await run('ip', ['netns', 'exec', fresh, 'unshare', '-m', '--propagation', 'private', 'sh', '-c',
        'mount -t tmpfs none /usr/sbin && exec "$0" --import tsx --input-type=module -e "$1"', process.execPath, code]);
      const lines = r.stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { level: string; msg: string; err?: { message: string } });
      assert.equal(await acct(), '1', 'nf_conntrack_acct turned on in the agent\'s namespace');
      assert.ok(lines.some((l) => l.level === 'info' && /set net\.netfilter\.nf_conntrack_acct=1, net\.netfilter\.nf_conntrack_timestamp=1/.test(l.msg)), r.stderr);
      const polls = JSON.parse(r.stdout) as { errors: number };
      assert.ok(polls.errors >= 5, `the exporter kept polling (${polls.errors} failed polls)`);
      const warnings = lines.filter((l) => /flow poll failed/.test(l.msg));
      assert.equal(warnings.length, 1, r.stderr);
      assert.match(warnings[0]!.err!.message, /conntrack tool is missing.*apt-get install conntrack/);
    } finally {
      await run('ip', ['netns', 'del', fresh], { allowFailure: true });
    }
  });
});
