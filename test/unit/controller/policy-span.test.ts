// The controller's policy span on a real store: policies go to the nodes hosting a pod they apply
// to, learned from the nodes' reported inventories; tiers/groups and failing policies go everywhere.
import assert from 'node:assert/strict';
import path from 'node:path';
import { parseManifests } from '../../../src/api/manifest.js';
import type { NodeReported } from '../../../src/api/node-state.js';
import { PolicySpan } from '../../../src/controller/policy-span.js';
import { NodeRegistry } from '../../../src/controller/store/nodes.js';
import { ObjectStore } from '../../../src/controller/store/objects.js';
import { Database } from '../../../src/lib/sqlite.js';
import { tempDir } from '../../integration/controller-fixture.js';

const report = (node: string, pods: [string, string, Record<string, string>, string][], namespaces: Record<string, Record<string, string>> = {}): NodeReported => ({
  node, observedGeneration: 0, objects: {}, errors: [], agentVersion: '0.1.0', uptimeSeconds: 1,
  inventory: { pods: pods.map(([namespace, name, labels, ip]) => ({ namespace, name, labels, ips: [ip] })), namespaces },
});

const manifests = (yaml: string) => parseManifests(yaml, 'test');
const ACNP_WEB = `apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: web}
spec:
  priority: 5
  appliedTo: [{podSelector: {matchLabels: {app: web}}}]
  ingress: [{action: Drop, from: [{podSelector: {matchLabels: {app: db}}}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: prod-deny, namespace: prod}
spec:
  podSelector: {}
  policyTypes: [Ingress]
---
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: l7}
spec:
  priority: 6
  appliedTo: [{podSelector: {}}]
  egress: [{action: Allow, l7Protocols: [{http: {}}]}]
---
apiVersion: crd.antrea.io/v1beta1
kind: Tier
metadata: {name: early}
spec: {priority: 20}
`;

