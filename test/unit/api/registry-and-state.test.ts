import assert from 'node:assert/strict';
import { FLOW_RECORD_IPFIX_ELEMENTS, FlowRecordSchema, flowAddresses } from '../../../src/api/flow-record.js';
import { describeProblem, formatIssues, formatPath } from '../../../src/api/issues.js';
import { KINDS, findKind, lookupKind, qualifiedKind } from '../../../src/api/kinds.js';
import { isIanaServiceName, isStrictSubnet, parseCIDR } from '../../../src/api/net.js';
import { NodeDesiredSchema, NodeReportedSchema, isUnknownKindKey, objectKey, parseObjectKey } from '../../../src/api/node-state.js';
import { RealizerRegistry } from '../../../src/agent/sync/realizers.js';
import { STATIC_TIERS, validateTierSet } from '../../../src/api/tier.js';

describe('api: kind registry', () => {
  const cases: [string, string][] = [
    ['acnp', 'ClusterNetworkPolicy.crd.antrea.io'],
    ['ClusterNetworkPolicies', 'ClusterNetworkPolicy.crd.antrea.io'],
    ['anp', 'AdminNetworkPolicy.policy.networking.k8s.io'],
    ['cnp', 'ClusterNetworkPolicy.policy.networking.k8s.io'],
    ['clusternetworkpolicies.policy.networking.k8s.io', 'ClusterNetworkPolicy.policy.networking.k8s.io'],
    ['banp', 'BaselineAdminNetworkPolicy.policy.networking.k8s.io'],
    ['ANNP', 'NetworkPolicy.crd.antrea.io'],
    ['networkpolicies.crd.antrea.io', 'NetworkPolicy.crd.antrea.io'],
    ['netpol', 'NetworkPolicy.networking.k8s.io'],
    ['NetworkPolicy', 'NetworkPolicy.networking.k8s.io'],
    ['tr', 'Tier.crd.antrea.io'],
    ['tiers', 'Tier.crd.antrea.io'],
    ['cg', 'ClusterGroup.crd.antrea.io'],
    ['grp', 'Group.crd.antrea.io'],
    ['tf', 'Traceflow.crd.antrea.io'],
    ['Traceflow', 'Traceflow.crd.antrea.io'],
    ['eg', 'Egress.crd.antrea.io'],
    ['egresses', 'Egress.crd.antrea.io'],
    ['eip', 'ExternalIPPool.crd.antrea.io'],
    ['acnp.crd.antrea.io', 'ClusterNetworkPolicy.crd.antrea.io'],
  ];
  for (const [name, expected] of cases) {
    it(`resolves ${name}`, () => {
      const info = lookupKind(name);
      assert.ok(info, `no kind for ${name}`);
      assert.equal(qualifiedKind(info), expected);
    });
  }

  it('returns undefined for unknown names and wrong groups', () => {
    assert.equal(lookupKind('pods'), undefined);
    assert.equal(lookupKind('acnp.networking.k8s.io'), undefined);
  });

  it('finds schemas by apiVersion and kind, both Antrea versions', () => {
    assert.equal(findKind('crd.antrea.io/v1alpha1', 'ClusterNetworkPolicy')?.plural, 'clusternetworkpolicies');
    assert.equal(findKind('crd.antrea.io/v1beta1', 'ClusterNetworkPolicy')?.plural, 'clusternetworkpolicies');
    assert.equal(findKind('networking.k8s.io/v1', 'NetworkPolicy')?.group, 'networking.k8s.io');
    assert.equal(findKind('crd.antrea.io/v1beta1', 'NetworkPolicy')?.group, 'crd.antrea.io');
    assert.equal(findKind('crd.antrea.io/v1', 'Tier'), undefined);
  });

  it('has unique qualified kinds and short names', () => {
    const qualified = KINDS.map(qualifiedKind);
    assert.equal(new Set(qualified).size, qualified.length);
    const shorts = KINDS.flatMap((k) => [...k.shortNames]);
    assert.equal(new Set(shorts).size, shorts.length);
  });
});

