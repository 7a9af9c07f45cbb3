// The controller's fleet work is incremental (issue #22): one box's pod change rebuilds and
// republishes only the documents of the nodes whose policies it moves, and REST reads served
// from the report index answer what a full computation from the stored rows answers. In one
// process: a controller (real SQLite, aedes, REST) and six agents' sync modules (real MQTT,
// SQLite, a recording realizer) whose reported pods the test changes.
import assert from 'node:assert/strict';
import path from 'node:path';
import type { NodeReported } from '../../src/api/node-state.js';
import { computeStatus } from '../../src/api/policy-status.js';
import type { Controller } from '../../src/controller/main.js';
import { PolicySpan } from '../../src/controller/policy-span.js';
import { NodeRegistry } from '../../src/controller/store/nodes.js';
import { ObjectStore } from '../../src/controller/store/objects.js';
import { Database } from '../../src/lib/sqlite.js';
import { acnp, api, startAgent, startController, tempDir, waitFor, type TestAgent } from './controller-fixture.js';

const ACNPS = '/apis/crd.antrea.io/v1beta1/clusternetworkpolicies';
const NODES = ['box1', 'box2', 'box3', 'box4', 'box5', 'box6'];

const dbPolicy = {
  apiVersion: 'crd.antrea.io/v1beta1', kind: 'ClusterNetworkPolicy', metadata: { name: 'db-only' },
  spec: { priority: 6, appliedTo: [{ podSelector: { matchLabels: { app: 'db' } } }], ingress: [{ action: 'Drop', from: [{ podSelector: { matchLabels: { app: 'web' } } }] }] },
};

