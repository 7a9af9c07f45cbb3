// NetworkPolicy evaluation on crafted worlds: every ordering rule the datapath applies (tiers,
// policy priority, rule order, Pass, K8s isolation, baseline), the peers and services a rule
// matches (named ports, ranges, ICMP, ipBlock/except, namespaces, groups) and the answer's shape.
import assert from 'node:assert/strict';
import { PolicyComputer, type PolicyObjects } from '../../../src/policy/compute/compute.js';
import { EvalError, PolicyEvaluator, type EvalQuery, type EvalVerdict } from '../../../src/policy/evaluate/evaluate.js';
import type { InventoryPod } from '../../../src/api/inventory.js';
import { ipFamily, ipToBigInt } from '../../../src/api/net.js';
import { parseAddress, peersContain } from '../../../src/policy/evaluate/match.js';
import { acnp, anp, clusterGroup, group, inventory, knp, pod, tier } from './fixtures.js';

const pods: InventoryPod[] = [
  pod('prod', 'web', { app: 'web' }, '10.0.1.10', 'n1', [{ name: 'http', port: 80, protocol: 'TCP' }, { name: 'dns', port: 53, protocol: 'UDP' }]),
  pod('prod', 'api', { app: 'api' }, '10.0.2.10', 'n2', [{ name: 'http', port: 8080, protocol: 'TCP' }]),
  pod('prod', 'client', { role: 'client' }, '10.0.1.20', 'n1'),
  pod('dev', 'client', { role: 'client' }, '10.0.2.20', 'n2'),
  pod('dev', 'web', { app: 'web' }, '10.0.2.30', 'n2'),
  { ...pod('kube-system', 'hostnet', {}, '192.168.1.1', 'n1'), hostNetwork: true },
];
const inv = inventory(pods, { prod: { env: 'prod' }, dev: { env: 'dev' } });

function evaluator(objects: Partial<PolicyObjects>): PolicyEvaluator {
  return new PolicyEvaluator({ objects: { policies: [], tiers: [], clusterGroups: [], groups: [], ...objects }, inventory: inv });
}
const ep = (ref: string) => {
  const [namespace, name] = ref.split('/') as [string, string];
  return { namespace, pod: name };
};
/** `prod/client -> prod/web tcp/80`; an address stands for itself. */
function q(from: string, to: string, what?: string): EvalQuery {
  const end = (s: string) => (s.includes('/') ? ep(s) : { ip: s });
  const out: EvalQuery = { source: end(from), destination: end(to) };
  if (what) {
    const [proto, port] = what.split('/') as [string, string | undefined];
    out.protocol = proto.toUpperCase() as EvalQuery['protocol'];
    if (port !== undefined) {
      if (out.protocol === 'ICMP') out.icmpType = Number(port);
      else out.port = Number(port);
    }
  }
  return out;
}
/** The verdict's summary: action, decidedBy, policy name, direction, rule index. */
const brief = (v: EvalVerdict) => [v.action, v.decidedBy, v.policy?.name, v.direction, v.ruleIndex];

const toWeb = (name: string, tierName: string, priority: number, ingress: unknown[]) =>
  acnp(name, { priority, tier: tierName, appliedTo: [{ podSelector: { matchLabels: { app: 'web' } }, namespaceSelector: { matchLabels: { env: 'prod' } } }], ingress });
const fromClients = { podSelector: { matchLabels: { role: 'client' } } };

