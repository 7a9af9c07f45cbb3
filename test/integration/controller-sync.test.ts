// End to end in one process: a controller (real SQLite, real aedes, real REST over HTTP on
// 127.0.0.1) and two agents' sync modules (real MQTT client, real SQLite) with a recording
// realizer. apply → desired → realize → reported → policy status, and delete.
import assert from 'node:assert/strict';
import type { Controller } from '../../src/controller/main.js';
import { NOT_SUPPORTED_REASON } from '../../src/agent/sync/realizers.js';
import { acnp, api, netpol, startAgent, startController, tempDir, waitFor, type TestAgent } from './controller-fixture.js';

describe('controller sync (in-process: controller + 2 agents)', function () {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let controller: Controller;
  const agents: TestAgent[] = [];

  before(async function () {
    tmp = await tempDir();
    controller = await startController(tmp.dir);
    for (const node of ['box1', 'box2']) {
      const password = await controller.nodes.createCredentials(node, 'test');
      agents.push(await startAgent({ node, url: controller.brokerUrl, password, dir: tmp.dir }));
    }
    await waitFor('both nodes online', async () => (await controller.nodes.list()).every((n) => n.online));
  });

  after(async function () {
    for (const a of agents) await a.stop();
    await controller?.stop();
    await tmp?.remove();
  });

  it('lists nodes with online, version, last seen and realized generation', async function () {
    const { status, body } = await api(controller.restUrl, 'GET', '/api/v1/nodes');
    assert.equal(status, 200);
    assert.deepEqual(body.map((n: { name: string }) => n.name), ['box1', 'box2']);
    for (const n of body) {
      assert.equal(n.online, true);
      assert.equal(n.agentVersion, '0.1.0-test');
      assert.ok(n.lastSeen);
    }
  });

  it('applies an ACNP, every agent realizes it and the status says Realized 2/2', async function () {
    const put = await api(controller.restUrl, 'POST', '/apis/crd.antrea.io/v1beta1/clusternetworkpolicies', acnp('web-allow'));
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.deepEqual(put.body.items, [{ kind: 'ClusterNetworkPolicy', name: 'web-allow', outcome: 'created', generation: 1 }]);
    const status = await waitFor('Realized 2/2', async () => {
      const got = await api(controller.restUrl, 'GET', '/apis/crd.antrea.io/v1beta1/clusternetworkpolicies/web-allow');
      return got.body.status?.phase === 'Realized' && got.body.status.desiredNodesRealized > 0 ? got.body.status : undefined;
    });
    assert.deepEqual(status, { phase: 'Realized', observedGeneration: 1, currentNodesRealized: 2, desiredNodesRealized: 2 });
    for (const a of agents) {
      const key = 'ClusterNetworkPolicy.crd.antrea.io//web-allow';
      assert.equal(a.realizer.last?.get(key)?.generation, 1);
      assert.deepEqual((a.realizer.last?.get(key)?.spec as { priority: number }).priority, 5);
    }
  });

  it('a spec change bumps the generation and is realized again; a label change does not', async function () {
    const changed = acnp('web-allow', 7);
    const r1 = await api(controller.restUrl, 'PUT', '/apis/crd.antrea.io/v1beta1/clusternetworkpolicies/web-allow', changed);
    assert.equal(r1.body.items[0].outcome, 'configured');
    assert.equal(r1.body.items[0].generation, 2);
    await waitFor('generation 2 realized', async () => {
      const got = await api(controller.restUrl, 'GET', '/apis/crd.antrea.io/v1beta1/clusternetworkpolicies/web-allow');
      return got.body.status.phase === 'Realized' && got.body.status.desiredNodesRealized > 0 && got.body.status.observedGeneration === 2;
    });
    const labelled = { ...changed, metadata: { name: 'web-allow', labels: { team: 'a' } } };
    const r2 = await api(controller.restUrl, 'PUT', '/apis/crd.antrea.io/v1beta1/clusternetworkpolicies/web-allow', labelled);
    assert.equal(r2.body.items[0].generation, 2);
    const r3 = await api(controller.restUrl, 'PUT', '/apis/crd.antrea.io/v1beta1/clusternetworkpolicies/web-allow', labelled);
    assert.equal(r3.body.items[0].outcome, 'unchanged');
  });

  it('a kind without a realizer is reported Failed "not supported yet", never Realized', async function () {
    const r = await api(controller.restUrl, 'POST', '/apis/networking.k8s.io/v1/namespaces/default/networkpolicies', netpol('db-deny'));
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const status = await waitFor('Failed', async () => {
      const got = await api(controller.restUrl, 'GET', '/apis/networking.k8s.io/v1/namespaces/default/networkpolicies/db-deny');
      return got.body.status?.phase === 'Failed' ? got.body.status : undefined;
    });
    assert.equal(status.currentNodesRealized, 0);
    assert.match(status.conditions[0].message, new RegExp(NOT_SUPPORTED_REASON));
    const nodes = (await api(controller.restUrl, 'GET', '/api/v1/nodes')).body;
    for (const n of nodes) assert.equal(n.objectsFailed, 1);
  });

  // Its timing (p50/p99 over 30 applies, and RSS) is a bench row now: `npm run bench -- controller-sync`.
  it('30 ACNPs applied one after the other are each realized by both agents and reported Realized 2/2', async function () {
    const names = Array.from({ length: 30 }, (_, i) => `lat-${i}`);
    for (const name of names) {
      const r = await api(controller.restUrl, 'POST', '/apis/crd.antrea.io/v1beta1/clusternetworkpolicies', acnp(name));
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.items[0].outcome, 'created');
    }
    await waitFor('30 ACNPs Realized on both reports', async () => {
      const reports = await controller.nodes.reports();
      return ['box1', 'box2'].every((n) => names.every((name) => reports.get(n)?.objects[`ClusterNetworkPolicy.crd.antrea.io//${name}`]?.phase === 'Realized'));
    });
    for (const a of agents) assert.deepEqual(names.filter((n) => a.realizer.last?.get(`ClusterNetworkPolicy.crd.antrea.io//${n}`)?.generation !== 1), [], `${a.node} realized every one at generation 1`);
    for (const name of names) {
      const got = await api(controller.restUrl, 'GET', `/apis/crd.antrea.io/v1beta1/clusternetworkpolicies/${name}`);
      assert.deepEqual(got.body.status, { phase: 'Realized', observedGeneration: 1, currentNodesRealized: 2, desiredNodesRealized: 2 }, name);
    }
    const del = await api(controller.restUrl, 'POST', '/api/v1/delete', { apiVersion: 'v1', kind: 'List', items: names.map((n) => acnp(n)) });
    assert.equal(del.status, 200, JSON.stringify(del.body));
    for (const a of agents) await waitFor(`${a.node} drops the 30`, () => names.every((n) => !a.realizer.last?.has(`ClusterNetworkPolicy.crd.antrea.io//${n}`)));
  });

  it('delete removes the object from every agent', async function () {
    const d = await api(controller.restUrl, 'DELETE', '/apis/crd.antrea.io/v1beta1/clusternetworkpolicies/web-allow');
    assert.equal(d.status, 200);
    for (const a of agents) await waitFor(`${a.node} drops web-allow`, () => a.realizer.last?.size === 0);
    const gone = await api(controller.restUrl, 'GET', '/apis/crd.antrea.io/v1beta1/clusternetworkpolicies/web-allow');
    assert.equal(gone.status, 404);
  });
});
