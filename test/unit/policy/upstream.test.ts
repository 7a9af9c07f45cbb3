// Upstream ClusterNetworkPolicy (v1alpha2) and AdminNetworkPolicy / BaselineAdminNetworkPolicy
// (v1alpha1): schema checks with the field path, and the mapping onto internal tiers as
// evaluation and compute see it (Admin above every Antrea tier, Baseline below K8s NP).
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import { parseManifests } from '../../../src/api/manifest.js';
import { computeNodePolicies, policyObjectsOf } from '../../../src/policy/compute/compute.js';
import { PolicyEvaluator } from '../../../src/policy/evaluate/evaluate.js';
import type { InventoryPod } from '../../../src/api/inventory.js';
import { expectProblem, type Obj } from '../api/helpers.js';
import { acnp, inventory, knp, pod } from './fixtures.js';

const pods: InventoryPod[] = [
  pod('prod', 'web', { app: 'web' }, '10.0.1.10', 'n1', [{ name: 'http', port: 80, protocol: 'TCP' }, { name: 'dns', port: 53, protocol: 'UDP' }]),
  pod('prod', 'client', { role: 'client' }, '10.0.1.20', 'n1'),
  pod('dev', 'client', { role: 'client' }, '10.0.2.20', 'n2'),
];
const inv = inventory(pods, { prod: { env: 'prod' }, dev: { env: 'dev' } });

const cnp = (name: string, tier: 'Admin' | 'Baseline', priority: number, ingress: Obj[], subject: Obj = { namespaces: { matchLabels: { env: 'prod' } } }): Obj => ({
  apiVersion: 'policy.networking.k8s.io/v1alpha2',
  kind: 'ClusterNetworkPolicy',
  metadata: { name },
  spec: { tier, priority, subject, ingress },
});
const fromDev = { namespaces: { matchLabels: { env: 'dev' } } };
const load = (...objs: Obj[]) => parseManifests(objs.map((o) => stringify(o)).join('---\n'), 'policy.yaml');

function verdict(objs: Obj[], port = 80, proto: 'TCP' | 'UDP' = 'TCP') {
  const e = new PolicyEvaluator({ objects: { tiers: [], clusterGroups: [], groups: [], ...policyObjectsOf(load(...objs)) }, inventory: inv });
  const v = e.evaluate({ source: { namespace: 'dev', pod: 'client' }, destination: { namespace: 'prod', pod: 'web' }, protocol: proto, port });
  return [v.action, v.decidedBy, v.policy?.kind, v.policy?.name, v.ruleName];
}