describe('policy evaluation', () => {
  describe('no policy, isolation, both directions', () => {
    it('no policy: allowed, stated as no-policy on both sides', () => {
      const v = evaluator({}).evaluate(q('prod/client', 'prod/web', 'tcp/80'));
      assert.deepEqual(v, {
        action: 'Allow', decidedBy: 'no-policy',
        egress: { action: 'Allow', decidedBy: 'no-policy' },
        ingress: { action: 'Allow', decidedBy: 'no-policy' },
      });
    });

    it('K8s isolation: a selected pod with no matching rule is dropped, naming the isolating policies, rule index -1', () => {
      const deny = knp('prod', 'deny-web', { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Ingress'] });
      const other = knp('prod', 'allow-8443', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ ports: [{ port: 8443 }] }] });
      const e = evaluator({ policies: [other, deny] });
      const v = e.evaluate(q('prod/client', 'prod/web', 'tcp/80'));
      assert.deepEqual(brief(v), ['Drop', 'k8s-isolation', 'allow-8443', 'In', -1]);
      assert.deepEqual(v.ingress!.isolatedBy!.map((p) => p.name), ['allow-8443', 'deny-web']);
      assert.deepEqual(v.egress, { action: 'Allow', decidedBy: 'no-policy' }, 'egress of the client is not isolated');
      assert.deepEqual(brief(e.evaluate(q('prod/client', 'prod/web', 'tcp/8443'))), ['Allow', 'policy', 'allow-8443', 'In', 0]);
      // Isolation is per pod and direction: the web pod's own egress stays open.
      assert.deepEqual(brief(e.evaluate(q('prod/web', 'prod/client', 'tcp/80'))), ['Allow', 'no-policy', undefined, undefined, undefined]);
    });

    it('egress isolation decides at the source before ingress is looked at', () => {
      const e = evaluator({
        policies: [
          knp('prod', 'client-no-egress', { podSelector: { matchLabels: { role: 'client' } }, policyTypes: ['Egress'] }),
          toWeb('web-drop', 'application', 5, [{ action: 'Drop', from: [fromClients] }]),
        ],
      });
      const v = e.evaluate(q('prod/client', 'prod/web', 'tcp/80'));
      assert.deepEqual(brief(v), ['Drop', 'k8s-isolation', 'client-no-egress', 'Out', -1]);
      assert.equal(v.ingress!.action, 'Drop', 'the ingress side is still evaluated and reported');
      assert.equal(v.ingress!.policy!.name, 'web-drop');
    });

    it('an egress section makes policyTypes Ingress and Egress; egress rules allow by peer', () => {
      const e = evaluator({ policies: [knp('prod', 'web-out', { podSelector: { matchLabels: { app: 'web' } }, egress: [{ to: [{ namespaceSelector: { matchLabels: { env: 'dev' } } }] }] })] });
      assert.deepEqual(brief(e.evaluate(q('prod/web', 'dev/client', 'udp/53'))), ['Allow', 'policy', 'web-out', 'Out', 0]);
      assert.deepEqual(brief(e.evaluate(q('prod/web', 'prod/api', 'tcp/8080'))), ['Drop', 'k8s-isolation', 'web-out', 'Out', -1]);
      assert.deepEqual(brief(e.evaluate(q('prod/client', 'prod/web', 'tcp/80'))), ['Drop', 'k8s-isolation', 'web-out', 'In', -1]);
    });
  });

  describe('order: tiers, priorities, rules, Pass, baseline', () => {
    it('a higher tier decides before a lower one, whatever the policy priorities', () => {
      const e = evaluator({
        tiers: [tier('early', 20)],
        policies: [
          toWeb('app-allow', 'application', 1, [{ action: 'Allow', from: [fromClients] }]),
          toWeb('early-drop', 'early', 100, [{ action: 'Drop', from: [fromClients] }]),
        ],
      });
      const v = e.evaluate(q('dev/client', 'prod/web', 'tcp/80'));
      assert.deepEqual(brief(v), ['Drop', 'policy', 'early-drop', 'In', 0]);
      assert.deepEqual(v.policy, { kind: 'AntreaClusterNetworkPolicy', name: 'early-drop', tier: 'early', priority: 100 });
    });

    it('within a tier the lower policy priority decides, then the rule order', () => {
      const e = evaluator({
        policies: [
          toWeb('p10', 'application', 10, [{ action: 'Allow', from: [fromClients] }]),
          toWeb('p5', 'application', 5, [
            { action: 'Reject', name: 'reject-dev', from: [{ namespaceSelector: { matchLabels: { env: 'dev' } } }] },
            { action: 'Drop', name: 'drop-clients', from: [fromClients] },
          ]),
        ],
      });
      const dev = e.evaluate(q('dev/client', 'prod/web', 'tcp/80'));
      assert.deepEqual(brief(dev), ['Reject', 'policy', 'p5', 'In', 0]);
      assert.equal(dev.ruleName, 'reject-dev');
      const prod = e.evaluate(q('prod/client', 'prod/web', 'tcp/80'));
      assert.deepEqual(brief(prod), ['Drop', 'policy', 'p5', 'In', 1]);
      assert.equal(prod.ruleName, 'drop-clients');
    });

    it('an Antrea Allow lets traffic through K8s isolation; a K8s allow cannot undo an Antrea Drop', () => {
      const deny = knp('prod', 'deny-web', { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Ingress'] });
      const allowAll = knp('prod', 'allow-all', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{}] });
      const e = evaluator({ policies: [deny, toWeb('app-allow', 'application', 5, [{ action: 'Allow', from: [{ podSelector: { matchLabels: { role: 'client' } }, namespaceSelector: { matchLabels: { env: 'prod' } } }] }])] });
      assert.deepEqual(brief(e.evaluate(q('prod/client', 'prod/web', 'tcp/80'))), ['Allow', 'policy', 'app-allow', 'In', 0]);
      assert.deepEqual(brief(e.evaluate(q('dev/client', 'prod/web', 'tcp/80'))), ['Drop', 'k8s-isolation', 'deny-web', 'In', -1]);
      const e2 = evaluator({ policies: [allowAll, toWeb('app-drop', 'application', 5, [{ action: 'Drop', from: [fromClients] }])] });
      assert.deepEqual(brief(e2.evaluate(q('prod/client', 'prod/web', 'tcp/80'))), ['Drop', 'policy', 'app-drop', 'In', 0]);
      assert.deepEqual(brief(e2.evaluate(q('prod/api', 'prod/web', 'tcp/80'))), ['Allow', 'policy', 'allow-all', 'In', 0]);
    });

    it('Pass skips the remaining Antrea tiers to K8s NetworkPolicy, then isolation, then baseline', () => {
      const pass = toWeb('so-pass', 'securityops', 5, [{ action: 'Pass', name: 'to-k8s', from: [fromClients] }]);
      const appDrop = toWeb('app-drop', 'application', 5, [{ action: 'Drop', from: [fromClients] }]);
      const baselineDrop = toWeb('base-drop', 'baseline', 5, [{ action: 'Drop', from: [fromClients] }]);
      const knpAllow = knp('prod', 'web-from-clients', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [fromClients] }] });

      // Pass jumps over the application Drop; nothing else matches: baseline decides.
      const v = evaluator({ policies: [pass, appDrop, baselineDrop] }).evaluate(q('prod/client', 'prod/web', 'tcp/80'));
      assert.deepEqual(brief(v), ['Drop', 'baseline', 'base-drop', 'In', 0]);
      assert.deepEqual(v.ingress!.passed, [{ policy: { kind: 'AntreaClusterNetworkPolicy', name: 'so-pass', tier: 'securityops', priority: 5 }, ruleIndex: 0, ruleName: 'to-k8s' }]);
      // With a K8s allow for the client, the K8s layer allows before baseline.
      assert.deepEqual(brief(evaluator({ policies: [pass, appDrop, baselineDrop, knpAllow] }).evaluate(q('prod/client', 'prod/web', 'tcp/80'))), ['Allow', 'policy', 'web-from-clients', 'In', 0]);
      // Without the Pass, the application Drop decides.
      assert.deepEqual(brief(evaluator({ policies: [appDrop, baselineDrop, knpAllow] }).evaluate(q('prod/client', 'prod/web', 'tcp/80'))), ['Drop', 'policy', 'app-drop', 'In', 0]);
      // Pass then nothing at all: allowed, the Pass still listed.
      const open = evaluator({ policies: [pass] }).evaluate(q('prod/client', 'prod/web', 'tcp/80'));
      assert.deepEqual(brief(open), ['Allow', 'no-policy', undefined, undefined, undefined]);
      assert.equal(open.ingress!.passed!.length, 1);
    });

    it('K8s isolation sits above baseline: a baseline Allow cannot undo it', () => {
      const e = evaluator({
        policies: [
          knp('prod', 'deny-web', { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Ingress'] }),
          toWeb('base-allow', 'baseline', 5, [{ action: 'Allow', from: [fromClients] }]),
        ],
      });
      assert.deepEqual(brief(e.evaluate(q('prod/client', 'prod/web', 'tcp/80'))), ['Drop', 'k8s-isolation', 'deny-web', 'In', -1]);
    });

    it('baseline decides only what nothing above matched', () => {
      const e = evaluator({
        policies: [
          toWeb('base-drop', 'baseline', 5, [{ action: 'Drop', from: [{ namespaceSelector: {} }] }]),
          toWeb('app-allow', 'application', 5, [{ action: 'Allow', from: [{ podSelector: { matchLabels: { app: 'api' } } }] }]),
        ],
      });
      assert.deepEqual(brief(e.evaluate(q('prod/api', 'prod/web', 'tcp/80'))), ['Allow', 'policy', 'app-allow', 'In', 0]);
      assert.deepEqual(brief(e.evaluate(q('prod/client', 'prod/web', 'tcp/80'))), ['Drop', 'baseline', 'base-drop', 'In', 0]);
    });

    it('both sides allowing: the rule first in evaluation order is named (egress on a tie)', () => {
      const out = acnp('client-out', { priority: 3, appliedTo: [fromClients], egress: [{ action: 'Allow', to: [{ podSelector: { matchLabels: { app: 'web' } } }] }] });
      const inHigh = toWeb('web-in', 'application', 1, [{ action: 'Allow', from: [fromClients] }]);
      const v = evaluator({ policies: [out, inHigh] }).evaluate(q('prod/client', 'prod/web', 'tcp/80'));
      assert.deepEqual(brief(v), ['Allow', 'policy', 'web-in', 'In', 0]);
      assert.equal(v.egress!.policy!.name, 'client-out');
      const tie = toWeb('web-in', 'application', 3, [{ action: 'Allow', from: [fromClients] }]);
      assert.deepEqual(brief(evaluator({ policies: [out, tie] }).evaluate(q('prod/client', 'prod/web', 'tcp/80'))), ['Allow', 'policy', 'client-out', 'Out', 0]);
      // A policy allowing on one side outranks no policy on the other.
      assert.deepEqual(brief(evaluator({ policies: [out] }).evaluate(q('prod/client', 'prod/web'))), ['Allow', 'policy', 'client-out', 'Out', 0]);
    });
  });

  describe('what a rule matches', () => {
    it('toServices rules decide nothing: queries name endpoints after load balancing (the limit docs/policy.md states)', () => {
      const e = evaluator({
        policies: [acnp('no-web-svc', { priority: 1, appliedTo: [{ podSelector: { matchLabels: { role: 'client' } } }], egress: [{ action: 'Drop', name: 'no-web', toServices: [{ name: 'web', namespace: 'prod' }] }] })],
      });
      assert.deepEqual(e.errors, []);
      assert.deepEqual(brief(e.evaluate(q('prod/client', 'prod/web', 'tcp/80'))), ['Allow', 'no-policy', undefined, undefined, undefined]);
      assert.deepEqual(brief(e.evaluate(q('prod/client', '10.43.0.10', 'tcp/80'))), ['Allow', 'no-policy', undefined, undefined, undefined]);
    });

    it('ports, ranges and protocols; TCP by default', () => {
      const e = evaluator({
        policies: [toWeb('ranges', 'application', 5, [
          { action: 'Drop', ports: [{ protocol: 'TCP', port: 8081, endPort: 8083 }, { protocol: 'UDP', port: 5354 }, { port: 9000 }], from: [{ namespaceSelector: {} }] },
        ])],
      });
      const action = (what: string) => e.evaluate(q('prod/client', 'prod/web', what)).action;
      assert.deepEqual(['tcp/8080', 'tcp/8081', 'tcp/8083', 'tcp/8084', 'udp/5354', 'udp/8081', 'tcp/9000', 'udp/9000', 'sctp/8081'].map(action),
        ['Allow', 'Drop', 'Drop', 'Allow', 'Drop', 'Allow', 'Drop', 'Allow', 'Allow']);
      // Left out: a wildcard, as Antrea's evaluation ignores ports.
      assert.equal(e.evaluate(q('prod/client', 'prod/web')).action, 'Drop');
      assert.equal(e.evaluate(q('prod/client', 'prod/web', 'udp')).action, 'Drop');
      assert.equal(e.evaluate(q('prod/client', 'prod/web', 'icmp')).action, 'Allow');
    });

    it('ICMP type and code', () => {
      const e = evaluator({ policies: [toWeb('no-ping', 'application', 5, [{ action: 'Drop', protocols: [{ icmp: { icmpType: 8, icmpCode: 0 } }], from: [{ namespaceSelector: {} }] }])] });
      assert.equal(e.evaluate(q('prod/client', 'prod/web', 'icmp/8')).action, 'Drop');
      assert.equal(e.evaluate(q('prod/client', 'prod/web', 'icmp/13')).action, 'Allow');
      assert.equal(e.evaluate({ ...q('prod/client', 'prod/web', 'icmp/8'), icmpCode: 1 }).action, 'Allow');
      assert.equal(e.evaluate(q('prod/client', 'prod/web', 'tcp/80')).action, 'Allow');
    });

    it('named ports resolve on the destination pod (ingress: the target, egress: the peer)', () => {
      const e = evaluator({ policies: [knp('prod', 'all-http', { podSelector: {}, ingress: [{ ports: [{ port: 'http' }] }] })] });
      const action = (to: string, what: string) => e.evaluate(q('dev/client', to, what)).action;
      assert.equal(action('prod/web', 'tcp/80'), 'Allow');
      assert.equal(action('prod/web', 'tcp/8080'), 'Drop');
      assert.equal(action('prod/api', 'tcp/8080'), 'Allow');
      assert.equal(action('prod/api', 'tcp/80'), 'Drop');
      assert.equal(action('prod/client', 'tcp/80'), 'Drop', 'no port named http on the client: the rule matches nothing there');

      const out = evaluator({ policies: [acnp('no-http-out', { priority: 1, appliedTo: [fromClients], egress: [{ action: 'Drop', ports: [{ port: 'http' }, { protocol: 'UDP', port: 'dns' }], to: [{ namespaceSelector: { matchLabels: { env: 'prod' } } }] }] })] });
      const o = (to: string, what: string) => out.evaluate(q('dev/client', to, what)).action;
      assert.deepEqual([o('prod/web', 'tcp/80'), o('prod/web', 'tcp/8080'), o('prod/api', 'tcp/8080'), o('prod/web', 'udp/53'), o('prod/api', 'udp/53')], ['Drop', 'Allow', 'Drop', 'Drop', 'Allow']);
    });

    it('ipBlock with except, for pods and for addresses outside the pods', () => {
      const e = evaluator({ policies: [toWeb('cidr', 'application', 5, [{ action: 'Drop', from: [{ ipBlock: { cidr: '10.0.0.0/16', except: ['10.0.2.0/24'] } }, { ipBlock: { cidr: '203.0.113.0/24' } }] }])] });
      const action = (from: string) => e.evaluate(q(from, 'prod/web', 'tcp/80')).action;
      assert.equal(action('prod/client'), 'Drop'); // 10.0.1.20
      assert.equal(action('dev/client'), 'Allow'); // 10.0.2.20, excepted
      assert.equal(action('10.0.3.7'), 'Drop');
      assert.equal(action('10.0.2.99'), 'Allow');
      assert.equal(action('203.0.113.9'), 'Drop');
      assert.equal(action('198.51.100.1'), 'Allow');
      const v = e.evaluate(q('203.0.113.9', 'prod/web', 'tcp/80'));
      assert.equal(v.egress, undefined, 'an address outside the pods has no egress side');
      assert.equal(v.direction, 'In');
    });

    it('egress to an address outside the pods, and an IP query that is a pod IP resolves to the pod', () => {
      const e = evaluator({ policies: [acnp('no-internet', { priority: 1, appliedTo: [{ podSelector: { matchLabels: { app: 'web' } } }], egress: [{ action: 'Reject', to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8'] } }] }] })] });
      const v = e.evaluate(q('prod/web', '8.8.8.8', 'udp/53'));
      assert.deepEqual(brief(v), ['Reject', 'policy', 'no-internet', 'Out', 0]);
      assert.equal(v.ingress, undefined);
      assert.equal(e.evaluate(q('prod/web', 'prod/api', 'tcp/8080')).action, 'Allow');
      assert.equal(e.evaluate(q('10.0.2.30', '8.8.8.8', 'tcp/443')).action, 'Reject', '10.0.2.30 is dev/web');
      assert.equal(e.evaluate(q('10.0.1.20', '8.8.8.8', 'tcp/443')).action, 'Allow', '10.0.1.20 is the client');
    });

    it('namespaces match Self, ClusterGroups with child groups, namespaced Groups', () => {
      const self = evaluator({ policies: [acnp('self', { priority: 5, appliedTo: [{ podSelector: { matchLabels: { app: 'web' } } }], ingress: [{ action: 'Allow', from: [{ namespaces: { match: 'Self' } }] }, { action: 'Drop', from: [{ namespaceSelector: {} }] }] })] });
      assert.deepEqual([
        self.evaluate(q('prod/client', 'prod/web', 'tcp/80')).action,
        self.evaluate(q('dev/client', 'prod/web', 'tcp/80')).action,
        self.evaluate(q('dev/client', 'dev/web', 'tcp/80')).action,
        self.evaluate(q('prod/client', 'dev/web', 'tcp/80')).action,
      ], ['Allow', 'Drop', 'Allow', 'Drop']);

      const groups = evaluator({
        clusterGroups: [
          clusterGroup('dev-clients', { namespaceSelector: { matchLabels: { env: 'dev' } }, podSelector: { matchLabels: { role: 'client' } } }),
          clusterGroup('api-ip', { ipBlocks: [{ cidr: '10.0.2.10/32' }] }),
          clusterGroup('parent', { childGroups: ['dev-clients', 'api-ip'] }),
        ],
        groups: [group('prod', 'clients', { podSelector: { matchLabels: { role: 'client' } } })],
        policies: [
          toWeb('cg', 'application', 5, [{ action: 'Drop', from: [{ group: 'parent' }] }]),
          anp('prod', 'anp-group', { priority: 6, appliedTo: [{ podSelector: { matchLabels: { app: 'web' } } }], ingress: [{ action: 'Reject', from: [{ group: 'clients' }] }] }),
        ],
      });
      assert.deepEqual(brief(groups.evaluate(q('dev/client', 'prod/web', 'tcp/80'))), ['Drop', 'policy', 'cg', 'In', 0]);
      assert.deepEqual(brief(groups.evaluate(q('prod/api', 'prod/web', 'tcp/80'))), ['Drop', 'policy', 'cg', 'In', 0]);
      const r = groups.evaluate(q('prod/client', 'prod/web', 'tcp/80'));
      assert.deepEqual(brief(r), ['Reject', 'policy', 'anp-group', 'In', 0]);
      assert.deepEqual(r.policy, { kind: 'AntreaNetworkPolicy', namespace: 'prod', name: 'anp-group', tier: 'application', priority: 6 });
      assert.equal(groups.evaluate(q('prod/client', 'dev/web', 'tcp/80')).action, 'Allow', 'the ANP applies in its namespace only');
    });
  });

  it('addresses: IPv4 parsed by hand agrees with the API\'s ipFamily; IPv6 blocks match', () => {
    for (const text of ['0.0.0.0', '10.0.1.20', '255.255.255.255', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1..2.3', '1.2.3.', '', 'a.b.c.d', '1.2.3.4 ', '::1', '2001:db8::7']) {
      const parsed = parseAddress(text);
      assert.equal(parsed !== undefined, ipFamily(text) !== undefined, text);
      if (parsed?.v4 !== undefined) assert.equal(BigInt(parsed.v4), ipToBigInt(text), text);
    }
    const v6 = { any: false, ips: [], cidrs: ['2001:db8::/64'] };
    assert.equal(peersContain(v6, parseAddress('2001:db8::7')!), true);
    assert.equal(peersContain(v6, parseAddress('2001:db9::7')!), false);
    assert.equal(peersContain(v6, parseAddress('10.0.0.1')!), false);
    assert.equal(peersContain({ any: false, ips: [], cidrs: ['0.0.0.0/0'] }, parseAddress('255.255.255.255')!), true);
    assert.equal(peersContain({ any: false, ips: [], cidrs: ['128.0.0.0/1'] }, parseAddress('200.1.1.1')!), true);
    assert.equal(peersContain({ any: false, ips: [], cidrs: ['128.0.0.0/1'] }, parseAddress('100.1.1.1')!), false);
  });

  describe('endpoints and errors', () => {
    it('a pod not found, a pod without an IP and a bad address are errors naming the field', () => {
      const e = evaluator({});
      const err = (query: EvalQuery) => {
        try {
          e.evaluate(query);
        } catch (x) {
          assert.ok(x instanceof EvalError);
          return [x.path, x.reason, x.message];
        }
        return assert.fail('no error');
      };
      assert.deepEqual(err(q('prod/nope', 'prod/web')), ['source.pod', 'NotFound', 'source.pod: Pod prod/nope not found']);
      assert.deepEqual(err({ source: ep('prod/web'), destination: { ip: '10.0.0.300' } }).slice(0, 2), ['destination.ip', 'Invalid']);
      assert.deepEqual(err({ source: ep('prod/web'), destination: {} }).slice(0, 2), ['destination', 'Invalid']);
      assert.deepEqual(err({ source: { namespace: 'prod' }, destination: ep('prod/web') }).slice(0, 2), ['source.pod', 'Invalid']);
      const noIP = new PolicyEvaluator({ objects: { policies: [] }, inventory: inventory([{ ...pod('prod', 'pending', {}, '10.0.9.9'), ip: undefined, ips: [] }]) });
      assert.throws(() => noIP.evaluate(q('prod/pending', '10.0.0.1')), /source.pod: Pod prod\/pending has no IP yet/);
    });

    it('the same pod name on two nodes (two clusters in a fleet view) needs the node', () => {
      const fleetPods = [pod('prod', 'web', { app: 'web' }, '10.0.1.10', 'n1'), pod('prod', 'web', { app: 'web' }, '10.0.1.10', 'n2'), pod('prod', 'client', {}, '10.0.1.20', 'n2')];
      const fleet = new PolicyEvaluator({
        objects: { policies: [knp('prod', 'deny', { podSelector: {}, policyTypes: ['Ingress'] })] },
        inventory: { nodes: new Map(), namespaces: new Map([['n1/prod', { name: 'prod', labels: {} }], ['n2/prod', { name: 'prod', labels: {} }]]), pods: new Map(fleetPods.map((p) => [`${p.nodeName}/${p.namespace}/${p.name}`, p])) },
        ids: { pod: (p) => `${p.nodeName}/${p.namespace}/${p.name}`, namespace: (p) => `${p.nodeName}/${p.namespace}` },
      });
      assert.throws(() => fleet.evaluate(q('prod/client', 'prod/web')), (x: unknown) => x instanceof EvalError && x.reason === 'Ambiguous' && /on several nodes \(n1, n2\)/.test(x.message));
      const v = fleet.evaluate({ source: ep('prod/client'), destination: { ...ep('prod/web'), node: 'n2' } });
      assert.deepEqual(brief(v), ['Drop', 'k8s-isolation', 'deny', 'In', -1]);
    });

    it('hostNetwork pods have no policy side (policies do not apply to them)', () => {
      const e = evaluator({ policies: [acnp('all', { priority: 1, appliedTo: [{ podSelector: {} }], egress: [{ action: 'Drop' }] })] });
      const v = e.evaluate(q('kube-system/hostnet', 'prod/web', 'tcp/80'));
      assert.equal(v.egress, undefined);
      assert.equal(v.action, 'Allow');
    });

    it('a refused policy contributes nothing and is listed in errors', () => {
      const e = evaluator({ policies: [acnp('bad-tier', { priority: 1, tier: 'nosuchtier', appliedTo: [{ podSelector: {} }], ingress: [{ action: 'Drop' }] })] });
      assert.equal(e.errors.length, 1);
      assert.equal(e.errors[0]!.policy.name, 'bad-tier');
      assert.equal(e.evaluate(q('prod/client', 'prod/web', 'tcp/80')).action, 'Allow');
    });
  });

  it('indexes once: 10k queries over a world of 200 pods and 100 policies select nothing again (timings: the policy-evaluate bench)', function () {
    this.timeout(20_000);
    const many: InventoryPod[] = [];
    for (let i = 0; i < 200; i++) many.push(pod(`ns${i % 10}`, `p${i}`, { app: `a${i % 20}`, tier: i % 2 ? 'front' : 'back' }, `10.1.${Math.floor(i / 250)}.${i % 250}`, `n${i % 4}`, [{ name: 'http', port: 8000 + (i % 5), protocol: 'TCP' }]));
    const world = inventory(many, Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`ns${i}`, { env: i % 2 ? 'prod' : 'dev' }])), ['n0', 'n1', 'n2', 'n3']);
    const policies: PolicyObjects['policies'] = [];
    for (let i = 0; i < 100; i++) {
      if (i % 3 === 0) policies.push(knp(`ns${i % 10}`, `k${i}`, { podSelector: { matchLabels: { app: `a${i % 20}` } }, ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { tier: 'front' } } }], ports: [{ port: 'http' }] }] }));
      else policies.push(acnp(`c${i}`, { priority: i, appliedTo: [{ podSelector: { matchLabels: { app: `a${i % 20}` } } }], ingress: [{ action: i % 2 ? 'Allow' : 'Drop', from: [{ namespaceSelector: { matchLabels: { env: i % 4 ? 'prod' : 'dev' } } }], ports: [{ port: 8000 + (i % 5), endPort: 8002 + (i % 5) }] }], egress: [{ action: 'Drop', to: [{ ipBlock: { cidr: `10.1.0.${i}/32` } }] }] }));
    }
    const computer = new PolicyComputer(world);
    const e = new PolicyEvaluator({ objects: { policies }, inventory: world }, { computer });
    const selections = computer.index.computed;
    assert.ok(selections > 0);
    const counts = { Allow: 0, Drop: 0, Reject: 0 };
    for (let i = 0; i < 10_000; i++) {
      const a = many[(i * 7) % 200]!;
      const b = many[(i * 13 + 1) % 200]!;
      counts[e.evaluate({ source: { ip: a.ip! }, destination: { ip: b.ip! }, protocol: 'TCP', port: 8000 + (i % 6) }).action]++;
    }
    assert.ok(counts.Allow > 0 && counts.Drop > 0, `a mix of verdicts: ${JSON.stringify(counts)}`);
    assert.equal(computer.index.computed, selections, 'queries made no pod selection');
    // The same answers as an evaluator computed from scratch.
    const fresh = new PolicyEvaluator({ objects: { policies }, inventory: world });
    for (let i = 0; i < 200; i++) {
      const q: EvalQuery = { source: { ip: many[i]!.ip! }, destination: { ip: many[(i * 31 + 5) % 200]!.ip! }, protocol: 'TCP', port: 8000 + (i % 6) };
      assert.deepEqual(e.evaluate(q), fresh.evaluate(q));
    }
  });
});
