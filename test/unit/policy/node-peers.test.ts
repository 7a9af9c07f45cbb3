// Peers that select Nodes (upstream CNP `nodes`, Antrea's `nodeSelector`): the selected Nodes'
// addresses as Antrea's controller takes them (InternalIP and the gateway, the pod CIDR's first
// host address), recomputed when a Node's labels or addresses change.
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import type { Inventory, InventoryNode } from '../../../src/api/inventory.js';
import { parseManifests } from '../../../src/api/manifest.js';
import { PolicyComputer, policyObjectsOf } from '../../../src/policy/compute/compute.js';
import { nodeAddressBlocks } from '../../../src/policy/compute/node-peers.js';
import type { Obj } from '../api/helpers.js';
import { acnp, anp, inventory, pod } from './fixtures.js';

const linux = { 'kubernetes.io/os': 'linux' };
const node = (name: string, labels: Record<string, string>, internalIP: string | undefined, podCIDR: string): InventoryNode => ({
  name, labels: { 'kubernetes.io/hostname': name, ...labels }, podCIDR, podCIDRs: [podCIDR], ...(internalIP ? { internalIP } : {}),
});

function world(): Inventory {
  const base = inventory([pod('g', 'client', { app: 'c' }, '10.42.0.5', 'n1'), pod('g', 'other', { app: 'c' }, '10.42.1.5', 'n2')]);
  return {
    ...base,
    nodes: new Map([
      ['n1', node('n1', linux, '172.31.250.11', '10.42.0.0/24')],
      ['n2', node('n2', linux, '172.31.250.12', '10.42.1.0/24')],
      ['w1', node('w1', { 'kubernetes.io/os': 'windows' }, '172.31.250.13', '10.42.2.0/24')],
    ]),
  };
}

const cnp = (to: Obj[], protocols?: Obj[]): Obj => ({
  apiVersion: 'policy.networking.k8s.io/v1alpha2',
  kind: 'ClusterNetworkPolicy',
  metadata: { name: 'to-nodes' },
  spec: { tier: 'Admin', priority: 75, subject: { namespaces: {} }, egress: [{ name: 'allow-nodes', action: 'Accept', to, ...(protocols ? { protocols } : {}) }] },
});
const objects = (o: Obj) => ({ tiers: [], clusterGroups: [], groups: [], ...policyObjectsOf(parseManifests(stringify(o), 'policy.yaml')) });

