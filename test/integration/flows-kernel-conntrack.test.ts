// The kernel conntrack source on the real kernel table of a test network namespace, over
// ctnetlink: entries made with `conntrack -I` (zone 65520 and others), one made over netlink with
// ct labels, and real ICMP traffic through the namespace's loopback (accounting on) come back
// through KernelConntrackSource with tuples, state, zone, mark, labels, counters and start
// times; stats() reads the namespace's count and bound; the agent's start turns accounting on,
// and the source polls with no conntrack tool on the box and no child process at all; without
// the native addon the exporter warns once, saying how to build it.
import assert from 'node:assert/strict';
import path from 'node:path';
import { KernelConntrackSource } from '../../src/agent/flows/kernel-conntrack.js';
import { run } from '../../src/lib/exec.js';
import { encodeCreateRequest } from '../../src/lib/netlink/conntrack.js';
import { NETLINK_NETFILTER, openNetlink } from '../../src/lib/netlink/socket.js';
import { requirePrereqs } from '../helpers/prereqs.js';

const nsPath = (name: string) => `/var/run/netns/${name}`;

/** One labelled TCP connection in zone 65520, created over ctnetlink (the conntrack tool needs a connlabel.conf for labels). */
function createLabelled(netns: string): void {
  const sock = openNetlink(NETLINK_NETFILTER, { netns: nsPath(netns) });
  try {
    sock.request(encodeCreateRequest({
      protocol: 6, orig: { src: '10.42.0.4', dst: '10.42.1.4', sport: 40004, dport: 443 }, reply: { src: '10.42.1.4', dst: '10.42.0.4', sport: 443, dport: 40004 },
      zone: 65520, mark: 5, labels: (7n << 32n) | 9n, timeout: 120, tcpState: 7 /* TIME_WAIT */,
    }));
  } finally {
    sock.close();
  }
}

