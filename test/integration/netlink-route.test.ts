// rtnetlink against the real kernel, in two namespaces made here: a veth whose peer is born in
// the other namespace, link changes, addresses, routes and neighbours, each read back both
// through Rtnetlink and through `ip` (the reference), and errors that name the errno.
import assert from 'node:assert/strict';
import { run } from '../../src/lib/exec.js';
import type { NetlinkError } from '../../src/lib/netlink/message.js';
import { NUD, Rtnetlink, isExists, isGone } from '../../src/lib/netlink/route.js';
import { requirePrereqs } from '../helpers/prereqs.js';

const prefix = `slrt${process.pid}`;
const hostNs = `${prefix}-h`;
const podNs = `${prefix}-p`;
const path = (ns: string) => `/var/run/netns/${ns}`;
const ipJson = async <T>(ns: string, ...args: string[]) => JSON.parse((await run('ip', ['-n', ns, '-j', ...args])).stdout || '[]') as T;
const errno = (code: string, what: RegExp) => (err: NetlinkError) => {
  assert.equal(err.code, code, err.message);
  assert.match(err.message, what);
  return true;
};

describe('rtnetlink (Rtnetlink)', function () {
  this.timeout(30_000);
  let host: Rtnetlink;
  let pod: Rtnetlink;

  before(async () => {
    requirePrereqs('root', 'ip', 'native');
    await run('ip', ['netns', 'add', hostNs]);
    await run('ip', ['netns', 'add', podNs]);
    host = new Rtnetlink(path(hostNs));
    pod = new Rtnetlink(path(podNs));
  });

  after(async () => {
    host?.close();
    pod?.close();
    for (const ns of [hostNs, podNs]) await run('ip', ['netns', 'del', ns], { allowFailure: true });
  });

  it('creates a veth whose peer is born in another namespace, with MTU, MACs and up', async () => {
    host.addVeth({ name: 'nlh0', mtu: 1450, mac: '02:00:00:00:00:01', up: true, peer: { name: 'eth0', mtu: 1450, mac: '0a:58:0a:f4:00:05', netns: path(podNs) } });
    const h = host.link('nlh0')!;
    assert.deepEqual({ name: h.name, mac: h.mac, mtu: h.mtu, up: h.up, kind: h.kind }, { name: 'nlh0', mac: '02:00:00:00:00:01', mtu: 1450, up: true, kind: 'veth' });
    const [ref] = await ipJson<{ address: string; mtu: number }[]>(podNs, 'link', 'show', 'dev', 'eth0');
    assert.deepEqual([ref.address, ref.mtu], ['0a:58:0a:f4:00:05', 1450]);
    assert.equal(pod.link('eth0')!.up, false);
    assert.equal(host.link('eth0'), undefined, 'the peer is not in the host namespace');
    assert.deepEqual(pod.links().map((l) => l.name).sort(), ['eth0', 'lo']);
  });

  it('refuses a taken name with EEXIST and leaves the existing pair alone', () => {
    assert.throws(() => host.addVeth({ name: 'nlh0', peer: { name: 'eth1', netns: path(podNs) } }), (err) => isExists(err) && errno('EEXIST', /link add nlh0 type veth peer eth1 in .*slrt/)(err as NetlinkError));
    assert.ok(host.link('nlh0'));
    assert.equal(pod.link('eth1'), undefined);
  });

  it('sets up, MTU, MAC and name, then renames back', async () => {
    pod.setLink('lo', { up: true });
    pod.setLink('eth0', { up: true, mtu: 1400, mac: '0a:58:0a:f4:00:06' });
    const l = pod.link('eth0')!;
    assert.deepEqual([l.up, l.mtu, l.mac], [true, 1400, '0a:58:0a:f4:00:06']);
    host.setLink('nlh0', { up: false });
    host.setLink('nlh0', { name: 'nlh1' });
    const [ref] = await ipJson<{ ifname: string; flags: string[] }[]>(hostNs, 'link', 'show', 'dev', 'nlh1');
    assert.equal(ref.ifname, 'nlh1');
    assert.ok(!ref.flags.includes('UP'));
    host.setLink('nlh1', { name: 'nlh0', up: true });
    assert.equal(host.link('nlh0')!.up, true);
  });

  it('adds, replaces, labels, lists and deletes addresses', async () => {
    pod.addAddress('eth0', '10.244.0.5/24');
    assert.throws(() => pod.addAddress('eth0', '10.244.0.5/24'), errno('EEXIST', /address add 10\.244\.0\.5\/24 dev eth0/));
    pod.addAddress('eth0', '10.244.0.5/24', { replace: true });
    host.addAddress('nlh0', '192.0.2.10/32', { label: 'nlh0:eg' });
    const [ref] = await ipJson<{ addr_info: { local: string; prefixlen: number; label?: string; family: string }[] }[]>(hostNs, 'addr', 'show', 'dev', 'nlh0');
    assert.deepEqual(ref.addr_info.filter((a) => a.family === 'inet').map((a) => [a.local, a.prefixlen, a.label]), [['192.0.2.10', 32, 'nlh0:eg']]);
    assert.deepEqual(host.addresses({ dev: 'nlh0', family: 2 }).map((a) => [a.address, a.prefixLength, a.label]), [['192.0.2.10', 32, 'nlh0:eg']]);
    assert.deepEqual(pod.addresses({ dev: 'eth0', family: 2 }).map((a) => `${a.address}/${a.prefixLength}`), ['10.244.0.5/24']);
    host.delAddress('nlh0', '192.0.2.10/32');
    assert.deepEqual(host.addresses({ dev: 'nlh0', family: 2 }), []);
    assert.throws(() => host.delAddress('nlh0', '192.0.2.10/32'), errno('EADDRNOTAVAIL', /address del 192\.0\.2\.10\/32 dev nlh0/));
    assert.throws(() => pod.addAddress('eth0', '10.244.0.300/24'), /"10\.244\.0\.300" is not an IP address/);
  });

  it('replaces, lists by protocol and deletes routes (gateway, onlink, dev-only)', async () => {
    pod.replaceRoute({ dst: 'default', gateway: '10.244.0.1', dev: 'eth0' });
    const [def] = await ipJson<{ dst: string; gateway: string; dev: string }[]>(podNs, 'route', 'show', 'default');
    assert.deepEqual([def.gateway, def.dev], ['10.244.0.1', 'eth0']);
    host.addAddress('nlh0', '10.244.1.1/24');
    host.replaceRoute({ dst: '10.244.2.0/24', gateway: '10.244.2.1', dev: 'nlh0', onlink: true, protocol: 250 });
    host.replaceRoute({ dst: '169.254.0.252/32', dev: 'nlh0' });
    const owned = host.routes({ protocol: 250 });
    assert.deepEqual(owned.map((r) => [r.dst, r.gateway, r.oif, r.onlink]), [['10.244.2.0/24', '10.244.2.1', host.index('nlh0'), true]]);
    const ref = await ipJson<{ dst: string; protocol?: string; flags: string[] }[]>(hostNs, 'route', 'show', 'proto', '250');
    assert.deepEqual(ref.map((r) => [r.dst, r.flags]), [['10.244.2.0/24', ['onlink']]]);
    const [vip] = await ipJson<{ dst: string; scope: string }[]>(hostNs, 'route', 'show', '169.254.0.252/32');
    assert.equal(vip.scope, 'link');
    // Replace is idempotent; the new gateway wins.
    host.replaceRoute({ dst: '10.244.2.0/24', gateway: '10.244.2.9', dev: 'nlh0', onlink: true, protocol: 250 });
    assert.deepEqual(host.routes({ protocol: 250 }).map((r) => r.gateway), ['10.244.2.9']);
    host.delRoute({ dst: '10.244.2.0/24', gateway: '10.244.2.9', dev: 'nlh0', protocol: 250 });
    assert.deepEqual(host.routes({ protocol: 250 }), []);
    assert.throws(() => host.delRoute({ dst: '10.244.2.0/24', gateway: '10.244.2.9', dev: 'nlh0', protocol: 250 }), errno('ESRCH', /route del 10\.244\.2\.0\/24 via 10\.244\.2\.9 dev nlh0/));
    assert.throws(() => pod.replaceRoute({ dst: '10.9.0.0/16', gateway: '10.99.0.1', dev: 'eth0' }), errno('ENETUNREACH', /route replace 10\.9\.0\.0\/16 via 10\.99\.0\.1/));
  });

  it('replaces permanent neighbours, lists and deletes them', async () => {
    host.replaceNeighbour('nlh0', '169.254.0.252', 'aa:bb:cc:dd:ee:ff');
    host.replaceNeighbour('nlh0', '169.254.0.252', 'aa:bb:cc:dd:ee:f0');
    const n = host.neighbours({ dev: 'nlh0' });
    assert.deepEqual(n.map((x) => [x.ip, x.mac, x.state]), [['169.254.0.252', 'aa:bb:cc:dd:ee:f0', NUD.PERMANENT]]);
    const [ref] = await ipJson<{ dst: string; lladdr: string; state: string[] }[]>(hostNs, 'neigh', 'show', 'dev', 'nlh0');
    assert.deepEqual([ref.dst, ref.lladdr, ref.state], ['169.254.0.252', 'aa:bb:cc:dd:ee:f0', ['PERMANENT']]);
    host.delNeighbour('nlh0', '169.254.0.252');
    assert.deepEqual(host.neighbours({ dev: 'nlh0' }), []);
    assert.throws(() => host.delNeighbour('nlh0', '169.254.0.252'), errno('ENOENT', /neighbour del 169\.254\.0\.252 dev nlh0/));
  });

  it('deletes the pair by its host end (the peer goes too), then reports it gone', () => {
    host.delLink('nlh0');
    assert.equal(host.link('nlh0'), undefined);
    assert.equal(pod.link('eth0'), undefined);
    assert.throws(() => host.delLink('nlh0'), (err) => isGone(err) && errno('ENODEV', /link del nlh0/)(err as NetlinkError));
    assert.throws(() => host.setLink('nlh0', { up: true }), errno('ENODEV', /link nlh0 in .*slrt/));
  });
});