describe('node peers (CNP nodes, ACNP nodeSelector)', () => {
  it("resolve to the selected Nodes' InternalIP and gateway address", () => {
    const r = new PolicyComputer(world()).compute(objects(cnp([{ nodes: { matchLabels: linux } }], [{ tcp: { destinationPort: { number: 34345 } } }])));
    assert.deepEqual(r.errors, []);
    const rule = r.nodes.get('n1')!.rules[0]!;
    assert.deepEqual([rule.action, rule.ruleName, rule.services], ['Allow', 'allow-nodes', [{ protocol: 'TCP', port: 34345 }]]);
    // The windows node is not selected.
    assert.deepEqual(rule.peers, { any: false, ips: [], cidrs: ['10.42.0.1/32', '10.42.1.1/32', '172.31.250.11/32', '172.31.250.12/32'] });
  });

  it('a selector that matches no Node leaves the rule without flows (it matches nothing), not an error', () => {
    const r = new PolicyComputer(world()).compute(objects(cnp([{ nodes: { matchLabels: { 'kubernetes.io/os': 'plan9' } } }])));
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.nodes.get('n1')!.rules, []);
  });

  it('mixed with pods and networks in one Deny rule (the upstream node-peer policy)', () => {
    const deny = cnp([{ pods: { namespaceSelector: {}, podSelector: { matchLabels: { app: 'c' } } } }, { nodes: { matchLabels: { 'kubernetes.io/hostname': 'w1' } } }, { networks: ['192.0.2.0/24', '::/0'] }]);
    const r = new PolicyComputer(world()).compute(objects(deny));
    const rule = r.nodes.get('n2')!.rules[0]!;
    assert.deepEqual(rule.peers.ips, ['10.42.0.5', '10.42.1.5']);
    assert.deepEqual(rule.peers.cidrs, ['10.42.2.1/32', '172.31.250.13/32', '192.0.2.0/24', '::/0']);
  });

  it('follows Node changes: a label removed, an address moved, a Node added', () => {
    const inv = world();
    const c = new PolicyComputer(inv);
    const objs = objects(cnp([{ nodes: { matchLabels: linux } }]));
    const cidrs = () => c.compute(objs).nodes.get('n1')!.rules[0]!.peers.cidrs;
    assert.deepEqual(cidrs(), ['10.42.0.1/32', '10.42.1.1/32', '172.31.250.11/32', '172.31.250.12/32']);
    const n2 = inv.nodes.get('n2')!;
    c.applyChange({ kind: 'Node', type: 'updated', object: { ...n2, labels: { 'kubernetes.io/hostname': 'n2' } }, previous: n2 });
    assert.deepEqual(cidrs(), ['10.42.0.1/32', '172.31.250.11/32']);
    assert.equal(c.lastRecomputed, 1);
    const n1 = inv.nodes.get('n1')!;
    c.applyChange({ kind: 'Node', type: 'updated', object: { ...n1, internalIP: '172.31.250.21' }, previous: n1 });
    assert.deepEqual(cidrs(), ['10.42.0.1/32', '172.31.250.21/32']);
    c.applyChange({ kind: 'Node', type: 'added', object: node('n3', linux, '172.31.250.14', '10.42.3.0/24') });
    assert.deepEqual(cidrs(), ['10.42.0.1/32', '10.42.3.1/32', '172.31.250.14/32', '172.31.250.21/32']);
    // A change to a Node no selection matches recomputes nothing.
    c.applyChange({ kind: 'Node', type: 'added', object: node('w2', { 'kubernetes.io/os': 'windows' }, '172.31.250.15', '10.42.4.0/24') });
    cidrs();
    assert.equal(c.lastRecomputed, 0);
  });

  it("Antrea's nodeSelector peer resolves the same way", () => {
    const p = acnp('from-nodes', { priority: 1, appliedTo: [{ podSelector: { matchLabels: { app: 'c' } } }], ingress: [{ action: 'Allow', from: [{ nodeSelector: { matchLabels: { 'kubernetes.io/hostname': 'n2' } } }] }] });
    const r = new PolicyComputer(world()).compute({ policies: [p] });
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.nodes.get('n1')!.rules[0]!.peers.cidrs, ['10.42.1.1/32', '172.31.250.12/32']);
  });

  it('is enforced in every Antrea-native kind and direction (no "not supported" left): ANNP egress, ACNP ingress and egress', () => {
    const to = [{ nodeSelector: { matchLabels: linux } }];
    const policies = [
      anp('g', 'annp-to-nodes', { priority: 1, appliedTo: [{ podSelector: { matchLabels: { app: 'c' } } }], egress: [{ action: 'Drop', to }] }),
      acnp('acnp-nodes', { priority: 2, appliedTo: [{ podSelector: { matchLabels: { app: 'c' } } }], ingress: [{ action: 'Allow', from: to }], egress: [{ action: 'Allow', to }] }),
    ];
    const r = new PolicyComputer(world()).compute({ policies });
    assert.deepEqual(r.errors, []);
    const rules = r.nodes.get('n1')!.rules;
    assert.deepEqual(rules.map((x) => [x.policy.name, x.direction]).sort(), [['acnp-nodes', 'egress'], ['acnp-nodes', 'ingress'], ['annp-to-nodes', 'egress']]);
    for (const x of rules) assert.deepEqual(x.peers.cidrs, ['10.42.0.1/32', '10.42.1.1/32', '172.31.250.11/32', '172.31.250.12/32'], x.policy.name);
  });

  it('addresses: IPv4 only, no repeats, a Node without addresses adds none', () => {
    assert.deepEqual(nodeAddressBlocks([node('a', {}, 'fd00::1', 'fd00:42::/64'), node('b', {}, undefined, '10.0.0.0/31')]), []);
    assert.deepEqual(nodeAddressBlocks([node('a', {}, '10.9.0.1', '10.9.0.0/16'), node('b', {}, '10.9.0.1', '10.9.0.0/16')]), [{ cidr: '10.9.0.1/32' }]);
  });
});