describe('kernel conntrack source (real kernel table in a netns, ctnetlink)', function () {
  this.timeout(30_000);
  const netns = `seine-kct-${process.pid}`;

  before(async () => {
    requirePrereqs('root', 'ip', 'conntrack', 'iptables', 'ping', 'native');
    await run('ip', ['netns', 'add', netns]);
    const ns = (...args: string[]) => run('ip', ['netns', 'exec', netns, ...args]);
    await ns('sysctl', '-qw', 'net.netfilter.nf_conntrack_acct=1', 'net.netfilter.nf_conntrack_timestamp=1');
    await ns('conntrack', '-I', '-p', 'tcp', '-s', '10.42.0.2', '-d', '10.42.1.2', '--sport', '40000', '--dport', '5001', '--state', 'ESTABLISHED', '-u', 'ASSURED', '-t', '300', '-m', '3', '-w', '65520');
    await ns('conntrack', '-I', '-p', 'udp', '-s', '10.42.0.3', '-d', '10.42.1.3', '--sport', '40001', '--dport', '53', '-t', '30', '-w', '65520');
    await ns('conntrack', '-I', '-p', 'icmp', '-s', '10.42.0.2', '-d', '10.42.1.3', '--icmp-type', '8', '--icmp-code', '0', '--icmp-id', '77', '-t', '30', '-w', '65520');
    await ns('conntrack', '-I', '-p', 'tcp', '-s', '192.168.0.1', '-d', '192.168.0.2', '--sport', '1', '--dport', '2', '--state', 'ESTABLISHED', '-t', '300');
    // A connlabel rule makes the namespace keep labels at all; then one entry with labels.
    await ns('iptables', '-A', 'OUTPUT', '-m', 'connlabel', '--label', '0');
    createLabelled(netns);
    // Real traffic, counted: 3 echo requests and replies on loopback, tracked in zone 65520.
    await ns('ip', 'link', 'set', 'lo', 'up');
    await ns('iptables', '-t', 'raw', '-A', 'OUTPUT', '-p', 'icmp', '-j', 'CT', '--zone', '65520');
    await ns('ping', '-c', '3', '-i', '0.2', '-q', '127.0.0.1');
  });

  after(async () => {
    await run('ip', ['netns', 'del', netns], { allowFailure: true });
  });

  it('dumps the pod zone only, with tuples, TCP state, mark, labels, ICMP id, per-direction counters and start times', async () => {
    const src = new KernelConntrackSource({ netns: nsPath(netns) });
    try {
      const entries = await src.dump(65520);
      assert.equal(entries.length, 5, JSON.stringify(entries, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)));
      const tcp = entries.find((e) => e.protocol === 6 && e.orig.dport === 5001)!;
      assert.deepEqual(tcp.orig, { src: '10.42.0.2', dst: '10.42.1.2', sport: 40000, dport: 5001 });
      assert.deepEqual(tcp.reply, { src: '10.42.1.2', dst: '10.42.0.2', sport: 5001, dport: 40000 });
      assert.equal(tcp.tcpState, 'ESTABLISHED');
      assert.equal(tcp.mark, 3);
      assert.equal(tcp.zone, 65520);
      assert.ok(tcp.timeout! > 250 && tcp.timeout! <= 300, `timeout ${tcp.timeout}`);
      assert.deepEqual(tcp.counters, { packets: 0, octets: 0, reversePackets: 0, reverseOctets: 0 }, 'accounting on: counters present (no packets went through)');
      const nowS = Date.now() / 1000;
      assert.ok(Math.abs(tcp.startSeconds! - nowS) < 60, `start time ${tcp.startSeconds} is now (${nowS})`);
      assert.equal(entries.find((e) => e.protocol === 1 && e.orig.src === '10.42.0.2')!.icmpId, 77);
      assert.equal(entries.find((e) => e.protocol === 17)!.orig.dport, 53);
      const labelled = entries.find((e) => e.orig.dport === 443)!;
      assert.equal(labelled.labels, (7n << 32n) | 9n, 'ct_label read as its 128 bits');
      assert.equal(labelled.tcpState, 'TIME_WAIT');
      assert.equal(labelled.mark, 5);
      const ping = entries.find((e) => e.protocol === 1 && e.orig.src === '127.0.0.1')!;
      // 3 echo requests of 84 IP bytes each way.
      assert.deepEqual(ping.counters, { packets: 3, octets: 252, reversePackets: 3, reverseOctets: 252 });
      // The kept socket answers again, and the zone-0 entry is there for the asking.
      assert.equal((await src.dump(0)).length, 1);
    } finally {
      src.close();
    }
  });

  it('reads the table size and bound', async () => {
    const src = new KernelConntrackSource({ netns: nsPath(netns) });
    const s = await src.stats();
    src.close();
    assert.equal(s.total, 6);
    const max = Number((await run('sysctl', ['-n', 'net.netfilter.nf_conntrack_max'])).stdout.trim());
    assert.equal(s.max, max);
  });

  it('refuses a namespace path that is not one, naming the option', () => {
    assert.throws(() => new KernelConntrackSource({ netns: 'seine-kct' }), /kernel conntrack source: netns: must be an absolute path to a network namespace/);
  });

  it('the agent\'s kernel source turns accounting on and says so, and polls with no conntrack tool and no child process', async () => {
    // A fresh namespace (accounting off, its default) with one connection, and a private mount
    // namespace whose /usr/sbin is empty: the box has no conntrack tool. The child also counts
    // every process Node starts (child_process.spawn and friends).
    const fresh = `seine-kct2-${process.pid}`;
    await run('ip', ['netns', 'add', fresh]);
    try {
      const acct = () => run('ip', ['netns', 'exec', fresh, 'cat', '/proc/sys/net/netfilter/nf_conntrack_acct']).then((r) => r.stdout.trim());
      assert.equal(await acct(), '0');
      createLabelled(fresh);
      const src = path.resolve('src');
      const code = `
        const cp = (await import('node:child_process')).default;
        const { syncBuiltinESMExports } = await import('node:module');
        let spawned = 0;
        for (const f of ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork']) {
          const orig = cp[f];
          cp[f] = (...a) => { spawned++; return orig(...a); };
        }
        syncBuiltinESMExports();
        const { KernelConntrackSource } = await import('${src}/agent/flows/kernel-conntrack.ts');
        const { FlowExporter } = await import('${src}/agent/flows/exporter.ts');
        const source = new KernelConntrackSource();
        await source.enableAccounting();
        const ex = new FlowExporter({ source, zone: 65520, inventory: { snapshot: () => ({ pods: new Map(), namespaces: new Map(), nodes: new Map() }) }, rule: () => undefined, pollIntervalMs: 100, sinks: [] });
        ex.start();
        await new Promise((r) => setTimeout(r, 1500));
        await ex.stop();
        const stats = await source.stats();
        source.close();
        process.stdout.write(JSON.stringify({ polls: ex.stats.polls, errors: ex.stats.errors, zoneConnections: ex.stats.zoneConnections, records: ex.stats.records, total: stats.total, spawned }));`;
      const r = await run('ip', ['netns', 'exec', fresh, 'unshare', '-m', '--propagation', 'private', 'sh', '-c',
        'mount -t tmpfs none /usr/sbin && exec "$0" --import tsx --input-type=module -e "$1"', process.execPath, code]);
      const lines = r.stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { level: string; msg: string });
      assert.equal(await acct(), '1', 'nf_conntrack_acct turned on in the agent\'s namespace');
      assert.ok(lines.some((l) => l.level === 'info' && /set net\.netfilter\.nf_conntrack_acct=1, net\.netfilter\.nf_conntrack_timestamp=1/.test(l.msg)), r.stderr);
      const out = JSON.parse(r.stdout) as { polls: number; errors: number; zoneConnections: number; records: number; total: number; spawned: number };
      assert.ok(out.polls >= 5, `the exporter polled (${out.polls} polls)`);
      assert.equal(out.errors, 0, r.stderr);
      assert.equal(out.zoneConnections, 1, 'the one connection of the pod zone');
      assert.equal(out.records, 1, 'recorded once (first sight)');
      assert.equal(out.total, 1);
      assert.equal(out.spawned, 0, 'no child process: no conntrack, no ip netns exec, no sysctl');
    } finally {
      await run('ip', ['netns', 'del', fresh], { allowFailure: true });
    }
  });

  it('without the native addon the exporter keeps polling and warns once, saying how to build it', async () => {
    // A private mount namespace where the addon's build directory is empty.
    const src = path.resolve('src');
    const code = `
      const { KernelConntrackSource } = await import('${src}/agent/flows/kernel-conntrack.ts');
      const { FlowExporter } = await import('${src}/agent/flows/exporter.ts');
      const ex = new FlowExporter({ source: new KernelConntrackSource(), zone: 65520, inventory: { snapshot: () => ({ pods: new Map(), namespaces: new Map(), nodes: new Map() }) }, rule: () => undefined, pollIntervalMs: 100, sinks: [] });
      ex.start();
      await new Promise((r) => setTimeout(r, 1000));
      await ex.stop();
      process.stdout.write(JSON.stringify({ errors: ex.stats.errors }));`;
    const r = await run('unshare', ['-m', '--propagation', 'private', 'sh', '-c',
      'mount -t tmpfs none "$2" && exec "$0" --import tsx --input-type=module -e "$1"', process.execPath, code, path.join(src, 'native')]);
    const out = JSON.parse(r.stdout) as { errors: number };
    assert.ok(out.errors >= 5, `the exporter kept polling (${out.errors} failed polls)`);
    const warnings = r.stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg: string; err?: { message: string } }).filter((l) => /flow poll failed/.test(l.msg));
    assert.equal(warnings.length, 1, r.stderr);
    assert.match(warnings[0]!.err!.message, /seine_native\.node not found .*npx node-gyp rebuild --directory=src\/native/);
  });
});
