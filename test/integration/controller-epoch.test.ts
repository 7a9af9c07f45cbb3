// A wiped controller store restarts every node's generation at 1. Desired documents carry the
// store's id, so the agent takes the first document of a new store as a new epoch (full
// resync, lower generation accepted) and still rejects stale documents: a replay of the old
// store's document once the new one is followed. Against a real mosquitto (the agent stays
// connected through the wipe) and the embedded broker (the node gets new credentials).
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import mqtt from 'mqtt';
import { CONTROLLER_USERNAME, nodeTopic } from '../../src/api/mqtt.js';
import type { Controller } from '../../src/controller/main.js';
import { freePort, startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { acnp, api, startAgent, startController, tempDir, waitFor, type TestAgent } from './controller-fixture.js';

const ACNPS = '/apis/crd.antrea.io/v1beta1/clusternetworkpolicies';
const KEY = (n: string) => `ClusterNetworkPolicy.crd.antrea.io//${n}`;

async function wipeStore(dir: string): Promise<void> {
  for (const f of ['controller.db', 'controller.db-wal', 'controller.db-shm']) await rm(path.join(dir, f), { force: true });
}

async function realized(c: Controller, name: string): Promise<boolean> {
  const s = (await api(c.restUrl, 'GET', `${ACNPS}/${name}`)).body.status;
  return s?.phase === 'Realized' && s.currentNodesRealized === 1;
}

describe('controller store wiped: agents follow the new store (store id epochs)', function () {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let controller: Controller | undefined;
  let agent: TestAgent | undefined;
  let broker: Mosquitto | undefined;

  beforeEach(async () => (tmp = await tempDir()));
  afterEach(async () => {
    await agent?.stop();
    await controller?.stop();
    await broker?.stop();
    [agent, controller, broker] = [undefined, undefined, undefined];
    await tmp.remove();
  });

  it('external broker (mosquitto): the connected agent resyncs to the new store\'s lower generation; the old store\'s document replayed is stale', async function () {
    const ctlPassword = 'controller-pass-1';
    broker = await startMosquitto({ users: { [CONTROLLER_USERNAME]: ctlPassword, box1: 'box1-pass-1' } });
    const cfg = { broker: broker.controllerUrl, brokerCredentials: { username: CONTROLLER_USERNAME, password: ctlPassword } };
    controller = await startController(tmp.dir, cfg);
    await controller.nodes.createCredentials('box1', 'test'); // registers the node; mosquitto has its own password
    agent = await startAgent({ node: 'box1', url: broker.url, password: 'box1-pass-1', dir: tmp.dir });
    // One generation each (waiting in between), so the old store ends above where the new one starts.
    for (const n of ['old-a', 'old-b', 'old-c']) {
      await api(controller.restUrl, 'POST', ACNPS, acnp(n));
      await waitFor(`${n} realized`, () => realized(controller!, n));
    }
    const oldStore = agent.sync.storeId;
    const oldGeneration = agent.sync.generation;
    assert.ok(oldStore && oldGeneration >= 3, `store ${oldStore} generation ${oldGeneration}`);

    // Keep the old store's retained document, to replay it later.
    const spy = await mqtt.connectAsync(broker.controllerUrl, { username: CONTROLLER_USERNAME, password: ctlPassword, clientId: 'seine-test-spy' });
    const oldDoc = await new Promise<Buffer>((resolve) => {
      spy.once('message', (_t, p) => resolve(p));
      void spy.subscribeAsync(nodeTopic('box1', 'desired'), { qos: 1 });
    });

    await controller.stop();
    await wipeStore(tmp.dir);
    controller = await startController(tmp.dir, cfg);
    await controller.nodes.createCredentials('box1', 'test');
    await api(controller.restUrl, 'POST', ACNPS, acnp('new-a'));
    await waitFor('new-a realized in the new store', () => realized(controller!, 'new-a'), 15_000);
    assert.notEqual(agent.sync.storeId, oldStore);
    assert.ok(agent.sync.generation < oldGeneration, `generation ${agent.sync.generation} restarted below ${oldGeneration}`);
    assert.deepEqual([...agent.realizer.last!.keys()], [KEY('new-a')], 'full resync: the old store\'s objects are gone');
    const nodes = (await api(controller.restUrl, 'GET', '/api/v1/nodes')).body;
    assert.equal(nodes[0].realizedGeneration, nodes[0].desiredGeneration);

    // The old store's document, replayed with its higher generation, is stale now.
    const staleBefore = agent.sync.rejected.stale;
    await spy.publishAsync(nodeTopic('box1', 'desired'), oldDoc, { qos: 1, retain: false });
    await waitFor('replay rejected', () => agent!.sync.rejected.stale === staleBefore + 1);
    assert.deepEqual([...agent.realizer.last!.keys()], [KEY('new-a')]);
    await spy.endAsync(true);
  });

  it('embedded broker: controller wiped and restarted, the node re-registered, the restarted agent converges', async function () {
    const ports = { listen: `127.0.0.1:${await freePort()}`, brokerListen: `127.0.0.1:${await freePort()}` };
    controller = await startController(tmp.dir, ports);
    let password = await controller.nodes.createCredentials('box1', 'test');
    agent = await startAgent({ node: 'box1', url: controller.brokerUrl, password, dir: tmp.dir });
    // One generation each (waiting in between), so the old store ends well above where the new one starts.
    for (const n of ['old-a', 'old-b', 'old-c']) {
      await api(controller.restUrl, 'POST', ACNPS, acnp(n));
      await waitFor(`${n} realized`, () => realized(controller!, n));
    }
    const oldGeneration = agent.sync.generation;

    await agent.stop();
    await controller.stop();
    await wipeStore(tmp.dir);
    controller = await startController(tmp.dir, ports);
    password = await controller.nodes.createCredentials('box1', 'test');
    await api(controller.restUrl, 'POST', ACNPS, acnp('new-a'));
    agent = await startAgent({ node: 'box1', url: controller.brokerUrl, password, dir: tmp.dir });
    assert.ok(agent.realizer.last!.has(KEY('old-a')), 'offline first: the persisted state is enforced at start');
    await waitFor('new-a realized', () => realized(controller!, 'new-a'), 15_000);
    // Generation 1 (the node registered, nothing applied) and 2 (new-a) in the new store.
    assert.equal(agent.sync.generation, 2);
    assert.ok(oldGeneration >= 4, `old store generation ${oldGeneration}`);
    assert.deepEqual([...agent.realizer.last!.keys()], [KEY('new-a')]);
  });
});
