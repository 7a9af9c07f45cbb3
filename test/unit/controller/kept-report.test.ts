// A node's kept report (src/controller/store/kept-report.ts) is updated in place: after any
// sequence of reports it equals the last one, unchanged parts stay the same objects, and the
// delta names exactly what moved (objects with how they were, pods, namespaces, node labels).
import assert from 'node:assert/strict';
import path from 'node:path';
import type { NodeReported } from '../../../src/api/node-state.js';
import { absorbReport, arrivalDelta, jsonEqual, removalDelta, type ReportDelta } from '../../../src/controller/store/kept-report.js';
import { NodeRegistry } from '../../../src/controller/store/nodes.js';
import { Database } from '../../../src/lib/sqlite.js';
import { tempDir } from '../../integration/controller-fixture.js';
import { seededRandom } from '../../helpers/seeded-random.js';

const base = (over: Partial<NodeReported> = {}): NodeReported => ({
  node: 'b1', observedGeneration: 3, storeId: 's1', agentVersion: '0.1.0', uptimeSeconds: 10.5, errors: [],
  objects: { 'ClusterNetworkPolicy.crd.antrea.io//web': { generation: 2, phase: 'Realized' } },
  inventory: {
    pods: [{ namespace: 'prod', name: 'web', ips: ['10.42.0.2'], labels: { app: 'web' } }],
    namespaces: { prod: { 'kubernetes.io/metadata.name': 'prod' } },
    nodeLabels: { zone: 'a' },
  },
  ...over,
});

/** A fresh parse of a report (what the intake hands on). */
const parsed = (r: NodeReported): NodeReported => JSON.parse(JSON.stringify(r)) as NodeReported;

