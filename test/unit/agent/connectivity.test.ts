import assert from 'node:assert/strict';
import { connectivityFlows, mergeFlows, type ConnectivityState } from '../../../src/agent/connectivity/flows.js';
import { peersFrom, sameSubnet } from '../../../src/agent/peers.js';
import { CookieAllocator, decodeCookie, Category } from '../../../src/agent/ovs/cookie.js';
import { Pipeline } from '../../../src/agent/ovs/pipeline.js';
import { defaultFlows } from '../../../src/agent/ovs/default-flows.js';
import type { Inventory } from '../../../src/api/inventory.js';

const pipeline = Pipeline.build();
const cookies = new CookieAllocator(7);

function state(pods: number, peers: { encap: boolean }[] = []): ConnectivityState {
  return {
    podCIDR: '10.42.0.0/24',
    serviceCIDR: '10.43.0.0/16',
    gateway: { ofport: 2, mac: '1a:00:00:00:00:01', ip: '10.42.0.1' },
    tunnel: peers.some((p) => p.encap) ? { ofport: 1 } : undefined,
    pods: Array.from({ length: pods }, (_, i) => ({ key: `default/p${i}`, ofport: 10 + i, mac: `0a:58:0a:2a:00:${(i + 2).toString(16).padStart(2, '0')}`, ip: `10.42.0.${i + 2}` })),
    peers: peers.map((p, i) => ({ name: `box${i + 2}`, podCIDR: `10.42.${i + 1}.0/24`, underlayIP: `172.31.250.${12 + i}`, encap: p.encap })),
  };
}

const find = (flows: ReturnType<typeof connectivityFlows>, table: string, needle: string) => flows.filter((f) => f.table === table && f.match.some((m) => m.includes(needle)));

describe('pod connectivity flows', () => {
  it('guards each pod port by its IP and MAC (SpoofGuard and ARPSpoofGuard)', () => {
    const flows = connectivityFlows(state(2), pipeline, cookies);
    const sg = find(flows, 'SpoofGuard', 'in_port=10');
    assert.equal(sg.length, 1);
    assert.deepEqual(sg[0].match, ['ip', 'in_port=10', 'dl_src=0a:58:0a:2a:00:02', 'nw_src=10.42.0.2']);
    const arp = find(flows, 'ARPSpoofGuard', 'in_port=11');
    assert.deepEqual(arp[0].match, ['arp', 'in_port=11', 'arp_spa=10.42.0.3', 'arp_sha=0a:58:0a:2a:00:03']);
  });

  it('sends tunnelled peers to the tunnel with tun_dst and answers ARP for their gateway', () => {
    const flows = connectivityFlows(state(1, [{ encap: true }, { encap: false }]), pipeline, cookies);
    const l3 = find(flows, 'L3Forwarding', 'nw_dst=10.42.1.0/24');
    assert.equal(l3.length, 1);
    assert.ok(l3[0].actions.includes('set_field:172.31.250.12->tun_dst'));
    assert.equal(find(flows, 'L3Forwarding', 'nw_dst=10.42.2.0/24').length, 0, 'a noEncap peer is reached through the gateway miss flow');
    assert.equal(find(flows, 'ARPResponder', 'arp_tpa=10.42.1.1').length, 1);
    assert.equal(decodeCookie(l3[0].cookie).category, Category.Tunnel);
  });

  it('refuses tunnelled peers without a tunnel port', () => {
    const s = state(1, [{ encap: true }]);
    delete s.tunnel;
    assert.throws(() => connectivityFlows(s, pipeline, cookies), /tunnel port/);
  });

  it('grows linearly: each pod adds the same number of flows', () => {
    const n = (pods: number) => connectivityFlows(state(pods), pipeline, cookies).length;
    assert.equal(n(20) - n(10), 2 * (n(10) - n(5)));
  });

  it('lets a feature flow replace the pipeline default with the same key', () => {
    const merged = mergeFlows(defaultFlows(pipeline, 7), connectivityFlows(state(1), pipeline, cookies));
    const misses = merged.filter((f) => f.table === 'L3Forwarding' && f.priority === 0);
    assert.equal(misses.length, 1);
    assert.ok(misses[0].actions.includes(pipeline.goto('L2ForwardingCalc')));
  });
});

describe('peers', () => {
  const inv = (nodes: { name: string; podCIDR?: string; internalIP?: string }[]): Inventory => ({
    nodes: new Map(nodes.map((n) => [n.name, { ...n, podCIDRs: n.podCIDR ? [n.podCIDR] : [], labels: {} }])),
    namespaces: new Map(),
    pods: new Map(),
  });
  const nodes = inv([
    { name: 'box1', podCIDR: '10.42.0.0/24', internalIP: '172.31.250.11' },
    { name: 'box2', podCIDR: '10.42.1.0/24', internalIP: '172.31.250.12' },
    { name: 'box3', podCIDR: '10.42.2.0/24', internalIP: '172.31.251.13' },
    { name: 'box4' },
  ]);
  const own = { ip: '172.31.250.11', prefixLength: 24 };

  it('skips itself and nodes without a pod CIDR or address', () => {
    assert.deepEqual(peersFrom(nodes, 'box1', 'encap', own).map((p) => p.name), ['box2', 'box3']);
  });

  it('tunnels in encap, routes in noEncap, and in hybrid tunnels only across subnets', () => {
    assert.deepEqual(peersFrom(nodes, 'box1', 'encap', own).map((p) => p.encap), [true, true]);
    assert.deepEqual(peersFrom(nodes, 'box1', 'noEncap', own).map((p) => p.encap), [false, false]);
    assert.deepEqual(peersFrom(nodes, 'box1', 'hybrid', own).map((p) => p.encap), [false, true]);
  });

  it('compares subnets by prefix', () => {
    assert.ok(sameSubnet('172.31.250.11', '172.31.250.200', 24));
    assert.ok(!sameSubnet('172.31.250.11', '172.31.251.11', 24));
    assert.ok(sameSubnet('172.31.250.11', '172.31.251.11', 16));
  });
});
