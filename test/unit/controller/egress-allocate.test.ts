// Egress IP allocation and egress node selection (src/controller/egress/allocate.ts), pure.
import assert from 'node:assert/strict';
import { allocateEgresses, poolRanges, type EgressInput, type NodeInput, type PoolInput, type Previous } from '../../../src/controller/egress/allocate.js';
import { selectEgressPods } from '../../../src/controller/egress/egress-controller.js';
import type { NodeReported } from '../../../src/api/node-state.js';

const eg = (name: string, spec: Partial<EgressInput['spec']>): EgressInput => ({
  key: `Egress.crd.antrea.io//${name}`, name, spec: { appliedTo: { podSelector: { matchLabels: { app: name } } }, ...spec },
});
const pool = (name: string, ipRanges: PoolInput['spec']['ipRanges'], nodeSelector: PoolInput['spec']['nodeSelector'] = {}): PoolInput => ({ name, spec: { ipRanges, nodeSelector } });
const node = (name: string, online = true, labels: Record<string, string> = {}): NodeInput => ({ name, online, labels: { 'kubernetes.io/hostname': name, ...labels } });
const none: Previous = { ips: new Map(), nodes: new Map() };

describe('egress allocation', () => {
  it('allocates the lowest free IPs of a pool, in Egress name order, and spreads IPs over nodes', () => {
    const a = allocateEgresses([eg('b', { externalIPPool: 'p' }), eg('a', { externalIPPool: 'p' })], [pool('p', [{ start: '10.0.0.5', end: '10.0.0.9' }])], [node('n2'), node('n1')], none);
    assert.deepEqual(a.decisions.get('Egress.crd.antrea.io//a'), { egressIP: '10.0.0.5', egressNode: 'n1' });
    assert.deepEqual(a.decisions.get('Egress.crd.antrea.io//b'), { egressIP: '10.0.0.6', egressNode: 'n2' });
    assert.deepEqual(a.pools.get('p'), { total: 5, used: 2 });
  });

  it('leaves out the network and broadcast addresses of a CIDR range', () => {
    const r = poolRanges(pool('p', [{ cidr: '10.0.0.0/30' }]));
    assert.ok(!('message' in r));
    assert.equal(r.total, 2n);
    const a = allocateEgresses([eg('a', { externalIPPool: 'p' })], [pool('p', [{ cidr: '10.0.0.0/30' }])], [node('n1')], none);
    assert.equal(a.decisions.get('Egress.crd.antrea.io//a')?.egressIP, '10.0.0.1');
  });

  it('says a pool is exhausted, naming spec.externalIPPool and the pool size', () => {
    const a = allocateEgresses([eg('a', { externalIPPool: 'p' }), eg('b', { externalIPPool: 'p' })], [pool('p', [{ cidr: '10.0.0.7/32' }])], [node('n1')], none);
    assert.equal(a.decisions.get('Egress.crd.antrea.io//a')?.egressIP, '10.0.0.7');
    assert.deepEqual(a.decisions.get('Egress.crd.antrea.io//b'), { allocationError: { field: 'spec.externalIPPool', message: 'ExternalIPPool "p" is exhausted: all 1 IPs are in use' } });
  });

  it('names the field of a bad reference, an IP outside its pool, overlapping or IPv6 ranges, unsupported bandwidth and VLAN', () => {
    const pools = [pool('p', [{ cidr: '10.0.0.0/29' }]), pool('overlap', [{ cidr: '10.1.0.0/24' }, { start: '10.1.0.200', end: '10.1.1.3' }]), pool('v6', [{ cidr: 'fd00::/120' }])];
    const a = allocateEgresses([
      eg('missing', { externalIPPool: 'nope' }),
      eg('outside', { externalIPPool: 'p', egressIP: '10.9.9.9' }),
      eg('over', { externalIPPool: 'overlap' }),
      eg('six', { externalIPPool: 'v6' }),
      eg('dual', { egressIPs: ['10.0.0.1'] }),
      eg('rate', { externalIPPool: 'p', bandwidth: { rate: '10M', burst: '20M' } }),
      eg('vlan', { externalIPPool: 'vlan' }),
    ], [...pools, { name: 'vlan', spec: { ipRanges: [{ cidr: '10.2.0.0/24' }], nodeSelector: {}, subnetInfo: { gateway: '10.2.0.1', prefixLength: 24, vlan: 10 } } }], [node('n1')], none);
    const err = (n: string) => a.decisions.get(`Egress.crd.antrea.io//${n}`)?.allocationError;
    assert.deepEqual(err('missing'), { field: 'spec.externalIPPool', message: 'ExternalIPPool "nope" not found' });
    assert.deepEqual(err('outside'), { field: 'spec.egressIP', message: '10.9.9.9 is not in ExternalIPPool "p"' });
    assert.deepEqual(err('over'), { field: 'spec.externalIPPool', message: 'ExternalIPPool "overlap" is invalid: spec.ipRanges[1]: overlaps spec.ipRanges[0]' });
    assert.match(err('six')!.message, /spec\.ipRanges\[0\]\.cidr: IPv6 pools are not supported yet/);
    assert.equal(err('dual')?.field, 'spec.egressIPs');
    assert.deepEqual(err('rate'), { field: 'spec.bandwidth', message: 'egress rate limiting is not supported yet' });
    assert.deepEqual(err('vlan'), { field: 'spec.externalIPPool', message: 'ExternalIPPool "vlan" is invalid: spec.subnetInfo.vlan: VLAN egress subnets are not supported yet' });
    assert.deepEqual(a.pools.get('overlap'), { error: { field: 'spec.ipRanges[1]', message: 'overlaps spec.ipRanges[0]' } });
  });

  it('takes spec.egressIP as given and steers pool allocation around it', () => {
    const a = allocateEgresses([eg('a', { externalIPPool: 'p' }), eg('z', { externalIPPool: 'p', egressIP: '10.0.0.1' })], [pool('p', [{ cidr: '10.0.0.0/29' }])], [node('n1')], none);
    assert.equal(a.decisions.get('Egress.crd.antrea.io//z')?.egressIP, '10.0.0.1');
    assert.equal(a.decisions.get('Egress.crd.antrea.io//a')?.egressIP, '10.0.0.2');
  });

  it('picks only online nodes matching the pool nodeSelector, and says so when there is none', () => {
    const pools = [pool('p', [{ cidr: '10.0.0.0/29' }], { matchLabels: { egress: 'yes' } })];
    const nodes = [node('n1', true), node('n2', false, { egress: 'yes' }), node('n3', true, { egress: 'yes' })];
    const a = allocateEgresses([eg('a', { externalIPPool: 'p' })], pools, nodes, none);
    assert.equal(a.decisions.get('Egress.crd.antrea.io//a')?.egressNode, 'n3');
    const b = allocateEgresses([eg('a', { externalIPPool: 'p' })], pools, [node('n1'), node('n3', false, { egress: 'yes' })], none);
    assert.deepEqual(b.decisions.get('Egress.crd.antrea.io//a'), { egressIP: '10.0.0.1', assignmentError: 'no online node matches the nodeSelector of ExternalIPPool "p"' });
  });

  it('keeps an IP and its node while they stay valid, and moves the IP when its node goes offline', () => {
    const pools = [pool('p', [{ cidr: '10.0.0.0/29' }])];
    const previous: Previous = { ips: new Map([['Egress.crd.antrea.io//a', '10.0.0.4']]), nodes: new Map([['10.0.0.4', 'n2']]) };
    const stay = allocateEgresses([eg('a', { externalIPPool: 'p' })], pools, [node('n1'), node('n2')], previous);
    assert.deepEqual(stay.decisions.get('Egress.crd.antrea.io//a'), { egressIP: '10.0.0.4', egressNode: 'n2' });
    const moved = allocateEgresses([eg('a', { externalIPPool: 'p' })], pools, [node('n1'), node('n2', false)], previous);
    assert.deepEqual(moved.decisions.get('Egress.crd.antrea.io//a'), { egressIP: '10.0.0.4', egressNode: 'n1' });
  });

  it('an offline node kept by a restarted controller keeps its IP but gets no new one', () => {
    const pools = [pool('p', [{ cidr: '10.0.0.0/29' }])];
    const previous: Previous = { ips: new Map([['Egress.crd.antrea.io//a', '10.0.0.1']]), nodes: new Map([['10.0.0.1', 'n2']]) };
    const a = allocateEgresses([eg('a', { externalIPPool: 'p' }), eg('b', { externalIPPool: 'p' })], pools, [node('n1'), node('n2', false)], previous, new Set(['n2']));
    assert.deepEqual(a.decisions.get('Egress.crd.antrea.io//a'), { egressIP: '10.0.0.1', egressNode: 'n2' });
    assert.deepEqual(a.decisions.get('Egress.crd.antrea.io//b'), { egressIP: '10.0.0.2', egressNode: 'n1' });
  });

  it('a newcomer never pushes a stable IP off its node', () => {
    const pools = [pool('p', [{ cidr: '10.0.0.0/29' }])];
    const previous: Previous = { ips: new Map([['Egress.crd.antrea.io//z', '10.0.0.1']]), nodes: new Map([['10.0.0.1', 'n1']]) };
    const a = allocateEgresses([eg('a', { externalIPPool: 'p' }), eg('z', { externalIPPool: 'p' })], pools, [node('n1'), node('n2')], previous);
    assert.deepEqual(a.decisions.get('Egress.crd.antrea.io//z'), { egressIP: '10.0.0.1', egressNode: 'n1' });
    assert.deepEqual(a.decisions.get('Egress.crd.antrea.io//a'), { egressIP: '10.0.0.2', egressNode: 'n2' });
  });
});