describe('api: tier set', () => {
  it('finds tiers sharing a priority', () => {
    const tiers = [
      ...STATIC_TIERS.map((t) => ({ metadata: { name: t.name }, spec: { priority: t.priority } })),
      { metadata: { name: 'edge' }, spec: { priority: 10 } },
      { metadata: { name: 'edge-2' }, spec: { priority: 10 } },
      { metadata: { name: 'ops-2' }, spec: { priority: 100 } },
    ];
    assert.deepEqual(validateTierSet(tiers), [
      { priority: 10, names: ['edge', 'edge-2'] },
      { priority: 100, names: ['securityops', 'ops-2'] },
    ]);
    assert.deepEqual(validateTierSet(tiers.slice(0, 7)), []);
  });
});

describe('api: node state', () => {
  it('builds and parses object keys', () => {
    const acnp = lookupKind('acnp')!;
    const anp = lookupKind('annp')!;
    assert.equal(objectKey({ kind: acnp, name: 'web' }), 'ClusterNetworkPolicy.crd.antrea.io//web');
    const key = objectKey({ kind: anp, namespace: 'default', name: 'db' });
    assert.equal(key, 'NetworkPolicy.crd.antrea.io/default/db');
    const ref = parseObjectKey(key);
    assert.equal(ref?.kind, anp);
    assert.equal(ref?.namespace, 'default');
    assert.equal(parseObjectKey('ClusterNetworkPolicy.crd.antrea.io/default/web'), undefined); // cluster-scoped with a namespace
    assert.equal(parseObjectKey('NetworkPolicy.crd.antrea.io//db'), undefined); // namespaced without one
    assert.equal(parseObjectKey('Pod.core/default/x'), undefined);
  });

  it('validates desired specs per kind, reporting the key in the path', () => {
    const result = NodeDesiredSchema.safeParse(
      {
        node: 'box-1',
        generation: 3,
        objects: {
          'Tier.crd.antrea.io//edge': { generation: 1, spec: { priority: 300 } },
          'bogus/key': { generation: 1, spec: {} },
        },
      },
      { reportInput: true },
    );
    assert.ok(!result.success);
    assert.deepEqual(formatIssues(result.error.issues).map(describeProblem), [
      'objects["Tier.crd.antrea.io//edge"].spec.priority: must be <= 255, got 300',
      'objects["bogus/key"]: invalid object key: expected Kind.group/namespace/name',
    ]);
  });

  it('keeps a document valid when it carries a kind this build does not know', async () => {
    const doc = {
      node: 'box-1',
      generation: 4,
      objects: {
        'Tier.crd.antrea.io//edge': { generation: 1, spec: { priority: 200 } },
        'FutureThing.seine.io//later': { generation: 2, spec: { anything: true } },
      },
    };
    const parsed = NodeDesiredSchema.parse(doc);
    assert.ok(isUnknownKindKey('FutureThing.seine.io//later'));
    assert.ok(!isUnknownKindKey('Tier.crd.antrea.io//edge'), 'a known kind is not "unknown"');
    assert.ok(!isUnknownKindKey('futurething.seine.io//x') && !isUnknownKindKey('Future.seine.io/Bad_NS/x'));
    const registry = new RealizerRegistry();
    registry.registerRealizer(lookupKind('tier')!, { realize: async (set) => new Map([...set.keys()].map((k) => [k, { ok: true as const }])) });
    const realized = await registry.realizeAll(parsed.objects);
    assert.equal(realized['Tier.crd.antrea.io//edge']?.phase, 'Realized');
    assert.equal(realized['FutureThing.seine.io//later']?.phase, 'Failed');
    assert.match(realized['FutureThing.seine.io//later']?.reason ?? '', /^FutureThing\.seine\.io: not supported yet by this agent$/);
  });

  it('requires a reason for failed objects and defaults errors', () => {
    const report = {
      node: 'box-1',
      observedGeneration: 3,
      objects: { 'Tier.crd.antrea.io//edge': { generation: 1, phase: 'Failed' } },
      inventory: { pods: [{ namespace: 'default', name: 'web-1', ips: ['10.42.1.5'] }] },
      agentVersion: '0.1.0',
      uptimeSeconds: 12.5,
    };
    const bad = NodeReportedSchema.safeParse(report);
    assert.ok(!bad.success);
    assert.deepEqual(formatIssues(bad.error.issues).map(describeProblem), ['objects["Tier.crd.antrea.io//edge"].reason: required when phase is Failed']);
    (report.objects['Tier.crd.antrea.io//edge'] as { reason?: string }).reason = 'OVS bundle failed';
    const ok = NodeReportedSchema.parse(report);
    assert.deepEqual(ok.errors, []);
    assert.deepEqual(ok.inventory.pods[0]!.labels, {});
  });
});

