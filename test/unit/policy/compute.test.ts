// Controller-side policy computation: every semantic, with concrete IPs, ports, actions and order.
import assert from 'node:assert/strict';
import { computeNodePolicies, PolicyComputer, type PolicyObjects } from '../../../src/policy/compute/compute.js';
import { subtractCIDRs } from '../../../src/policy/compute/cidr.js';
import type { InternalRule, NodePolicySet } from '../../../src/policy/compute/types.js';
import type { InventoryPod } from '../../../src/api/inventory.js';
import { acnp, anp, clusterGroup, group, inventory, knp, pod, tier } from './fixtures.js';

const http = (port: number) => ({ name: 'http', port, protocol: 'TCP' as const });
const pods: InventoryPod[] = [
  pod('prod', 'web-1', { app: 'web' }, '10.0.1.10', 'n1', [http(80), { name: 'metrics', port: 9090, protocol: 'TCP' }]),
  pod('prod', 'web-2', { app: 'web' }, '10.0.2.10', 'n2', [http(8080)]),
  pod('prod', 'db-1', { app: 'db' }, '10.0.1.20', 'n1', [{ name: 'sql', port: 5432, protocol: 'TCP' }]),
  pod('prod', 'db-2', { app: 'db' }, '10.0.2.20', 'n2', [{ name: 'sql', port: 15432, protocol: 'TCP' }]),
  pod('prod', 'client', { app: 'client' }, '10.0.1.41', 'n1'),
  pod('dev', 'web-3', { app: 'web' }, '10.0.1.30', 'n1'),
  pod('dev', 'client', { app: 'client' }, '10.0.2.40', 'n2'),
  { ...pod('kube-system', 'hostnet', { app: 'client' }, '192.168.0.1', 'n1'), hostNetwork: true },
  { ...pod('prod', 'done', { app: 'client' }, '10.0.1.99', 'n1'), phase: 'Succeeded' },
];
const inv = inventory(pods, { prod: { env: 'prod' }, dev: { env: 'dev' }, 'kube-system': { env: 'system' } });

function compute(objects: Partial<PolicyObjects> & { policies: PolicyObjects['policies'] }, i = inv) {
  const r = computeNodePolicies({ tiers: [], clusterGroups: [], groups: [], ...objects }, i);
  return r;
}
const node = (r: ReturnType<typeof compute>, n: string): NodePolicySet => r.nodes.get(n)!;
const only = (set: NodePolicySet): InternalRule => {
  assert.equal(set.rules.length, 1, `expected one rule, got ${set.rules.map((r) => r.id).join(', ')}`);
  return set.rules[0]!;
};
const keys = (r: InternalRule) => r.targets.map((t) => t.key);

