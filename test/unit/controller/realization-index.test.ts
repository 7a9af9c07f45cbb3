// Object status from the realization index (per-object counters kept as reports come) equals
// the full computation REST used to do per read (computeStatus over every span node's report),
// after random sequences of reports, pod and label changes (spans moving), object changes
// (generations), node registrations and removals. Real SQLite registry and store, the
// controller's own PolicySpan and NodeConfigSpan; also a registry shared with another writer
// (a second replica's reports reach the index through rereads).
import assert from 'node:assert/strict';
import path from 'node:path';
import { parseManifests } from '../../../src/api/manifest.js';
import { objectKey, type NodeReported } from '../../../src/api/node-state.js';
import { computeStatus, nodeRealization } from '../../../src/api/policy-status.js';
import { NodeConfigSpan } from '../../../src/controller/node-config-span.js';
import { PolicySpan } from '../../../src/controller/policy-span.js';
import { RealizationIndex } from '../../../src/controller/realization-index.js';
import { NodeRegistry } from '../../../src/controller/store/nodes.js';
import { ObjectStore, type StoredRecord } from '../../../src/controller/store/objects.js';
import { Database } from '../../../src/lib/sqlite.js';
import { tempDir } from '../../integration/controller-fixture.js';
import { seededRandom } from '../../helpers/seeded-random.js';

const OBJECTS = (webPriority: number, zone: string) => parseManifests(`apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: web}
spec:
  priority: ${webPriority}
  appliedTo: [{podSelector: {matchLabels: {app: web}}}]
  ingress: [{action: Drop, from: [{podSelector: {matchLabels: {app: db}}}]}]
---
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: db}
spec:
  priority: 6
  appliedTo: [{podSelector: {matchLabels: {app: db}}}]
  ingress: [{action: Allow, from: [{podSelector: {matchLabels: {app: web}}}]}]
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
  priority: 7
  appliedTo: [{podSelector: {}}]
  egress: [{action: Allow, l7Protocols: [{http: {}}]}]
---
apiVersion: crd.antrea.io/v1beta1
kind: Tier
metadata: {name: early}
spec: {priority: 20}
---
apiVersion: seine.io/v1alpha1
kind: NodeConfig
metadata: {name: zone}
spec:
  nodeSelector: {matchLabels: {zone: ${zone}}}
  logLevel: debug
`, 'test');

