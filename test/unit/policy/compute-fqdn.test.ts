// fqdn egress peers through the schemas and the per-node compute: validation names the field,
// the patterns reach the node's rules lower-cased (the box fills in the addresses), in ACNP and
// Antrea NetworkPolicy, alone or next to other peers, and with named ports.
import assert from 'node:assert/strict';
import { computeNodePolicies, type PolicyObjects } from '../../../src/policy/compute/compute.js';
import { parseManifests } from '../../../src/api/manifest.js';
import { fqdnPatternIssue } from '../../../src/api/antrea-peer.js';
import { acnp, anp, inventory, pod } from './fixtures.js';
import { computeHostRules } from '../../../src/policy/compute/host.js';
import { PodIndex } from '../../../src/policy/compute/pod-index.js';
import { GroupTable } from '../../../src/policy/compute/groups.js';
import { TierTable } from '../../../src/policy/compute/tiers.js';

const inv = inventory([
  pod('prod', 'client', { app: 'client' }, '10.0.1.41', 'n1'),
  pod('prod', 'web', { app: 'web' }, '10.0.2.10', 'n2', [{ name: 'http', port: 8080, protocol: 'TCP' }]),
]);
const compute = (policies: PolicyObjects['policies']) => computeNodePolicies({ policies, tiers: [], clusterGroups: [], groups: [] }, inv);

describe('fqdn peers: validation', () => {
  it('accepts Antrea\'s formats: exact names and a leading-* wildcard', () => {
    for (const ok of ['allowed.seine.test', 'svcA.default.svc.cluster.local', '*foobar.com', '*.example.com', 'Example.COM.']) assert.equal(fqdnPatternIssue(ok), undefined, ok);
  });

  const bad: [string, RegExp][] = [
    ['a*.example.com', /"\*" is only allowed as the first character/],
    ['*', /a lone "\*" matches every name/],
    ['exa mple.com', /only letters, digits/],
    ['a..b', /empty label/],
    ['-a.com', /label "-a" is not a DNS label/],
    [`${'a'.repeat(64)}.com`, /is not a DNS label/],
    ['', /only letters/],
  ];
  for (const [value, message] of bad) {
    it(`refuses fqdn ${JSON.stringify(value)} naming the field`, () => {
      const doc = `apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: bad}
spec:
  priority: 1
  appliedTo: [{podSelector: {}}]
  egress: [{action: Allow, to: [{fqdn: ${JSON.stringify(value)}}]}]
`;
      assert.throws(() => parseManifests(doc, 'bad.yaml'), (err: Error) => {
        assert.match(err.message, /spec\.egress\[0\]\.to\[0\]\.fqdn/);
        assert.match(err.message, message);
        return true;
      });
    });
  }

  it('refuses fqdn next to another field of the peer, and in an ingress peer', () => {
    const doc = (rules: string) => `apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: bad}
spec:
  priority: 1
  appliedTo: [{podSelector: {}}]
  ${rules}
`;
    assert.throws(() => parseManifests(doc('egress: [{action: Allow, to: [{fqdn: a.test, ipBlock: {cidr: 10.0.0.0/8}}]}]'), 'x.yaml'), /spec\.egress\[0\]\.to\[0\]\.fqdn.*cannot be combined/);
    assert.throws(() => parseManifests(doc('ingress: [{action: Allow, from: [{fqdn: a.test}]}]'), 'x.yaml'), /spec\.ingress\[0\]\.from\[0\]\.fqdn.*unknown field "fqdn"/);
  });
});