describe('api: flow record', () => {
  const base = {
    flowStartSeconds: 100,
    flowEndSeconds: 105,
    sourceIPv4Address: '10.42.1.5',
    destinationIPv4Address: '10.42.2.7',
    sourceTransportPort: 40000,
    destinationTransportPort: 80,
    protocolIdentifier: 6,
    packetTotalCount: 10,
    octetTotalCount: 1000,
    packetDeltaCount: 2,
    octetDeltaCount: 200,
    reversePacketTotalCount: 8,
    reverseOctetTotalCount: 4000,
    reversePacketDeltaCount: 1,
    reverseOctetDeltaCount: 500,
    flowType: 2,
    tcpState: 'ESTABLISHED',
    ingressNetworkPolicyName: 'web-allow',
    ingressNetworkPolicyType: 3,
    ingressNetworkPolicyRuleAction: 1,
  };

  it('fills Antrea-style empty defaults', () => {
    const r = FlowRecordSchema.parse(base);
    assert.equal(r.sourcePodName, '');
    assert.equal(r.egressNetworkPolicyType, 0);
    assert.deepEqual(flowAddresses(r), { source: '10.42.1.5', destination: '10.42.2.7' });
  });

  it('rejects mixed address families, bad codes and time travel', () => {
    const result = FlowRecordSchema.safeParse({ ...base, destinationIPv4Address: undefined, destinationIPv6Address: 'fd00::1' }, { reportInput: true });
    assert.ok(!result.success);
    assert.match(describeProblem(formatIssues(result.error.issues)[0]!), /^sourceIPv4Address: required: exactly one address family/);
    assert.equal(FlowRecordSchema.safeParse({ ...base, flowType: 5 }).success, false);
    const backwards = FlowRecordSchema.safeParse({ ...base, flowEndSeconds: 99 });
    assert.ok(!backwards.success);
    assert.deepEqual(formatIssues(backwards.error.issues).map((p) => p.path), ['flowEndSeconds']);
  });

  it('maps every field to an IPFIX element', () => {
    assert.deepEqual(FLOW_RECORD_IPFIX_ELEMENTS.ingressNetworkPolicyRuleName, [56506, 141]);
    assert.deepEqual(FLOW_RECORD_IPFIX_ELEMENTS.reverseOctetDeltaCount, [29305, 1]);
    assert.deepEqual(FLOW_RECORD_IPFIX_ELEMENTS.flowStartSeconds, [0, 150]);
  });
});

describe('api: address and path helpers', () => {
  it('parses CIDRs like Go, host bits included', () => {
    assert.equal(parseCIDR('10.0.0.1/24')?.prefixLength, 24);
    assert.equal(parseCIDR('10.0.0.0/33'), undefined);
    assert.equal(parseCIDR('fd00::/64')?.family, 6);
    assert.equal(parseCIDR('::ffff:10.0.0.0/120')?.family, 6);
    assert.equal(parseCIDR('10.0.0.0'), undefined);
    assert.equal(parseCIDR('10.0.0.0/08'), undefined);
  });

  it('checks strict subnets across both families', () => {
    assert.ok(isStrictSubnet('172.17.0.0/16', '172.17.1.0/24'));
    assert.ok(!isStrictSubnet('172.17.0.0/16', '172.17.0.0/16'));
    assert.ok(!isStrictSubnet('172.17.0.0/16', '172.18.1.0/24'));
    assert.ok(isStrictSubnet('fd00::/48', 'fd00:0:0:1::/64'));
    assert.ok(!isStrictSubnet('fd00::/48', '10.0.0.0/24'));
  });

  it('knows IANA service names', () => {
    for (const ok of ['http', 'dns-tcp', 'h2c', 'x1']) assert.ok(isIanaServiceName(ok), ok);
    for (const bad of ['', 'HTTP', '8080', 'a--b', '-http', 'averyveryverylongname']) assert.ok(!isIanaServiceName(bad), bad);
  });

  it('formats zod paths in dotted/bracket form', () => {
    assert.equal(formatPath(['spec', 'ingress', 0, 'action']), 'spec.ingress[0].action');
    assert.equal(formatPath(['matchLabels', 'app.kubernetes.io/name']), 'matchLabels["app.kubernetes.io/name"]');
    assert.equal(formatPath([]), '');
  });
});