describe('controller policy span', function () {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let db: Database;
  let store: ObjectStore;
  let nodes: NodeRegistry;

  beforeEach(async () => {
    tmp = await tempDir();
    db = await Database.open(path.join(tmp.dir, 'c.db'));
    store = await ObjectStore.open(db);
    nodes = await NodeRegistry.open(db);
    for (const n of ['b1', 'b2', 'b3']) await nodes.createCredentials(n, 'test');
  });
  afterEach(async () => {
    await db.close();
    await tmp.remove();
  });

  const spanOf = async (span: PolicySpan, kind: string, name: string) => {
    const rec = (await store.list()).find((r) => r.kind.kind === kind && r.name === name)!;
    return span.span(rec, ['b1', 'b2', 'b3']);
  };

  it('follows the reported pods: applied-to nodes only; tiers and failing policies go everywhere', async () => {
    await nodes.recordReport('b1', report('b1', [['prod', 'web', { app: 'web' }, '10.42.0.2']]));
    await nodes.recordReport('b2', report('b2', [['dev', 'db', { app: 'db' }, '10.42.1.2']]));
    await store.apply(manifests(ACNP_WEB), 'test');
    const span = new PolicySpan(store, nodes);
    await span.refresh();
    assert.deepEqual(await spanOf(span, 'ClusterNetworkPolicy', 'web'), ['b1'], 'only the box with app=web');
    assert.deepEqual(await spanOf(span, 'NetworkPolicy', 'prod-deny'), ['b1'], 'K8s isolation of the prod pod');
    assert.deepEqual(await spanOf(span, 'ClusterNetworkPolicy', 'l7'), ['b1', 'b2', 'b3'], 'a policy compute rejects: every node reports why');
    assert.deepEqual(await spanOf(span, 'Tier', 'early'), ['b1', 'b2', 'b3']);

    // A web pod appears on b3 (a new report) and the span follows; an unchanged report changes nothing.
    const r3 = report('b3', [['prod', 'web2', { app: 'web' }, '10.42.2.2']], { prod: { 'kubernetes.io/metadata.name': 'prod' } });
    assert.equal(span.noteReport('b3', r3), true);
    assert.equal(span.noteReport('b3', r3), false);
    await span.refresh();
    assert.deepEqual(await spanOf(span, 'ClusterNetworkPolicy', 'web'), ['b1', 'b3']);
    assert.deepEqual(await spanOf(span, 'NetworkPolicy', 'prod-deny'), ['b1', 'b3']);
  });

  it('namespace labels from the reports feed namespaceSelector appliedTo', async () => {
    await nodes.recordReport('b2', report('b2', [['edge', 'cam', { app: 'cam' }, '10.42.1.3']], { edge: { 'kubernetes.io/metadata.name': 'edge', zone: 'field' } }));
    await store.apply(manifests(`apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: field}
spec:
  priority: 5
  appliedTo: [{namespaceSelector: {matchLabels: {zone: field}}}]
  ingress: [{action: Drop, from: [{namespaceSelector: {}}]}]
`), 'test');
    const span = new PolicySpan(store, nodes);
    await span.refresh();
    assert.deepEqual(await spanOf(span, 'ClusterNetworkPolicy', 'field'), ['b2']);
  });

  it('keys pods by node: two boxes with a pod of the same namespace/name both keep the policy until their own report drops it', async () => {
    // Two sites (or a lying node) report prod/web; each box's copy is its own.
    await nodes.recordReport('b1', report('b1', [['prod', 'web', { app: 'web' }, '10.42.0.2']]));
    await nodes.recordReport('b2', report('b2', [['prod', 'web', { app: 'web' }, '10.42.0.2']]));
    await store.apply(manifests(ACNP_WEB), 'test');
    const span = new PolicySpan(store, nodes);
    await span.refresh();
    assert.deepEqual(await spanOf(span, 'ClusterNetworkPolicy', 'web'), ['b1', 'b2'], 'both boxes host a web pod');

    // b2 stops reporting it: b1 keeps its policy (before, the pod was one entry, and b2's report could remove it).
    assert.equal(span.noteReport('b2', report('b2', [])), true);
    await span.refresh();
    assert.deepEqual(await spanOf(span, 'ClusterNetworkPolicy', 'web'), ['b1']);

    // b1 stops reporting it, b2 reports it again: b2 only; b3 lying about b1's pod cannot take it away either.
    span.noteReport('b1', report('b1', []));
    span.noteReport('b2', report('b2', [['prod', 'web', { app: 'web' }, '10.42.0.2']]));
    span.noteReport('b3', report('b3', [['prod', 'web', { app: 'other' }, '10.42.0.2']]));
    await span.refresh();
    assert.deepEqual(await spanOf(span, 'ClusterNetworkPolicy', 'web'), ['b2']);
  });

  it("matches each node's pods against the namespace labels that node reports: another node's labels cannot take a policy away", async () => {
    const POLICY = `apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: prod-only}
spec:
  priority: 5
  appliedTo: [{namespaceSelector: {matchLabels: {env: prod}}}]
  ingress: [{action: Drop, from: [{namespaceSelector: {}}]}]
`;
    await store.apply(manifests(POLICY), 'test');
    // b1's cluster labels shop env=prod; b2 (another cluster, or lying) reports shop as env=dev, after b1.
    await nodes.recordReport('b1', report('b1', [['shop', 'web', { app: 'web' }, '10.42.0.2']], { shop: { 'kubernetes.io/metadata.name': 'shop', env: 'prod' } }));
    await nodes.recordReport('b2', report('b2', [['shop', 'web', { app: 'web' }, '10.42.0.2']], { shop: { 'kubernetes.io/metadata.name': 'shop', env: 'dev' } }));
    const span = new PolicySpan(store, nodes);
    await span.refresh();
    assert.deepEqual(await spanOf(span, 'ClusterNetworkPolicy', 'prod-only'), ['b1']);
    span.noteReport('b3', report('b3', [], { shop: { 'kubernetes.io/metadata.name': 'shop' } }));
    await span.refresh();
    assert.deepEqual(await spanOf(span, 'ClusterNetworkPolicy', 'prod-only'), ['b1'], 'a node without pods there changes nothing either');
  });

  it('incremental: a report names only the nodes whose policies moved; a store change names all', async () => {
    await nodes.recordReport('b1', report('b1', [['prod', 'web', { app: 'web' }, '10.42.0.2']]));
    await store.apply(manifests(ACNP_WEB), 'test');
    const computed: number[] = [];
    const span = new PolicySpan(store, nodes, { observe: (n) => computed.push(n) });
    assert.equal(await span.refresh(), 'all', 'the first computation');
    assert.deepEqual(await span.refresh(), new Set(), 'nothing changed: no node');
    assert.equal(computed.at(-1), 0, 'and no policy recomputed');

    // A web pod on b3: the web ACNP's span gains b3 (prod-deny selects prod pods: web2 is in dev).
    span.noteReport('b3', report('b3', [['dev', 'web2', { app: 'web' }, '10.42.2.2']]));
    assert.deepEqual(await span.refresh(), new Set(['b3']));
    assert.deepEqual(await spanOf(span, 'ClusterNetworkPolicy', 'web'), ['b1', 'b3']);
    assert.ok(computed.at(-1)! < 3, `only the policies whose selections the pod touched are recomputed (got ${computed.at(-1)})`);

    // A pod no policy selects: nothing moves.
    span.noteReport('b2', report('b2', [['dev', 'cache', { app: 'cache' }, '10.42.1.9']]));
    assert.deepEqual(await span.refresh(), new Set());

    // b3's pod goes: b3 leaves the span again.
    span.noteReport('b3', report('b3', []));
    assert.deepEqual(await span.refresh(), new Set(['b3']));
    assert.deepEqual(await spanOf(span, 'ClusterNetworkPolicy', 'web'), ['b1']);

    await store.apply(manifests(ACNP_WEB.replace('priority: 5', 'priority: 7')), 'test');
    assert.equal(await span.refresh(), 'all', 'a policy changed in the store');
  });

  it('incremental spans equal a full computation after a sequence of pod, label and namespace changes', async () => {
    await store.apply(manifests(ACNP_WEB + `---
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: by-ns}
spec:
  priority: 8
  appliedTo: [{namespaceSelector: {matchLabels: {env: prod}}}]
  ingress: [{action: Drop, from: [{podSelector: {matchLabels: {app: db}}}]}]
`), 'test');
    const incremental = new PolicySpan(store, nodes);
    await incremental.refresh();
    // A fixed pseudo-random walk (seeded): each step one node reports a new inventory.
    let seed = 7;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
    const apps = ['web', 'db', 'cache'];
    for (let step = 0; step < 40; step++) {
      const node = ['b1', 'b2', 'b3'][rand(3)]!;
      const pods = Array.from({ length: rand(3) }, (_, i): [string, string, Record<string, string>, string] => [['prod', 'dev'][rand(2)]!, `p${i}`, { app: apps[rand(3)]! }, `10.42.${step}.${i + 2}`]);
      const r = report(node, pods, { prod: { env: rand(2) ? 'prod' : 'staging' }, dev: { env: 'dev' } });
      await nodes.recordReport(node, r);
      incremental.noteReport(node, r);
      await incremental.refresh();
      const full = new PolicySpan(store, nodes);
      await full.refresh();
      for (const name of ['web', 'l7', 'by-ns']) {
        assert.deepEqual(await spanOf(incremental, 'ClusterNetworkPolicy', name), await spanOf(full, 'ClusterNetworkPolicy', name), `step ${step}: ${name}`);
      }
      assert.deepEqual(await spanOf(incremental, 'NetworkPolicy', 'prod-deny'), await spanOf(full, 'NetworkPolicy', 'prod-deny'), `step ${step}: prod-deny`);
    }
  });

  it('a removed node leaves every span at the next refresh, and is named as changed', async () => {
    await nodes.recordReport('b1', report('b1', [['prod', 'web', { app: 'web' }, '10.42.0.2']]));
    await nodes.recordReport('b2', report('b2', [['prod', 'web', { app: 'web' }, '10.42.1.2']]));
    await store.apply(manifests(ACNP_WEB), 'test');
    const span = new PolicySpan(store, nodes);
    await span.refresh();
    assert.deepEqual(await spanOf(span, 'ClusterNetworkPolicy', 'web'), ['b1', 'b2']);
    await nodes.remove('b2', 'test', { disable: false });
    const changed = await span.refresh();
    assert.ok(changed !== 'all' && changed.has('b2'));
    const rec = (await store.list()).find((r) => r.name === 'web')!;
    assert.deepEqual(span.span(rec, await nodes.names()), ['b1']);
  });
});