describe('controller incremental fleet work (in-process: controller + 6 agents)', function () {
  this.timeout(60_000);
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let controller: Controller;
  const agents = new Map<string, TestAgent>();
  // What each box reports; the test edits it and tells the agent.
  const pods = new Map<string, NodeReported['inventory']['pods']>();

  const status = async (name: string) => (await api(controller.restUrl, 'GET', `${ACNPS}/${name}`)).body.status;
  const realizedOn = (name: string, n: number) => waitFor(`${name} Realized on ${n}`, async () => {
    const s = await status(name);
    return s?.phase === 'Realized' && s.desiredNodesRealized === n ? s : undefined;
  });

  /** Every box has reported realizing the document it was last sent (no report still on its way). */
  const quiet = () => waitFor('every box caught up', async () => {
    await controller.publisher.idle();
    const list = await controller.nodes.list();
    return list.length === NODES.length && list.every((n) => n.realizedGeneration === n.desiredGeneration);
  });

  before(async function () {
    tmp = await tempDir();
    controller = await startController(tmp.dir);
    NODES.forEach((node, i) => {
      // box1–3 host web pods, box4 a db pod, box5–6 neither.
      const app = i < 3 ? 'web' : i === 3 ? 'db' : 'cache';
      pods.set(node, [{ namespace: 'default', name: `${app}-${node}`, ips: [`10.42.${i + 1}.2`], labels: { app } }]);
    });
    for (const node of NODES) {
      const password = await controller.nodes.createCredentials(node, 'test');
      agents.set(node, await startAgent({
        node, url: controller.brokerUrl, password, dir: tmp.dir,
        inventory: () => ({ pods: pods.get(node)!, namespaces: { default: { 'kubernetes.io/metadata.name': 'default' } } }),
      }));
    }
    await waitFor('all nodes online and reporting', async () => (await controller.nodes.list()).every((n) => n.online) && (await controller.nodes.reports()).size === NODES.length);
    for (const body of [acnp('web-only'), dbPolicy]) assert.equal((await api(controller.restUrl, 'POST', ACNPS, body)).status, 200);
    await realizedOn('web-only', 3);
    await realizedOn('db-only', 1);
    await quiet();
  });

  after(async function () {
    for (const a of agents.values()) await a.stop();
    await controller?.stop();
    await tmp?.remove();
  });

  /** Changes one box's pods, waits for the span to follow; returns what the publisher did meanwhile. */
  async function changePods(node: string, next: NodeReported['inventory']['pods'], until: () => Promise<unknown>) {
    await quiet();
    const published = controller.publisher.published;
    const built = controller.publisher.built;
    const calls = new Map([...agents].map(([n, a]) => [n, a.realizer.calls.length]));
    pods.set(node, next);
    await agents.get(node)!.sync.inventoryChanged();
    await until();
    await quiet();
    const realizedBy = [...agents].filter(([n, a]) => a.realizer.calls.length > calls.get(n)!).map(([n]) => n);
    return { sent: controller.publisher.published - published, built: controller.publisher.built - built, realizedBy, last: controller.publisher.lastPublication! };
  }

  it('a web pod added on box5 rebuilds and republishes box5\'s document only', async function () {
    const got = await changePods('box5', [...pods.get('box5')!, { namespace: 'default', name: 'web-extra', ips: ['10.42.5.9'], labels: { app: 'web' } }], () => realizedOn('web-only', 4));
    assert.deepEqual(got.last, { ...got.last, partial: true, built: 1, changed: 1, sent: 1 }, JSON.stringify(got.last));
    assert.equal(got.sent, 1, 'one document sent');
    assert.equal(got.built, 1, 'one document built');
    assert.deepEqual(got.realizedBy, ['box5'], 'only box5 was given a new document');
    assert.equal((await status('db-only')).desiredNodesRealized, 1, 'the db policy did not move');
  });

  it('a pod no policy selects builds no document; its removal again rebuilds only the box it leaves', async function () {
    const unselected = await changePods('box6', [...pods.get('box6')!, { namespace: 'default', name: 'cache-2', ips: ['10.42.6.9'], labels: { app: 'cache' } }], async () => {
      await waitFor('box6 report in', async () => (await controller.nodes.report('box6'))?.inventory.pods.length === 2);
    });
    assert.equal(unselected.sent, 0);
    assert.equal(unselected.built, 0, 'no span moved: nothing to rebuild');

    const gone = await changePods('box5', pods.get('box5')!.filter((p) => p.name !== 'web-extra'), () => realizedOn('web-only', 3));
    assert.equal(gone.sent, 1);
    assert.equal(gone.built, 1);
    assert.deepEqual(gone.realizedBy, ['box5']);
  });

  it('REST answers from the index equal a full computation from the stored rows', async function () {
    await quiet();
    // A second connection to the same store: a fresh registry that rereads every row (shared) and a fresh span (computes every policy).
    const db = await Database.open(path.join(tmp.dir, 'controller.db'));
    try {
      const store = await ObjectStore.open(db);
      const nodes = await NodeRegistry.open(db, { shared: true });
      const span = new PolicySpan(store, nodes);
      await span.refresh();
      const [names, reports] = await Promise.all([nodes.names(), nodes.reports()]);
      for (const name of ['web-only', 'db-only']) {
        const record = (await store.list()).find((r) => r.name === name)!;
        assert.deepEqual(await status(name), computeStatus(record, span.span(record, names), reports), name);
        const realization = (await api(controller.restUrl, 'GET', `${ACNPS}/${name}/nodes`)).body as { node: string; online: boolean }[];
        assert.deepEqual(realization.map((r) => r.node), span.span(record, names));
        const online = new Set((await nodes.list()).filter((n) => n.online).map((n) => n.name));
        assert.deepEqual(realization.map((r) => r.online), realization.map((r) => online.has(r.node)), `${name}: online as the node list says`);
        assert.ok(realization.some((r) => r.online), `${name}: some node of the span online`);
      }
      const listed = (await api(controller.restUrl, 'GET', '/api/v1/nodes')).body as { name: string; lastSeen: string }[];
      const full = await nodes.list();
      assert.deepEqual(listed.map(({ lastSeen: _, ...n }) => n), full.map(({ lastSeen: _, ...n }) => n));
      assert.deepEqual(listed.map((n) => n.name), NODES);
    } finally {
      await db.close();
    }
  });
});