describe('policy compute', () => {
  describe('Kubernetes NetworkPolicy', () => {
    const webFromClient = knp('prod', 'web', {
      podSelector: { matchLabels: { app: 'web' } },
      ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }], ports: [{ port: 80 }] }],
    });

    it('ingress from a podSelector: pods of the policy namespace only, TCP by default, action Allow', () => {
      const r = only(node(compute({ policies: [webFromClient] }), 'n1'));
      assert.deepEqual(keys(r), ['prod/web-1']);
      assert.deepEqual(r.targets, [{ key: 'prod/web-1', ip: '10.0.1.10' }]);
      assert.deepEqual(r.peers, { any: false, ips: ['10.0.1.41'], cidrs: [] });
      assert.deepEqual(r.services, [{ protocol: 'TCP', port: 80 }]);
      assert.equal(r.action, 'Allow');
      assert.equal(r.layer, 'k8s');
      assert.equal(r.direction, 'ingress');
      assert.equal(r.id, 'knp:prod/web|ingress|0');
    });

    it('span: each node gets the rule only for its own targets; peers stay cluster-wide', () => {
      const res = compute({ policies: [webFromClient] });
      assert.deepEqual(keys(only(node(res, 'n2'))), ['prod/web-2']);
      assert.deepEqual(only(node(res, 'n2')).peers.ips, ['10.0.1.41']);
      assert.equal(only(node(res, 'n1')).id, only(node(res, 'n2')).id, 'same rule id on every node');
    });

    it('namespaceSelector alone selects every pod of the matching namespaces', () => {
      const p = knp('prod', 'p', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { env: 'dev' } } }] }] });
      const r = node(compute({ policies: [p] }), 'n1').rules[0]!;
      assert.deepEqual(r.peers.ips, ['10.0.1.30', '10.0.2.40']);
    });

    it('podSelector with namespaceSelector: pods matching both', () => {
      const p = knp('prod', 'p', { podSelector: {}, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } }, namespaceSelector: { matchLabels: { env: 'dev' } } }] }] });
      assert.deepEqual(node(compute({ policies: [p] }), 'n1').rules[0]!.peers.ips, ['10.0.2.40']);
    });

    it('namespaceSelector {} means all namespaces; hostNetwork and finished pods are never peers', () => {
      const p = knp('prod', 'p', { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { app: 'client' } } }] }] });
      assert.deepEqual(node(compute({ policies: [p] }), 'n1').rules[0]!.peers.ips, ['10.0.1.41', '10.0.2.40']);
    });

    it('matchExpressions In / NotIn / Exists / DoesNotExist', () => {
      const sel = (matchExpressions: unknown) => knp('prod', 'p', { podSelector: { matchExpressions }, policyTypes: ['Ingress'] });
      const isolated = (p: ReturnType<typeof sel>) => node(compute({ policies: [p] }), 'n1').isolated.ingress.map((t) => t.key);
      assert.deepEqual(isolated(sel([{ key: 'app', operator: 'In', values: ['db', 'client'] }])), ['prod/client', 'prod/db-1']);
      assert.deepEqual(isolated(sel([{ key: 'app', operator: 'NotIn', values: ['db', 'client'] }])), ['prod/web-1']);
      assert.deepEqual(isolated(sel([{ key: 'app', operator: 'Exists' }])), ['prod/client', 'prod/db-1', 'prod/web-1']);
      assert.deepEqual(isolated(sel([{ key: 'app', operator: 'DoesNotExist' }])), []);
    });

    it('ipBlock with except becomes the block minus its holes', () => {
      const p = knp('prod', 'p', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ ipBlock: { cidr: '172.16.0.0/16', except: ['172.16.1.0/24'] } }] }] });
      assert.deepEqual(node(compute({ policies: [p] }), 'n1').rules[0]!.peers, {
        any: false, ips: [],
        cidrs: ['172.16.0.0/24', '172.16.128.0/17', '172.16.16.0/20', '172.16.2.0/23', '172.16.32.0/19', '172.16.4.0/22', '172.16.64.0/18', '172.16.8.0/21'],
      });
    });

    it('a rule without from/ports matches every peer and service', () => {
      const p = knp('prod', 'p', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{}] });
      const r = only(node(compute({ policies: [p] }), 'n1'));
      assert.deepEqual(r.peers, { any: true, ips: [], cidrs: [] });
      assert.equal(r.services, undefined);
    });

    it('policyTypes omitted, no rules: selected pods are isolated for ingress only (default deny)', () => {
      const p = knp('prod', 'deny', { podSelector: {} });
      const n1 = node(compute({ policies: [p] }), 'n1');
      assert.deepEqual(n1.rules, []);
      assert.deepEqual(n1.isolated.ingress.map((t) => t.key), ['prod/client', 'prod/db-1', 'prod/web-1']);
      assert.deepEqual(n1.isolated.egress, []);
    });

    it('policyTypes omitted with egress rules: isolated in both directions', () => {
      const p = knp('prod', 'p', { podSelector: { matchLabels: { app: 'db' } }, egress: [{ to: [{ podSelector: { matchLabels: { app: 'web' } } }] }] });
      const n1 = node(compute({ policies: [p] }), 'n1');
      assert.deepEqual(n1.isolated.ingress.map((t) => t.key), ['prod/db-1']);
      assert.deepEqual(n1.isolated.egress.map((t) => t.key), ['prod/db-1']);
      const r = only(n1);
      assert.equal(r.direction, 'egress');
      assert.deepEqual(r.peers.ips, ['10.0.1.10', '10.0.2.10']);
    });

    it('policyTypes [Egress] does not isolate ingress; rules of an unlisted direction are ignored', () => {
      const p = knp('prod', 'p', { podSelector: { matchLabels: { app: 'db' } }, policyTypes: ['Egress'], ingress: [{}] });
      const n1 = node(compute({ policies: [p] }), 'n1');
      assert.deepEqual(n1.isolated.ingress, []);
      assert.deepEqual(n1.isolated.egress.map((t) => t.key), ['prod/db-1']);
      assert.deepEqual(n1.rules, []);
    });

    it('isolation is the union over policies, per node', () => {
      const a = knp('prod', 'a', { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Ingress'] });
      const b = knp('dev', 'b', { podSelector: {}, policyTypes: ['Ingress'] });
      const res = compute({ policies: [a, b] });
      assert.deepEqual(node(res, 'n1').isolated.ingress, [{ key: 'dev/web-3', ip: '10.0.1.30' }, { key: 'prod/web-1', ip: '10.0.1.10' }]);
      assert.deepEqual(node(res, 'n2').isolated.ingress.map((t) => t.key), ['dev/client', 'prod/web-2']);
    });

    it('ports: protocol only, UDP, endPort range', () => {
      const p = knp('prod', 'p', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ ports: [{ protocol: 'UDP' }, { protocol: 'UDP', port: 53 }, { port: 30000, endPort: 30100 }, { protocol: 'SCTP', port: 9 }] }] });
      assert.deepEqual(only(node(compute({ policies: [p] }), 'n1')).services, [
        { protocol: 'UDP' }, { protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 30000, endPort: 30100 }, { protocol: 'SCTP', port: 9 },
      ]);
    });

    it('ingress named port resolves per target pod (one rule per resolution)', () => {
      const p = knp('prod', 'p', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ ports: [{ port: 'http' }] }] });
      const res = compute({ policies: [p] });
      const r1 = only(node(res, 'n1'));
      const r2 = only(node(res, 'n2'));
      assert.deepEqual(r1.services, [{ protocol: 'TCP', port: 80 }]);
      assert.deepEqual(r2.services, [{ protocol: 'TCP', port: 8080 }]);
      assert.equal(r1.id, 'knp:prod/p|ingress|0|svc=TCP:80-');
      assert.notEqual(r1.id, r2.id);
    });

    it('a named port a target does not declare leaves that target out; protocol must match too', () => {
      const p = knp('prod', 'p', { podSelector: {}, ingress: [{ ports: [{ port: 'metrics' }, { protocol: 'UDP', port: 'http' }] }] });
      const r = only(node(compute({ policies: [p] }), 'n1'));
      assert.deepEqual(keys(r), ['prod/web-1']);
      assert.deepEqual(r.services, [{ protocol: 'TCP', port: 9090 }]);
      assert.deepEqual(node(compute({ policies: [p] }), 'n2').rules, []);
    });

    it('egress named port resolves on the destination pods; ipBlocks keep only numeric ports', () => {
      const p = knp('prod', 'p', {
        podSelector: { matchLabels: { app: 'web' } },
        egress: [{ to: [{ podSelector: { matchLabels: { app: 'db' } } }, { ipBlock: { cidr: '192.168.10.0/24' } }], ports: [{ port: 'sql' }, { port: 443 }] }],
      });
      const rules = node(compute({ policies: [p] }), 'n1').rules;
      const got = rules.map((r) => ({ ips: r.peers.ips, cidrs: r.peers.cidrs, services: r.services }));
      assert.deepEqual(got.sort((a, b) => (a.ips[0] ?? '').localeCompare(b.ips[0] ?? '')), [
        { ips: [], cidrs: ['192.168.10.0/24'], services: [{ protocol: 'TCP', port: 443 }] },
        { ips: ['10.0.1.20'], cidrs: [], services: [{ protocol: 'TCP', port: 5432 }, { protocol: 'TCP', port: 443 }] },
        { ips: ['10.0.2.20'], cidrs: [], services: [{ protocol: 'TCP', port: 15432 }, { protocol: 'TCP', port: 443 }] },
      ]);
      assert.equal(new Set(rules.map((r) => r.id)).size, 3);
    });

    it('egress named port with no `to`: every pod resolves the name, every address keeps the numeric ports (Antrea matchAllPodsPeer)', () => {
      const p = knp('prod', 'p', { podSelector: { matchLabels: { app: 'client' } }, policyTypes: ['Egress'], egress: [{ ports: [{ port: 'http' }, { port: 53, protocol: 'UDP' }] }] });
      const rules = node(compute({ policies: [p] }), 'n1').rules;
      const got = rules.map((r) => ({ ips: r.peers.ips, cidrs: r.peers.cidrs, any: r.peers.any, services: r.services }));
      assert.deepEqual(got.sort((a, b) => (a.ips[0] ?? '').localeCompare(b.ips[0] ?? '')), [
        { ips: ['10.0.1.10'], cidrs: [], any: false, services: [{ protocol: 'TCP', port: 80 }, { protocol: 'UDP', port: 53 }] },
        { ips: ['10.0.1.20', '10.0.1.30', '10.0.1.41', '10.0.2.20', '10.0.2.40'], cidrs: ['0.0.0.0/0'], any: false, services: [{ protocol: 'UDP', port: 53 }] },
        { ips: ['10.0.2.10'], cidrs: [], any: false, services: [{ protocol: 'TCP', port: 8080 }, { protocol: 'UDP', port: 53 }] },
      ]);
      const ruleAny = acnp('cli-http', { priority: 5, appliedTo: [{ podSelector: { matchLabels: { app: 'client' } } }], egress: [{ action: 'Drop', ports: [{ port: 'http' }] }] });
      const acnpRules = node(compute({ policies: [ruleAny] }), 'n1').rules;
      assert.deepEqual(acnpRules.flatMap((r) => r.peers.ips).sort(), ['10.0.1.10', '10.0.2.10'], 'an ACNP Drop to a named port reaches the pods declaring it');
    });

    it('peers that select nobody produce no rule (but isolation stays)', () => {
      const p = knp('prod', 'p', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'nobody' } } }] }] });
      const n1 = node(compute({ policies: [p] }), 'n1');
      assert.deepEqual(n1.rules, []);
      assert.deepEqual(n1.isolated.ingress.map((t) => t.key), ['prod/web-1']);
    });
  });

  describe('Antrea-native policies', () => {
    it('ACNP podSelector alone spans every namespace', () => {
      const p = acnp('web-drop', { priority: 5, appliedTo: [{ podSelector: { matchLabels: { app: 'web' } } }], ingress: [{ action: 'Drop', name: 'drop-all' }] });
      const r = only(node(compute({ policies: [p] }), 'n1'));
      assert.deepEqual(keys(r), ['dev/web-3', 'prod/web-1']);
      assert.equal(r.action, 'Drop');
      assert.equal(r.ruleName, 'drop-all');
      assert.deepEqual(r.policy, { kind: 'AntreaClusterNetworkPolicy', name: 'web-drop' });
      assert.deepEqual(r.peers.any, true);
    });

    it('ACNP appliedTo namespaceSelector, peers by namespaceSelector', () => {
      const p = acnp('p', { priority: 1, appliedTo: [{ namespaceSelector: { matchLabels: { env: 'dev' } } }], egress: [{ action: 'Reject', to: [{ namespaceSelector: { matchLabels: { env: 'prod' } }, podSelector: { matchLabels: { app: 'db' } } }] }] });
      const r = only(node(compute({ policies: [p] }), 'n2'));
      assert.deepEqual(keys(r), ['dev/client']);
      assert.deepEqual(r.peers.ips, ['10.0.1.20', '10.0.2.20']);
      assert.equal(r.action, 'Reject');
    });

    it('no tier means application (250); a generated rule name is <dir>-<action>-<7 hex>', () => {
      const p = acnp('p', { priority: 1, appliedTo: [{ podSelector: {} }], ingress: [{ action: 'Pass' }] });
      const r = node(compute({ policies: [p] }), 'n1').rules[0]!;
      assert.equal(r.tier, 'application');
      assert.deepEqual(r.order, { tierPriority: 250, policyPriority: 1, ruleIndex: 0 });
      assert.match(r.ruleName, /^ingress-pass-[0-9a-f]{7}$/);
      assert.equal(r.action, 'Pass');
    });

    it('order: emergency < securityops < custom < application < K8s < baseline, then policy priority, then rule index', () => {
      const mk = (name: string, t: string | undefined, priority: number, n = 1) =>
        acnp(name, { ...(t ? { tier: t } : {}), priority, appliedTo: [{ podSelector: { matchLabels: { app: 'web' } } }], ingress: Array.from({ length: n }, (_, i) => ({ action: 'Allow', name: `r${i}` })) });
      const policies = [
        knp('prod', 'k', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{}] }),
        mk('base', 'baseline', 1),
        mk('app-b', undefined, 2.5),
        mk('app-a', 'application', 2, 2),
        mk('custom', 'edge', 1),
        mk('sec', 'securityops', 9),
        mk('emerg', 'Emergency', 10),
      ];
      const rules = node(compute({ policies, tiers: [tier('edge', 180)] }), 'n1').rules;
      assert.deepEqual(rules.map((r) => `${r.policy.name}/${r.ruleName}`), [
        'emerg/r0', 'sec/r0', 'custom/r0', 'app-a/r0', 'app-a/r1', 'app-b/r0', 'k/ingress-0', 'base/r0',
      ]);
      assert.deepEqual(rules.map((r) => r.order.tierPriority), [50, 100, 180, 250, 250, 250, 251, 253]);
      assert.deepEqual(rules.map((r) => r.layer), ['antrea', 'antrea', 'antrea', 'antrea', 'antrea', 'antrea', 'k8s', 'baseline']);
    });

    it('a policy in a tier that does not exist fails with a clear error, the others still compute', () => {
      const bad = acnp('bad', { tier: 'nope', priority: 1, appliedTo: [{ podSelector: {} }], ingress: [{ action: 'Drop' }] });
      const good = acnp('good', { priority: 1, appliedTo: [{ podSelector: { matchLabels: { app: 'db' } } }], ingress: [{ action: 'Drop' }] });
      const res = compute({ policies: [bad, good] });
      assert.deepEqual(res.errors, [{ policy: { kind: 'AntreaClusterNetworkPolicy', name: 'bad' }, path: 'spec.tier', message: 'tier "nope" does not exist' }]);
      assert.deepEqual(node(res, 'n1').rules.map((r) => r.policy.name), ['good']);
    });

    it('per-rule appliedTo', () => {
      const p = acnp('p', { priority: 1, ingress: [
        { action: 'Allow', appliedTo: [{ podSelector: { matchLabels: { app: 'db' } } }] },
        { action: 'Drop', appliedTo: [{ podSelector: { matchLabels: { app: 'web' } } }] },
      ] });
      const rules = node(compute({ policies: [p] }), 'n1').rules;
      assert.deepEqual(rules.map((r) => [r.action, keys(r)]), [['Allow', ['prod/db-1']], ['Drop', ['dev/web-3', 'prod/web-1']]]);
    });

    it('namespaces: {match: Self} gives one rule per target namespace with that namespace\'s pods', () => {
      const p = acnp('self', { priority: 1, appliedTo: [{ podSelector: { matchLabels: { app: 'web' } } }], ingress: [{ action: 'Allow', from: [{ namespaces: { match: 'Self' }, podSelector: { matchLabels: { app: 'client' } } }] }] });
      const rules = node(compute({ policies: [p] }), 'n1').rules;
      assert.deepEqual(rules.map((r) => ({ id: r.id, targets: keys(r), ips: r.peers.ips })), [
        { id: 'acnp:self|ingress|0|ns=dev', targets: ['dev/web-3'], ips: ['10.0.2.40'] },
        { id: 'acnp:self|ingress|0|ns=prod', targets: ['prod/web-1'], ips: ['10.0.1.41'] },
      ]);
    });

    it('ClusterGroup peer: podSelector + namespaceSelector', () => {
      const cg = clusterGroup('dev-clients', { podSelector: { matchLabels: { app: 'client' } }, namespaceSelector: { matchLabels: { env: 'dev' } } });
      const p = acnp('p', { priority: 1, appliedTo: [{ podSelector: { matchLabels: { app: 'db' } } }], ingress: [{ action: 'Allow', from: [{ group: 'dev-clients' }] }] });
      assert.deepEqual(only(node(compute({ policies: [p], clusterGroups: [cg] }), 'n1')).peers.ips, ['10.0.2.40']);
    });

    it('ClusterGroup ipBlocks and childGroups (union of pods and blocks); appliedTo group', () => {
      const groups = [
        clusterGroup('webs', { podSelector: { matchLabels: { app: 'web' } } }),
        clusterGroup('ext', { ipBlocks: [{ cidr: '203.0.113.0/24' }] }),
        clusterGroup('all', { childGroups: ['webs', 'ext'] }),
        clusterGroup('dbs', { podSelector: { matchLabels: { app: 'db' } }, namespaceSelector: {} }),
      ];
      const p = acnp('p', { priority: 1, appliedTo: [{ group: 'dbs' }], ingress: [{ action: 'Allow', from: [{ group: 'all' }] }] });
      const r = only(node(compute({ policies: [p], clusterGroups: groups }), 'n1'));
      assert.deepEqual(keys(r), ['prod/db-1']);
      assert.deepEqual(r.peers, { any: false, ips: ['10.0.1.10', '10.0.1.30', '10.0.2.10'], cidrs: ['203.0.113.0/24'] });
    });

    it('childGroups deeper than one level are refused', () => {
      const groups = [clusterGroup('a', { childGroups: ['b'] }), clusterGroup('b', { childGroups: ['c'] }), clusterGroup('c', { podSelector: {} })];
      const p = acnp('p', { priority: 1, appliedTo: [{ podSelector: {} }], ingress: [{ action: 'Allow', from: [{ group: 'a' }] }] });
      const res = compute({ policies: [p], clusterGroups: groups });
      assert.equal(res.errors.length, 1);
      assert.match(res.errors[0]!.message, /ClusterGroup b: childGroups may only be one level deep/);
      assert.equal(res.errors[0]!.path, 'spec.ingress[0].from[0].group');
    });

    it('a group that does not exist (yet) selects nothing', () => {
      const p = acnp('p', { priority: 1, appliedTo: [{ podSelector: {} }], ingress: [{ action: 'Allow', from: [{ group: 'later' }] }] });
      const res = compute({ policies: [p] });
      assert.deepEqual(res.errors, []);
      assert.deepEqual(node(res, 'n1').rules, []);
    });

    it('ANP: podSelector alone stays in the policy namespace; Group peers and appliedTo resolve in it', () => {
      const groups = [group('prod', 'clients', { podSelector: { matchLabels: { app: 'client' } } }), group('dev', 'clients', { podSelector: {} })];
      const p = anp('prod', 'p', { priority: 3, appliedTo: [{ podSelector: { matchLabels: { app: 'web' } } }], ingress: [{ action: 'Allow', from: [{ group: 'clients' }] }] });
      const r = only(node(compute({ policies: [p], groups }), 'n1'));
      assert.deepEqual(keys(r), ['prod/web-1']);
      assert.deepEqual(r.peers.ips, ['10.0.1.41']);
      assert.deepEqual(r.policy, { kind: 'AntreaNetworkPolicy', namespace: 'prod', name: 'p' });
      const viaGroup = anp('prod', 'q', { priority: 3, appliedTo: [{ group: 'clients' }], egress: [{ action: 'Drop' }] });
      assert.deepEqual(keys(only(node(compute({ policies: [viaGroup], groups }), 'n1'))), ['prod/client']);
    });

    it('ICMP protocols with type and code; ports and protocols together', () => {
      const p = acnp('p', { priority: 1, appliedTo: [{ podSelector: { matchLabels: { app: 'db' } } }], ingress: [{ action: 'Drop', protocols: [{ icmp: { icmpType: 8, icmpCode: 0 } }, { icmp: {} }], ports: [{ protocol: 'TCP', port: 22 }] }] });
      assert.deepEqual(only(node(compute({ policies: [p] }), 'n1')).services, [
        { protocol: 'TCP', port: 22 }, { protocol: 'ICMP', icmpType: 8, icmpCode: 0 }, { protocol: 'ICMP' },
      ]);
    });

    it('baseline tier rules land in the baseline layer (after K8s)', () => {
      const p = acnp('b', { tier: 'baseline', priority: 1, appliedTo: [{ namespaceSelector: {} }], egress: [{ action: 'Drop' }] });
      const r = node(compute({ policies: [p] }), 'n1').rules[0]!;
      assert.equal(r.layer, 'baseline');
      assert.equal(r.order.tierPriority, 253);
    });

    it('enableLogging and logLabel are carried', () => {
      const p = acnp('p', { priority: 1, appliedTo: [{ podSelector: { matchLabels: { app: 'db' } } }], ingress: [{ action: 'Allow', enableLogging: true, logLabel: 'audit' }] });
      const r = only(node(compute({ policies: [p] }), 'n1'));
      assert.equal(r.enableLogging, true);
      assert.equal(r.logLabel, 'audit');
    });

    it('toServices: the rule names its Services (sorted, once each) and no address; an Antrea NetworkPolicy defaults to its own namespace', () => {
      const p = acnp('to-svc', { priority: 1, appliedTo: [{ podSelector: { matchLabels: { app: 'client' } } }], egress: [{ action: 'Drop', name: 'no-db', toServices: [{ name: 'web', namespace: 'prod' }, { name: 'db', namespace: 'prod' }, { name: 'web', namespace: 'prod', scope: 'Cluster' }] }] });
      const r = only(node(compute({ policies: [p] }), 'n1'));
      assert.deepEqual(r.peers, { any: false, ips: [], cidrs: [], toServices: [{ namespace: 'prod', name: 'db' }, { namespace: 'prod', name: 'web' }] });
      assert.equal(r.services, undefined);
      assert.deepEqual([r.direction, r.action, r.ruleName, keys(r)], ['egress', 'Drop', 'no-db', ['prod/client']]);
      const n = anp('dev', 'to-own', { priority: 1, appliedTo: [{ podSelector: {} }], egress: [{ action: 'Allow', toServices: [{ name: 'api' }, { name: 'dns', namespace: 'kube-system' }] }] });
      assert.deepEqual(only(node(compute({ policies: [n] }), 'n2')).peers.toServices, [{ namespace: 'dev', name: 'api' }, { namespace: 'kube-system', name: 'dns' }]);
    });

    const unsupported: [string, unknown, RegExp, string][] = [
      ['toServices scope ClusterSet', { priority: 1, appliedTo: [{ podSelector: {} }], egress: [{ action: 'Allow', toServices: [{ name: 's', namespace: 'prod' }, { name: 't', namespace: 'prod', scope: 'ClusterSet' }] }] }, /scope ClusterSet \(multi-cluster Services\) is not supported yet/, 'spec.egress[0].toServices[1].scope'],
      ['serviceAccount', { priority: 1, appliedTo: [{ podSelector: {} }], ingress: [{ action: 'Allow', from: [{ serviceAccount: { name: 'sa', namespace: 'prod' } }] }] }, /serviceAccount peers is not supported yet/, 'spec.ingress[0].from[0].serviceAccount'],
      ['L7', { priority: 1, appliedTo: [{ podSelector: {} }], ingress: [{ action: 'Allow', l7Protocols: [{ http: {} }] }] }, /Layer 7 rules \(l7Protocols\) is not supported yet/, 'spec.ingress[0].l7Protocols'],
      ['appliedTo service', { priority: 1, appliedTo: [{ service: { name: 's', namespace: 'prod' } }], ingress: [{ action: 'Drop' }] }, /appliedTo a Service/, 'spec.appliedTo[0].service'],
    ];
    for (const [what, spec, message, path] of unsupported) {
      it(`refuses ${what} as not supported yet, leaving no partial rules`, () => {
        const res = compute({ policies: [acnp('x', spec), acnp('ok', { priority: 2, appliedTo: [{ podSelector: { matchLabels: { app: 'db' } } }], ingress: [{ action: 'Drop' }] })] });
        assert.equal(res.errors.length, 1);
        assert.match(res.errors[0]!.message, message);
        assert.equal(res.errors[0]!.path, path);
        assert.deepEqual([...new Set([...res.nodes.values()].flatMap((n) => n.rules.map((r) => r.policy.name)))], ['ok']);
      });
    }
  });

  describe('stability and incremental updates', () => {
    const policies = [
      knp('prod', 'a', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }] }] }),
      acnp('b', { priority: 1, appliedTo: [{ podSelector: { matchLabels: { app: 'db' } } }], ingress: [{ action: 'Drop', from: [{ namespaceSelector: { matchLabels: { env: 'dev' } } }] }] }),
    ];

    it('the same input in another order gives the same output', () => {
      assert.deepEqual(compute({ policies }), compute({ policies: [...policies].reverse() }));
    });

    it('every node of the inventory gets a set, empty when nothing applies', () => {
      const res = compute({ policies: [] }, inventory(pods, {}, ['n1', 'n2', 'n3']));
      assert.deepEqual([...res.nodes.keys()], ['n1', 'n2', 'n3']);
      assert.deepEqual(res.nodes.get('n3'), { node: 'n3', rules: [], isolated: { ingress: [], egress: [] } });
    });

    it('a pod label change recomputes only the selections it touches', () => {
      const c = new PolicyComputer(inv);
      const objects = { policies };
      c.compute(objects);
      const before = c.index.computed;
      // prod/client → app=db: touches the app=client and app=db selections only.
      const old = inv.pods.get('prod/client')!;
      c.applyChange({ kind: 'Pod', type: 'updated', object: { ...old, labels: { app: 'db' } }, previous: old });
      const res = c.compute(objects);
      assert.equal(c.index.computed - before, 2, 'two selections recomputed');
      const n1 = res.nodes.get('n1')!;
      assert.deepEqual(n1.rules.find((r) => r.policy.name === 'b')!.targets.map((t) => t.key), ['prod/client', 'prod/db-1']);
      assert.deepEqual(n1.rules.filter((r) => r.policy.name === 'a'), [], 'no client left in prod: the K8s rule selects nobody');
    });

    it('a namespace label change moves its pods in and out of namespaceSelector peers', () => {
      const c = new PolicyComputer(inv);
      const objects = { policies };
      c.compute(objects);
      c.applyChange({ kind: 'Namespace', type: 'updated', object: { name: 'dev', labels: { 'kubernetes.io/metadata.name': 'dev', env: 'staging' } } });
      assert.deepEqual(c.compute(objects).nodes.get('n1')!.rules.filter((r) => r.policy.name === 'b'), []);
    });

    it('incremental results equal a full recompute after each of 300 random inventory changes, recomputing only the policies touched (and a spans-only computer gives the same spans)', () => {
      // A seeded LCG: the same sequence every run, so a failure reproduces.
      let seed = 12345;
      const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
      const apps = ['web', 'db', 'client', 'cache'];
      const nss = ['prod', 'dev', 'qa'];
      const nsLabels: Record<string, Record<string, string>> = { prod: { env: 'prod' }, dev: { env: 'dev' }, qa: { env: 'dev' } };
      const world = inventory(
        Array.from({ length: 24 }, (_, i) => pod(nss[i % 3]!, `p${i}`, { app: apps[i % 4]! }, `10.1.0.${i + 1}`, i % 2 ? 'n1' : 'n2', i % 5 ? [] : [{ name: 'http', port: 8080 + (i % 3), protocol: 'TCP' }])),
        nsLabels,
      );
      const objects: PolicyObjects = {
        policies: [
          knp('prod', 'k-web', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }], ports: [{ port: 'http' }] }] }),
          knp('dev', 'k-deny', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] }),
          acnp('a-self', { priority: 1, appliedTo: [{ podSelector: { matchLabels: { app: 'db' } } }], ingress: [{ action: 'Allow', from: [{ namespaces: { match: 'Self' } }] }] }),
          acnp('a-ns', { priority: 2, appliedTo: [{ namespaceSelector: { matchLabels: { env: 'dev' } } }], egress: [{ action: 'Drop', to: [{ namespaceSelector: { matchLabels: { env: 'prod' } }, podSelector: { matchLabels: { app: 'db' } } }] }] }),
          acnp('a-group', { priority: 3, appliedTo: [{ podSelector: { matchLabels: { app: 'cache' } } }], ingress: [{ action: 'Drop', from: [{ group: 'cg-clients' }] }] }),
          acnp('a-named-egress', { priority: 4, appliedTo: [{ podSelector: { matchLabels: { app: 'client' } } }], egress: [{ action: 'Allow', ports: [{ port: 'http' }] }] }),
          anp('qa', 'n-web', { priority: 5, appliedTo: [{ podSelector: {} }], ingress: [{ action: 'Reject', from: [{ podSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['web', 'db'] }] } }] }] }),
        ],
        clusterGroups: [clusterGroup('cg-clients', { podSelector: { matchLabels: { app: 'client' } } })],
      };
      const c = new PolicyComputer(world);
      c.compute(objects);
      // The controller's kind: spans and errors only, fed the same changes.
      const spansOnly = new PolicyComputer(world, {}, { spansOnly: true });
      spansOnly.compute(objects);
      const apply = (change: Parameters<PolicyComputer['applyChange']>[0]) => {
        c.applyChange(change);
        spansOnly.applyChange(change);
      };
      const pods = new Map(world.pods);
      const namespaces = new Map(world.namespaces);
      let partial = 0;
      for (let step = 0; step < 300; step++) {
        const keys = [...pods.keys()];
        const op = rnd(5);
        if (op === 0 || keys.length < 5) {
          const ns = nss[rnd(3)]!;
          const p = pod(ns, `new${step}`, { app: apps[rnd(4)]! }, `10.2.${step >> 8}.${(step & 255) + 1}`, rnd(2) ? 'n1' : 'n2', rnd(2) ? [{ name: 'http', port: 9000, protocol: 'TCP' }] : []);
          pods.set(`${ns}/${p.name}`, p);
          apply({ kind: 'Pod', type: 'added', object: p });
        } else if (op === 1) {
          const key = keys[rnd(keys.length)]!;
          const old = pods.get(key)!;
          pods.delete(key);
          apply({ kind: 'Pod', type: 'deleted', object: old });
        } else if (op === 2 || op === 3) {
          const key = keys[rnd(keys.length)]!;
          const old = pods.get(key)!;
          const next = op === 2 ? { ...old, labels: { app: apps[rnd(4)]! } } : { ...old, nodeName: old.nodeName === 'n1' ? 'n2' : 'n1' };
          pods.set(key, next);
          apply({ kind: 'Pod', type: 'updated', object: next, previous: old });
        } else {
          const name = nss[rnd(3)]!;
          const ns = { name, labels: { 'kubernetes.io/metadata.name': name, env: rnd(2) ? 'prod' : 'dev' } };
          namespaces.set(name, ns);
          apply({ kind: 'Namespace', type: 'updated', object: ns });
        }
        const incremental = c.compute(objects);
        if (c.lastRecomputed < objects.policies.length) partial++;
        assert.deepEqual(incremental, computeNodePolicies(objects, { nodes: world.nodes, namespaces: new Map(namespaces), pods: new Map(pods) }), `step ${step} (op ${op})`);
        const spansResult = spansOnly.compute(objects);
        assert.deepEqual(spansResult.errors, incremental.errors, `step ${step}: spans-only errors`);
        assert.equal(spansResult.nodes.size, 0, 'spans only: no node sets');
        for (const p of objects.policies) assert.deepEqual(spansOnly.spanOf(p), c.spanOf(p), `step ${step} (op ${op}): span of ${p.metadata.name}`);
      }
      assert.ok(partial > 100, `only ${partial} of 300 changes recomputed a subset of the policies`);
      // Unchanged inventory: nothing is recomputed.
      c.compute(objects);
      assert.equal(c.lastRecomputed, 0);
    });

    it('a deleted pod leaves targets and peers', () => {
      const c = new PolicyComputer(inv);
      c.applyChange({ kind: 'Pod', type: 'deleted', object: inv.pods.get('prod/web-1')! });
      assert.deepEqual(c.compute({ policies }).nodes.get('n1')!.rules.map((r) => r.policy.name), ['b']);
    });
  });

  describe('cidr subtraction', () => {
    it('cuts holes and keeps the rest minimal', () => {
      assert.deepEqual(subtractCIDRs('10.0.0.0/24', ['10.0.0.0/25']), ['10.0.0.128/25']);
      assert.deepEqual(subtractCIDRs('10.0.0.0/30', ['10.0.0.1/32', '10.0.0.2/32']), ['10.0.0.0/32', '10.0.0.3/32']);
      assert.deepEqual(subtractCIDRs('10.1.2.3/16'), ['10.1.0.0/16']);
      assert.deepEqual(subtractCIDRs('fd00::/126', ['fd00::/127']), ['fd00::2/127']);
    });
  });
});