describe('upstream ClusterNetworkPolicy / AdminNetworkPolicy', () => {
  describe('schema', () => {
    const good = cnp('deny-dev', 'Admin', 10, [{ name: 'deny', action: 'Deny', from: [fromDev] }]);

    it('accepts v1alpha2 CNP, v1alpha1 ANP and BANP', () => {
      const objs = load(
        good,
        { apiVersion: 'policy.networking.k8s.io/v1alpha1', kind: 'AdminNetworkPolicy', metadata: { name: 'a' }, spec: { priority: 0, subject: { namespaces: {} }, egress: [{ name: 'x', action: 'Allow', to: [{ networks: ['10.0.0.0/8'] }], ports: [{ portNumber: { port: 53, protocol: 'UDP' } }] }] } },
        { apiVersion: 'policy.networking.k8s.io/v1alpha1', kind: 'BaselineAdminNetworkPolicy', metadata: { name: 'default' }, spec: { subject: { namespaces: {} }, ingress: [{ action: 'Deny', from: [{ namespaces: {} }] }] } },
      );
      assert.deepEqual(objs.map((o) => o.kind), ['ClusterNetworkPolicy', 'AdminNetworkPolicy', 'BaselineAdminNetworkPolicy']);
    });

    it('names the field of each problem', () => {
      expectProblem({ ...good, spec: { ...good.spec, priority: 1001 } }, 'spec.priority', '1000');
      expectProblem({ ...good, spec: { ...good.spec, tier: 'Application' } }, 'spec.tier', 'Admin');
      expectProblem(cnp('x', 'Admin', 1, [{ action: 'Allow', from: [fromDev] }]), 'spec.ingress[0].action', 'Accept');
      expectProblem(cnp('x', 'Baseline', 1, [{ action: 'Pass', from: [fromDev] }]), 'spec.ingress[0].action', 'Pass is not allowed in the Baseline tier');
      expectProblem(cnp('x', 'Admin', 1, [{ action: 'Deny', from: [{ ...fromDev, pods: { namespaceSelector: {}, podSelector: {} } }] }]), 'spec.ingress[0].from[0]', 'exactly one of namespaces, pods');
      expectProblem(cnp('x', 'Admin', 1, [{ action: 'Deny', from: [fromDev], protocols: [{ tcp: { destinationPort: { number: 0 } } }] }]), 'spec.ingress[0].protocols[0].tcp.destinationPort.number', '');
      expectProblem(cnp('x', 'Admin', 1, [{ name: 'a', action: 'Deny', from: [fromDev] }, { name: 'a', action: 'Deny', from: [fromDev] }]), 'spec.ingress[1].name', 'duplicate rule name');
      expectProblem({ apiVersion: 'policy.networking.k8s.io/v1alpha1', kind: 'BaselineAdminNetworkPolicy', metadata: { name: 'other' }, spec: { subject: { namespaces: {} } } }, 'metadata.name', 'must be "default"');
    });

    it('egress peers: one field each, the same message in v1alpha2 (with domainNames) and v1alpha1', () => {
      const cnpTo = (to: Obj[]): Obj => ({ ...good, spec: { ...good.spec, ingress: undefined, egress: [{ action: 'Deny', to }] } });
      const anpTo = (to: Obj[]): Obj => ({ apiVersion: 'policy.networking.k8s.io/v1alpha1', kind: 'AdminNetworkPolicy', metadata: { name: 'a' }, spec: { priority: 0, subject: { namespaces: {} }, egress: [{ action: 'Deny', to }] } });
      expectProblem(cnpTo([{ nodes: {}, networks: ['10.0.0.0/8'] }]), 'spec.egress[0].to[0]', 'peer: set exactly one of namespaces, pods, nodes, networks, domainNames (got nodes, networks)');
      expectProblem(cnpTo([{}]), 'spec.egress[0].to[0]', 'peer: set exactly one of namespaces, pods, nodes, networks, domainNames (got none)');
      expectProblem(anpTo([{ namespaces: {}, pods: { namespaceSelector: {}, podSelector: {} } }]), 'spec.egress[0].to[0]', 'peer: set exactly one of namespaces, pods, nodes, networks (got namespaces, pods)');
      expectProblem(anpTo([{}]), 'spec.egress[0].to[0]', 'peer: set exactly one of namespaces, pods, nodes, networks (got none)');
      // v1alpha1 has no domainNames: an unknown field there, as the CRD's schema says.
      expectProblem(anpTo([{ domainNames: ['a.test'] }]), 'spec.egress[0].to[0].domainNames', 'unknown field "domainNames"');
      expectProblem(cnpTo([{ networks: ['10.0.0.0/33'] }]), 'spec.egress[0].to[0].networks[0]', '');
    });
  });

  describe('mapping (evaluation and compute)', () => {
    const emergencyAllow = acnp('allow-all', { priority: 1, tier: 'emergency', appliedTo: [{ podSelector: {} }], ingress: [{ action: 'Allow', from: [{ namespaceSelector: {} }] }] }) as unknown as Obj;
    const npAllowDev = knp('prod', 'allow-dev', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { env: 'dev' } } }] }] }) as unknown as Obj;

    it('Admin is above every Antrea tier: its Deny beats an emergency-tier Allow', () => {
      assert.deepEqual(verdict([emergencyAllow, cnp('deny-dev', 'Admin', 500, [{ name: 'deny-from-dev', action: 'Deny', from: [fromDev] }])]), ['Drop', 'policy', 'ClusterNetworkPolicy', 'deny-dev', 'deny-from-dev']);
    });

    it('Pass skips to K8s NetworkPolicy; lower priority number wins', () => {
      const pass = cnp('pass', 'Admin', 5, [{ name: 'pass-dev', action: 'Pass', from: [fromDev] }]);
      const deny = cnp('deny', 'Admin', 6, [{ name: 'deny-dev', action: 'Deny', from: [fromDev] }]);
      assert.deepEqual(verdict([pass, deny, npAllowDev]).slice(0, 4), ['Allow', 'policy', 'K8sNetworkPolicy', 'allow-dev']);
      const earlierDeny = { ...deny, spec: { ...(deny.spec as Obj), priority: 4 } };
      assert.deepEqual(verdict([pass, earlierDeny, npAllowDev])[0], 'Drop');
    });

    it('Baseline is below K8s NetworkPolicy and decides where nothing else does', () => {
      const banp = cnp('default', 'Baseline', 10, [{ name: 'deny-dev', action: 'Deny', from: [fromDev] }]);
      assert.deepEqual(verdict([banp]), ['Drop', 'baseline', 'ClusterNetworkPolicy', 'default', 'deny-dev']);
      assert.deepEqual(verdict([banp, npAllowDev]).slice(0, 4), ['Allow', 'policy', 'K8sNetworkPolicy', 'allow-dev']);
    });

    it('v1alpha1 ANP and BANP map the same way (Allow, Deny; ANP above ACNP, BANP last)', () => {
      const anpDeny = { apiVersion: 'policy.networking.k8s.io/v1alpha1', kind: 'AdminNetworkPolicy', metadata: { name: 'anp' }, spec: { priority: 3, subject: { namespaces: { matchLabels: { env: 'prod' } } }, ingress: [{ name: 'd', action: 'Deny', from: [fromDev], ports: [{ portNumber: { port: 80, protocol: 'TCP' } }] }] } };
      assert.deepEqual(verdict([emergencyAllow, anpDeny]), ['Drop', 'policy', 'AdminNetworkPolicy', 'anp', 'd']);
      assert.deepEqual(verdict([emergencyAllow, anpDeny], 81)[0], 'Allow');
      const banp = { apiVersion: 'policy.networking.k8s.io/v1alpha1', kind: 'BaselineAdminNetworkPolicy', metadata: { name: 'default' }, spec: { subject: { namespaces: {} }, ingress: [{ name: 'b', action: 'Deny', from: [{ namespaces: {} }] }] } };
      assert.deepEqual(verdict([banp]), ['Drop', 'baseline', 'BaselineAdminNetworkPolicy', 'default', 'b']);
    });

    it('protocols: port numbers, ranges and named ports (any protocol the pod names it with)', () => {
      const rule = (protocols: Obj[]) => [cnp('p', 'Admin', 1, [{ name: 'deny', action: 'Deny', from: [fromDev], protocols }])];
      assert.equal(verdict(rule([{ tcp: { destinationPort: { range: { start: 70, end: 90 } } } }]))[0], 'Drop');
      assert.equal(verdict(rule([{ tcp: { destinationPort: { range: { start: 70, end: 79 } } } }]))[0], 'Allow');
      assert.equal(verdict(rule([{ udp: {} }]), 53, 'UDP')[0], 'Drop');
      assert.equal(verdict(rule([{ destinationNamedPort: 'dns' }]), 53, 'UDP')[0], 'Drop');
      assert.equal(verdict(rule([{ destinationNamedPort: 'http' }]), 80)[0], 'Drop');
      assert.equal(verdict(rule([{ destinationNamedPort: 'http' }]), 53, 'UDP')[0], 'Allow');
    });

    it('networks become CIDR peers (nodes peers: node-peers.test.ts)', () => {
      const egress = (to: Obj[]) => ({ apiVersion: 'policy.networking.k8s.io/v1alpha2', kind: 'ClusterNetworkPolicy', metadata: { name: 'e' }, spec: { tier: 'Admin', priority: 1, subject: { namespaces: { matchLabels: { env: 'dev' } } }, egress: [{ name: 'out', action: 'Deny', to }] } });
      const r = computeNodePolicies({ tiers: [], clusterGroups: [], groups: [], ...policyObjectsOf(load(egress([{ networks: ['10.0.1.0/24', '192.168.0.0/16'] }]))) }, inv);
      const rule = r.nodes.get('n2')!.rules[0]!;
      assert.deepEqual([rule.tier, rule.layer, rule.action, rule.ruleName, rule.peers.cidrs], ['admin', 'antrea', 'Drop', 'out', ['10.0.1.0/24', '192.168.0.0/16']]);
      assert.equal(rule.id.startsWith('cnp:e|egress|0'), true);
    });
  });
});