describe('fqdn peers: compute', () => {
  it('an ACNP rule carries its patterns lower-cased and deduplicated, with the other peers\' addresses', () => {
    const p = acnp('c', {
      priority: 5, appliedTo: [{ podSelector: { matchLabels: { app: 'client' } } }],
      egress: [{ action: 'Allow', name: 'to-names', to: [{ fqdn: '*.Example.com' }, { fqdn: 'Allowed.Seine.Test' }, { fqdn: 'allowed.seine.test' }, { ipBlock: { cidr: '192.0.2.0/24' } }], ports: [{ protocol: 'TCP', port: 443 }] }],
    });
    const res = compute([p]);
    assert.deepEqual(res.errors, []);
    const r = res.nodes.get('n1')!.rules[0]!;
    assert.deepEqual(r.peers, { any: false, ips: [], cidrs: ['192.0.2.0/24'], fqdns: ['*.example.com', 'allowed.seine.test'] });
    assert.deepEqual(r.services, [{ protocol: 'TCP', port: 443 }]);
  });

  it('a rule of fqdn peers alone exists before any name is resolved (Antrea: Drop, Reject and Allow alike)', () => {
    for (const action of ['Allow', 'Drop', 'Reject'] as const) {
      const res = compute([acnp('c', { priority: 5, appliedTo: [{ podSelector: { matchLabels: { app: 'client' } } }], egress: [{ action, to: [{ fqdn: 'denied.seine.test' }] }] })]);
      const rules = res.nodes.get('n1')?.rules ?? [];
      assert.equal(rules.length, 1, action);
      assert.equal(rules[0]!.action, action);
      assert.deepEqual(rules[0]!.peers, { any: false, ips: [], cidrs: [], fqdns: ['denied.seine.test'] });
    }
  });

  it('an Antrea NetworkPolicy takes fqdn peers too', () => {
    const res = compute([anp('prod', 'n', { priority: 3, appliedTo: [{ podSelector: {} }], egress: [{ action: 'Drop', to: [{ fqdn: '*bad.test' }] }] })]);
    assert.deepEqual([...res.nodes.keys()].sort(), ['n1', 'n2']);
    for (const n of ['n1', 'n2']) assert.deepEqual(res.nodes.get(n)!.rules[0]!.peers.fqdns, ['*bad.test']);
  });

  it('with a named port, fqdn peers take the numeric ports only (outside addresses declare no names), pods the name', () => {
    const res = compute([acnp('c', {
      priority: 5, appliedTo: [{ podSelector: { matchLabels: { app: 'client' } } }],
      egress: [{ action: 'Allow', to: [{ podSelector: { matchLabels: { app: 'web' } } }, { fqdn: 'a.test' }], ports: [{ port: 'http' }, { protocol: 'TCP', port: 9000 }] }],
    })]);
    const rules = res.nodes.get('n1')!.rules;
    const byPeers = new Map(rules.map((r) => [r.peers.fqdns ? 'fqdn' : 'pods', r]));
    assert.deepEqual(byPeers.get('fqdn')!.services, [{ protocol: 'TCP', port: 9000 }]);
    assert.deepEqual(byPeers.get('fqdn')!.peers.ips, []);
    assert.deepEqual(byPeers.get('pods')!.peers.ips, ['10.0.2.10']);
  });
});

describe('fqdn peers: host policies', () => {
  it('a policy applied to Nodes refuses fqdn peers (the host\'s own lookups are not seen): the schema, and the compute behind it', () => {
    const spec = { priority: 1, appliedTo: [{ nodeSelector: {} }], egress: [{ action: 'Allow', to: [{ ipBlock: { cidr: '10.0.0.0/8' } }, { fqdn: 'a.test' }] }] };
    assert.throws(() => acnp('hp', spec), /fqdn peers cannot be used in a policy applied to Nodes/);
    // Past the schema (a stored object from an older release): the compute refuses it too, never an empty rule.
    const valid = acnp('hp', { ...spec, egress: [{ action: 'Allow', to: [{ ipBlock: { cidr: '10.0.0.0/8' } }] }] });
    const p = { ...valid, spec: { ...valid.spec, egress: spec.egress } } as typeof valid;
    const r = computeHostRules([p], { index: new PodIndex(inv), groups: new GroupTable(), tiers: new TierTable() });
    assert.deepEqual(r.rules, []);
    assert.deepEqual(r.errors.map((e) => [e.path, e.message]), [['spec.egress[0].to[1].fqdn', 'fqdn peers in a policy applied to Nodes is not supported yet']]);
  });
});