describe('egress pod selection', () => {
  const inv = (pods: [string, string, Record<string, string>, string][], namespaces: Record<string, Record<string, string>>): NodeReported['inventory'] => ({
    pods: pods.map(([namespace, name, labels, ip]) => ({ namespace, name, labels, ips: [ip] })), namespaces,
  });
  const invs = new Map([
    ['n1', inv([['web', 'a', { app: 'x' }, '10.42.0.2'], ['db', 'b', { app: 'x' }, '10.42.0.3']], { web: { team: 'w' }, db: { team: 'd' } })],
    ['n2', inv([['web', 'c', { app: 'y' }, '10.42.1.2'], ['web', 'd', { app: 'x' }, '10.42.1.3']], { web: { team: 'w' } })],
  ]);

  it('selects pods fleet-wide by podSelector AND namespaceSelector; an empty appliedTo selects nothing', () => {
    assert.deepEqual(selectEgressPods({ podSelector: { matchLabels: { app: 'x' } } }, invs), ['10.42.0.2', '10.42.0.3', '10.42.1.3']);
    assert.deepEqual(selectEgressPods({ podSelector: { matchLabels: { app: 'x' } }, namespaceSelector: { matchLabels: { team: 'w' } } }, invs), ['10.42.0.2', '10.42.1.3']);
    assert.deepEqual(selectEgressPods({ namespaceSelector: { matchLabels: { team: 'd' } } }, invs), ['10.42.0.3']);
    assert.deepEqual(selectEgressPods({}, invs), []);
  });
});