describe('controller realization index', function () {
  this.timeout(120_000);
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  const dbs: Database[] = [];

  beforeEach(async () => {
    tmp = await tempDir();
  });
  afterEach(async () => {
    for (const db of dbs.splice(0)) await db.close();
    await tmp.remove();
  });

  const open = async () => {
    const db = await Database.open(path.join(tmp.dir, 'c.db'));
    dbs.push(db);
    return db;
  };

  /** A random report of `node`: pods, labels and, for each stored object, nothing or a realized/failed generation near the current one. */
  function randomReport(rnd: () => number, node: string, records: readonly StoredRecord[], i: number): NodeReported {
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const objects: NodeReported['objects'] = {};
    for (const r of records) {
      const roll = rnd();
      if (roll < 0.2) continue;
      const generation = Math.max(1, r.generation - (rnd() < 0.25 ? 1 : 0));
      objects[objectKey(r)] = roll < 0.8 ? { generation, phase: 'Realized' } : { generation, phase: 'Failed', reason: pick(['no ovs', 'bad flow', 'timeout']) };
    }
    const pods = Array.from({ length: Math.floor(rnd() * 3) }, (_, k) => ({
      namespace: pick(['prod', 'dev']), name: `p${k}`, labels: { app: pick(['web', 'db', 'cache']) }, ips: [`10.42.${i}.${k + 2}`],
    }));
    return {
      node, observedGeneration: 1, objects, errors: [], agentVersion: '0.1.0', uptimeSeconds: 1,
      inventory: { pods, namespaces: { prod: { env: 'prod' }, dev: { env: 'dev' } }, nodeLabels: { zone: pick(['a', 'b']) } },
    };
  }

  it('equals the full computation after random reports, span moves, object changes and node changes', async function () {
    const seed = Number(process.env.SEINE_TEST_SEED ?? 22);
    const rnd = seededRandom(seed);
    const db = await open();
    const store = await ObjectStore.open(db);
    const nodes = await NodeRegistry.open(db);
    const all = Array.from({ length: 8 }, (_, i) => `n${i}`);
    for (const n of all.slice(0, 6)) await nodes.register(n, 'test');
    await store.apply(OBJECTS(5, 'a'), 'test');
    // As main.ts wires them: the policy span, the NodeConfig span over it, both told every report.
    const policySpan = new PolicySpan(store, nodes);
    const configSpan = new NodeConfigSpan();
    nodes.onChange((node, what) => what === 'removed' && configSpan.forget(node));
    const span = configSpan.wrap(policySpan.span);
    await policySpan.refresh();
    const index = await RealizationIndex.open({ nodes, store, span, spanVersion: () => policySpan.version + configSpan.version });

    const phases = new Map<string, number>();
    let webPriority = 5;
    for (let step = 0; step < 400; step++) {
      const records = await store.list();
      const roll = rnd();
      const node = all[Math.floor(rnd() * all.length)]!;
      if (roll < 0.6) {
        if (await nodes.exists(node)) {
          const r = randomReport(rnd, node, records, all.indexOf(node));
          await nodes.recordReport(node, r);
          policySpan.noteReport(node, r);
          configSpan.noteReport(node, r);
        }
      } else if (roll < 0.7) {
        await store.apply(OBJECTS(++webPriority, rnd() < 0.5 ? 'a' : 'b'), 'test'); // new generations
      } else if (roll < 0.8) {
        if (await nodes.exists(node)) await nodes.remove(node, 'test', { disable: rnd() < 0.5 });
        else await nodes.register(node, 'test');
      }
      // Spans move at publications (the publisher refreshes before each); reads come between too.
      if (rnd() < 0.5) await policySpan.refresh();

      const names = await nodes.names();
      const reports = await nodes.reports();
      const current = await store.list();
      const got = await index.statuses(current);
      for (const [i, record] of current.entries()) {
        const want = computeStatus(record, span(record, names), reports);
        assert.deepEqual(got[i], want, `seed ${seed}, step ${step}: ${objectKey(record)}`);
        phases.set(want.phase, (phases.get(want.phase) ?? 0) + 1);
      }
      const web = current.find((r) => r.name === 'web')!;
      assert.deepEqual(await index.realization(web, () => true), nodeRealization(web, span(web, names), reports, () => true), `seed ${seed}, step ${step}: web's nodes`);
    }
    // The sequence went through every phase (a comparison of Pending with Pending alone proves little).
    for (const phase of ['Pending', 'Realizing', 'Realized', 'Failed']) assert.ok((phases.get(phase) ?? 0) > 10, `${phase} seen ${phases.get(phase) ?? 0} times: ${JSON.stringify([...phases])}`);
    index.close();
  });

  it('takes in reports another replica wrote to a shared store (at the next reread)', async function () {
    const rnd = seededRandom(7);
    const [dbA, dbB] = [await open(), await open()];
    const store = await ObjectStore.open(dbA);
    const a = await NodeRegistry.open(dbA, { shared: true });
    const b = await NodeRegistry.open(dbB, { shared: true });
    const all = ['n0', 'n1', 'n2', 'n3'];
    for (const n of all) await a.register(n, 'test');
    await store.apply(OBJECTS(5, 'a'), 'test');
    const records = await store.list();
    const everyNode = (_: StoredRecord, names: readonly string[]) => names;
    const index = await RealizationIndex.open({ nodes: a, store, span: everyNode });
    const tier = records.find((r) => r.kind.kind === 'Tier')!;
    assert.equal((await index.status(tier)).currentNodesRealized, 0);
    for (let step = 0; step < 6; step++) {
      // Replica b takes these reports; a hears of them only from the rows.
      for (const n of all) await b.recordReport(n, randomReport(rnd, n, records, all.indexOf(n)));
      if (step === 3) await b.remove('n3', 'test', { disable: true });
      await new Promise((r) => setTimeout(r, 300)); // past the registry's reread interval
      const got = await index.statuses(records);
      const [names, reports] = [await a.names(), await a.reports()];
      assert.equal(reports.size, step >= 3 ? 3 : 4);
      for (const [i, record] of records.entries()) assert.deepEqual(got[i], computeStatus(record, names, reports), `step ${step}: ${objectKey(record)}`);
    }
    const realized = (await index.status(tier)).currentNodesRealized;
    const reports = await a.reports();
    assert.equal(realized, [...reports.values()].filter((r) => r.objects[objectKey(tier)]?.phase === 'Realized').length);
    index.close();
  });

  it('drops the counters of objects deleted through another replica when a snapshot sees them gone', async function () {
    const [dbA, dbB] = [await open(), await open()];
    const [storeA, storeB] = [await ObjectStore.open(dbA), await ObjectStore.open(dbB)];
    const nodes = await NodeRegistry.open(dbA, { shared: true });
    for (const n of ['n0', 'n1']) await nodes.register(n, 'test');
    await storeA.apply(OBJECTS(5, 'a'), 'test');
    const records = await storeA.list();
    const index = await RealizationIndex.open({ nodes, store: storeA, span: (_: StoredRecord, names: readonly string[]) => names });
    await index.statuses(records);
    assert.equal(index.size, records.length);
    // Replica b deletes two objects; replica a's store does not hear of it (its own deletions only).
    const gone = records.filter((r) => r.kind.kind === 'ClusterNetworkPolicy').slice(0, 2);
    assert.equal((await storeB.delete(gone.map((r) => ({ kind: r.kind, namespace: r.namespace, name: r.name })), 'test')).length, 2);
    assert.equal(index.size, records.length, 'the deletion through the other replica was heard (the test proves nothing)');
    // Replica a's next publication (or resync tick) reads the store: what it holds is what stays.
    index.retainOnly((await storeA.snapshot()).objects);
    assert.equal(index.size, records.length - 2);
    // A deletion through this replica is heard at once, as before.
    const mine = records.find((r) => r.kind.kind === 'Tier')!;
    await storeA.delete([{ kind: mine.kind, namespace: mine.namespace, name: mine.name }], 'test');
    assert.equal(index.size, records.length - 3);
    // The statuses of the objects left are still counted right.
    const left = await storeA.list();
    const got = await index.statuses(left);
    const [names, reports] = [await nodes.names(), await nodes.reports()];
    for (const [i, record] of left.entries()) assert.deepEqual(got[i], computeStatus(record, names, reports));
    index.close();
  });
});