describe('controller kept report', function () {
  it('a new generation Realized is written into the entry; unchanged pods, labels and errors stay the same objects', () => {
    const kept = parsed(base());
    const [entry, pods, nsLabels, nodeLabels, errors] = [kept.objects['ClusterNetworkPolicy.crd.antrea.io//web'], kept.inventory.pods, kept.inventory.namespaces!.prod, kept.inventory.nodeLabels, kept.errors];
    const next = base({ observedGeneration: 4, uptimeSeconds: 20.25, objects: { 'ClusterNetworkPolicy.crd.antrea.io//web': { generation: 3, phase: 'Realized' } } });
    const delta = absorbReport(kept, parsed(next));
    assert.deepEqual(kept, next);
    assert.equal(kept.objects['ClusterNetworkPolicy.crd.antrea.io//web'], entry, 'the same entry, its generation written');
    assert.equal(kept.inventory.pods, pods);
    assert.equal(kept.inventory.namespaces!.prod, nsLabels);
    assert.equal(kept.inventory.nodeLabels, nodeLabels);
    assert.equal(kept.errors, errors);
    assert.deepEqual([...delta.objects], [['ClusterNetworkPolicy.crd.antrea.io//web', { generation: 2, phase: 'Realized' }]], 'how it was');
    assert.equal(delta.pods.size + delta.namespaces.size, 0);
    assert.equal(delta.nodeLabels, false);
  });

  it('names pods and namespaces that came, changed or went, and keeps the unchanged pod object', () => {
    const kept = parsed(base({ inventory: { pods: [{ namespace: 'prod', name: 'web', ips: ['10.42.0.2'], labels: { app: 'web' } }, { namespace: 'prod', name: 'db', ips: ['10.42.0.3'], labels: { app: 'db' } }], namespaces: { prod: { env: 'prod' }, dev: { env: 'dev' } } } }));
    const web = kept.inventory.pods[0];
    const next = base({ inventory: { pods: [{ namespace: 'prod', name: 'cache', ips: ['10.42.0.4'], labels: { app: 'cache' } }, { namespace: 'prod', name: 'web', ips: ['10.42.0.2'], labels: { app: 'web' } }], namespaces: { prod: { env: 'staging' } }, nodeLabels: { zone: 'b' } } });
    const delta = absorbReport(kept, parsed(next));
    assert.deepEqual(kept, next);
    assert.equal(kept.inventory.pods[1], web, 'web did not change: the kept object');
    assert.deepEqual([...delta.pods.keys()].sort(), ['prod/cache', 'prod/db']);
    assert.equal(delta.pods.get('prod/db'), undefined);
    assert.deepEqual([...delta.namespaces].sort(), [['dev', undefined], ['prod', { env: 'staging' }]]);
    assert.equal(delta.nodeLabels, true);
  });

  it('equals the last report after random sequences, and its deltas replay the objects exactly', () => {
    const rnd = seededRandom(Number(process.env.SEINE_TEST_SEED ?? 22));
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const keys = ['ClusterNetworkPolicy.crd.antrea.io//a', 'ClusterNetworkPolicy.crd.antrea.io//b', 'Tier.crd.antrea.io//t'];
    const report = (): NodeReported => {
      const objects: NodeReported['objects'] = {};
      for (const k of keys) {
        const roll = rnd();
        if (roll < 0.2) continue;
        const generation = 1 + Math.floor(rnd() * 3);
        objects[k] = roll < 0.8 ? { generation, phase: 'Realized' } : { generation, phase: 'Failed', reason: pick(['no ovs', 'timeout']) };
      }
      const r = base({
        observedGeneration: Math.floor(rnd() * 5), objects,
        errors: rnd() < 0.3 ? [{ ts: 1, message: pick(['x', 'y']) }] : [],
        inventory: {
          pods: Array.from({ length: Math.floor(rnd() * 3) }, (_, i) => ({ namespace: pick(['prod', 'dev']), name: `p${i}`, ips: [`10.42.0.${i + 2}`], labels: { app: pick(['web', 'db']) } })),
          ...(rnd() < 0.8 ? { namespaces: { prod: { env: pick(['prod', 'staging']) } } } : {}),
          ...(rnd() < 0.5 ? { nodeLabels: { zone: pick(['a', 'b']) } } : {}),
        },
      });
      if (rnd() < 0.3) delete r.storeId;
      if (rnd() < 0.3) r.update = { arch: 'arm64', running: pick(['1.0.0', '1.1.0']), state: 'idle', previous: [], ts: 1 };
      return r;
    };
    let kept = parsed(report());
    // What a listener rebuilds from the deltas alone (the realization index's view of the objects).
    const mirror = new Map<string, string>(Object.entries(kept.objects).map(([k, o]) => [k, JSON.stringify(o)]));
    for (const [k] of arrivalDelta(kept).objects) assert.ok(k in kept.objects);
    let moves = 0;
    for (let step = 0; step < 500; step++) {
      const next = report();
      const before = new Map(Object.entries(kept.objects).map(([k, o]) => [k, JSON.stringify(o)]));
      const delta = absorbReport(kept, parsed(next));
      assert.ok(jsonEqual(kept, next), `step ${step}: ${JSON.stringify(kept)} vs ${JSON.stringify(next)}`);
      for (const [k, was] of delta.objects) {
        assert.equal(was === undefined ? undefined : JSON.stringify(was), before.get(k), `step ${step}: ${k} as it was`);
        const now = kept.objects[k];
        if (now) mirror.set(k, JSON.stringify(now));
        else mirror.delete(k);
        moves++;
      }
      const now = new Map(Object.entries(kept.objects).map(([k, o]): [string, string] => [k, JSON.stringify(o)]));
      assert.deepEqual(new Map([...mirror].sort()), new Map([...now].sort()), `step ${step}: the deltas replay the objects`);
      if (rnd() < 0.02) kept = parsed(next); // now and then a node starts over (its first report)
      if (rnd() < 0.02) assert.equal(removalDelta(kept).objects.size, Object.keys(kept.objects).length);
      mirror.clear();
      for (const [k, o] of Object.entries(kept.objects)) mirror.set(k, JSON.stringify(o));
    }
    assert.ok(moves > 200, `objects moved ${moves} times`);
  });

  it('the registry keeps one report object per node across reports (SQLite), and tells its listeners only what moved', async () => {
    const tmp = await tempDir();
    const db = await Database.open(path.join(tmp.dir, 'c.db'));
    try {
      const nodes = await NodeRegistry.open(db);
      await nodes.register('b1', 'test');
      await nodes.reports(); // the index is loaded: reports go into it from now on
      const heard: [string, NodeReported | undefined, ReportDelta][] = [];
      nodes.onReport((n, r, d) => heard.push([n, r, d]));
      await nodes.recordReport('b1', parsed(base()));
      const kept = (await nodes.reports()).get('b1')!;
      const pod = kept.inventory.pods[0];
      const next = base({ observedGeneration: 4, objects: { 'ClusterNetworkPolicy.crd.antrea.io//web': { generation: 3, phase: 'Realized' } } });
      await nodes.recordReport('b1', parsed(next));
      assert.equal((await nodes.reports()).get('b1'), kept, 'the same object, updated in place');
      assert.deepEqual(kept, next);
      assert.equal(kept.inventory.pods[0], pod);
      await nodes.recordReport('b1', parsed(next));
      assert.deepEqual(heard.map(([n, r, d]) => [n, r === kept, [...d.objects.keys()], d.pods.size]), [
        ['b1', true, ['ClusterNetworkPolicy.crd.antrea.io//web'], 1], // its first report: everything came
        ['b1', true, ['ClusterNetworkPolicy.crd.antrea.io//web'], 0], // a new generation: that object only
      ], 'the same report again moves nothing and is not told');
      await nodes.remove('b1', 'test', { disable: true });
      const [n, r, d] = heard.at(-1)!;
      assert.deepEqual([n, r, [...d.objects.keys()], [...d.pods.keys()]], ['b1', undefined, ['ClusterNetworkPolicy.crd.antrea.io//web'], ['prod/web']]);
    } finally {
      await db.close();
      await tmp.remove();
    }
  });
});
