// Per-node MQTT credentials and ACL: node A cannot read or write node B's topics, cannot take
// B's session, cannot log in with a wrong password — against the embedded aedes broker, and
// against a real mosquitto started here with the generated ACL file.
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { CONTROLLER_USERNAME, agentClientId, nodeRpcFilter as nodeRpcFilterOf, nodeTopic, rpcTopic } from '../../src/api/mqtt.js';
import { mayPublish, maySubscribe } from '../../src/controller/broker/acl.js';
import type { Controller } from '../../src/controller/main.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { acnp, api, connectAs as connect, startController, tempDir } from './controller-fixture.js';

/** Subscribes and collects what arrives in `ms`; granted QoS 128 means refused. */
async function collect(c: MqttClient, filter: string, ms = 300): Promise<{ granted: number; got: string[] }> {
  const got: string[] = [];
  const on = (t: string) => got.push(t);
  c.on('message', on);
  // A refused filter comes back as SUBACK 0x80, which MQTT.js turns into a rejection.
  const grants = await c.subscribeAsync(filter, { qos: 1 }).catch(() => [{ qos: 128 }]);
  await new Promise((r) => setTimeout(r, ms));
  c.off('message', on);
  return { granted: grants[0]?.qos ?? 128, got };
}

/**
 * Publishes `forged` on `topic` from a connected forger, after a QoS 1 `alive-…` on its own
 * events topic (acknowledged, so the forger was live and allowed to publish at that moment);
 * then closes it. A broker that drops the forger for the denied publish is fine.
 */
let forgeries = 0;
async function forge(c: MqttClient, topic: string): Promise<void> {
  assert.ok(c.connected, 'the forging client is not connected');
  await c.publishAsync(nodeTopic(c.options.username!, 'events'), `alive-${++forgeries}`, { qos: 1 });
  await c.publishAsync(topic, 'forged', { qos: 0 }).catch(() => undefined);
  await new Promise((r) => setTimeout(r, 100));
  await c.endAsync(true);
}

function aclSuite(name: string, setup: () => Promise<{ url: string; creds: Record<string, string>; controller: () => Promise<MqttClient>; teardown: () => Promise<void> }>) {
  describe(`MQTT ACL: ${name}`, function () {
    let env: Awaited<ReturnType<typeof setup>>;
    let a: MqttClient;
    let b: MqttClient;
    let ctl: MqttClient;

    before(async function () {
      env = await setup();
      a = await connect(env.url, 'box-a', env.creds['box-a']!);
      b = await connect(env.url, 'box-b', env.creds['box-b']!);
      ctl = await env.controller();
      await ctl.publishAsync(nodeTopic('box-b', 'desired'), 'desired-for-b', { qos: 1, retain: true });
    });
    after(async function () {
      for (const c of [a, b, ctl]) await c?.endAsync(true);
      await env?.teardown();
    });

    it('A reads its own desired topic but receives nothing of B (direct or by wildcard)', async function () {
      await ctl.publishAsync(nodeTopic('box-a', 'desired'), 'desired-for-a', { qos: 1, retain: true });
      assert.deepEqual((await collect(a, nodeTopic('box-a', 'desired'))).got, [nodeTopic('box-a', 'desired')]);
      assert.deepEqual((await collect(a, nodeTopic('box-b', 'desired'))).got, []);
      assert.deepEqual((await collect(a, 'seine/v1/nodes/+/desired')).got.filter((t) => t.includes('box-b')), []);
      assert.deepEqual((await collect(a, '#')).got.filter((t) => t.includes('box-b')), []);
    });

    it('A cannot publish on B\'s topics nor on its own desired topic', async function () {
      const seen = await (async () => {
        const got: string[] = [];
        ctl.on('message', (t, p) => got.push(`${t}=${p.toString()}`));
        await ctl.subscribeAsync('seine/v1/nodes/#', { qos: 1 });
        await a.publishAsync(nodeTopic('box-a', 'reported'), 'ok-from-a', { qos: 0 }).catch(() => undefined);
        for (const t of [nodeTopic('box-b', 'reported'), nodeTopic('box-b', 'status'), nodeTopic('box-a', 'desired')]) {
          // The forger must really be connected: a refused connect fails the test (it would prove nothing).
          const x = await connect(env.url, 'box-a', env.creds['box-a']!, agentClientId('box-a'));
          await forge(x, t);
        }
        await new Promise((r) => setTimeout(r, 300));
        return got;
      })();
      assert.ok(seen.includes(`${nodeTopic('box-a', 'reported')}=ok-from-a`), seen.join(', '));
      assert.equal(seen.filter((s) => s.startsWith(`${nodeTopic('box-a', 'events')}=alive-`)).length, 3, `every forger was live before it forged: ${seen.join(', ')}`);
      assert.deepEqual(seen.filter((s) => s.endsWith('=forged')), []);
    });

    it('A can neither read nor write any of B\'s channels (status, desired, reported, flows, events, rpc); B\'s own traffic gets through', async function () {
      const bTopics = [...(['status', 'desired', 'reported', 'flows', 'events'] as const).map((c) => nodeTopic('box-b', c)), rpcTopic('box-b', 'r1')];
      // Read: a fresh A subscribes to every one of B's topics (and the rpc filter), then B and the controller publish there.
      const reader = await connect(env.url, 'box-a', env.creds['box-a']!);
      const read: string[] = [];
      reader.on('message', (t) => read.push(t));
      for (const f of [...bTopics, nodeRpcFilterOf('box-b')]) await reader.subscribeAsync(f, { qos: 1 }).catch(() => undefined);
      const seenByController: string[] = [];
      const onCtl = (t: string, p: Buffer) => seenByController.push(`${t}=${p.toString()}`);
      ctl.on('message', onCtl);
      await ctl.subscribeAsync(['seine/v1/nodes/box-b/#', nodeTopic('box-a', 'events')], { qos: 1 });
      for (const t of bTopics) {
        // Each message from whoever may publish it: the controller's desired document and rpc request, B's own state.
        const owner = t.endsWith('/desired') || t.includes('/rpc/') ? ctl : b;
        await owner.publishAsync(t, `legit-${t.split('/').pop()}`, { qos: 1 });
      }
      // Write: A publishes on each of B's topics, from a fresh connection each time (aedes drops a denied publisher).
      for (const t of bTopics) {
        await forge(await connect(env.url, 'box-a', env.creds['box-a']!), t);
      }
      await new Promise((r) => setTimeout(r, 400));
      ctl.off('message', onCtl);
      await reader.endAsync(true);
      assert.deepEqual(read.filter((t) => t.includes('/box-b/')), [], `A read B's topics: ${read.join(', ')}`);
      assert.deepEqual(seenByController.filter((s) => s.endsWith('=forged')), [], 'A wrote on B\'s topics');
      for (const t of bTopics) assert.ok(seenByController.some((s) => s.startsWith(`${t}=legit-`)), `B's own ${t} did not get through: ${seenByController.join(', ')}`);
      assert.equal(seenByController.filter((s) => s.startsWith(`${nodeTopic('box-a', 'events')}=alive-`)).length, bTopics.length, 'a forger was not live');
    });

    it('wrong password and a wrong user are refused', async function () {
      await assert.rejects(connect(env.url, 'box-a', 'not-the-password'));
      await assert.rejects(connect(env.url, 'box-a', env.creds['box-b']!));
    });
  });
}

aclSuite('embedded aedes', async () => {
  const tmp = await tempDir();
  const c: Controller = await startController(tmp.dir);
  const creds = { 'box-a': await c.nodes.createCredentials('box-a', 't'), 'box-b': await c.nodes.createCredentials('box-b', 't') };
  return {
    url: c.brokerUrl,
    creds,
    controller: () => connect(c.brokerUrl, CONTROLLER_USERNAME, c.broker!.controllerSecret, 'seine-controller-test'),
    teardown: async () => {
      await c.stop();
      await tmp.remove();
    },
  };
});

describe('MQTT ACL: embedded aedes, session takeover and counters', function () {
  it('A cannot connect with B\'s client id (which would take over B\'s session); denials are counted', async function () {
    const tmp = await tempDir();
    const c = await startController(tmp.dir);
    try {
      const pa = await c.nodes.createCredentials('box-a', 't');
      await assert.rejects(connect(c.brokerUrl, 'box-a', pa, agentClientId('box-b')));
      const a = await connect(c.brokerUrl, 'box-a', pa);
      const { granted } = await collect(a, nodeTopic('box-b', 'desired'), 50);
      assert.equal(granted, 128);
      await a.endAsync(true);
      assert.ok(c.broker!.counters.authFailures >= 1);
      assert.ok(c.broker!.counters.deniedSubscribe >= 1);
      await api(c.restUrl, 'POST', '/apis/crd.antrea.io/v1beta1/clusternetworkpolicies', acnp('x'));
    } finally {
      await c.stop();
      await tmp.remove();
    }
  });
});

aclSuite('mosquitto with the generated ACL file', async function () {
  const creds: Record<string, string> = { 'box-a': 'pass-a-123', 'box-b': 'pass-b-456', [CONTROLLER_USERNAME]: 'ctl-789' };
  const m = await startMosquitto({ users: creds });
  return {
    url: m.url,
    creds,
    controller: () => connect(m.controllerUrl, CONTROLLER_USERNAME, creds[CONTROLLER_USERNAME]!, 'seine-controller-test'),
    teardown: () => m.stop(),
  };
});

describe('MQTT ACL: mosquitto with the generated config, session takeover', function () {
  it('A connecting with B\'s client id does not take B\'s session (client id = username); nodes cannot log in on the controller listener, nor the controller on the node listener', async function () {
    const creds: Record<string, string> = { 'box-a': 'pass-a-123', 'box-b': 'pass-b-456', [CONTROLLER_USERNAME]: 'ctl-789' };
    const m = await startMosquitto({ users: creds });
    try {
      const b = await connect(m.url, 'box-b', creds['box-b']!);
      let bClosed = false;
      b.on('close', () => (bClosed = true));
      for (const id of [agentClientId('box-b'), 'box-b']) {
        const a = await connect(m.url, 'box-a', creds['box-a']!, id);
        await new Promise((r) => setTimeout(r, 200));
        await a.endAsync(true);
      }
      assert.equal(bClosed, false, 'B lost its connection to A');
      // B's session is still its own: the controller's message reaches it.
      const ctl = await connect(m.controllerUrl, CONTROLLER_USERNAME, creds[CONTROLLER_USERNAME]!, 'seine-controller-test');
      const got = new Promise<string>((resolve) => b.once('message', (_t, p) => resolve(p.toString())));
      await b.subscribeAsync(nodeTopic('box-b', 'desired'), { qos: 1 });
      await ctl.publishAsync(nodeTopic('box-b', 'desired'), 'for-b', { qos: 1 });
      assert.equal(await got, 'for-b');
      await ctl.endAsync(true);
      await b.endAsync(true);
      await assert.rejects(connect(m.controllerUrl, 'box-a', creds['box-a']!), /Not authorized|Bad username/i);
      await assert.rejects(connect(m.url, CONTROLLER_USERNAME, creds[CONTROLLER_USERNAME]!, 'seine-controller-x'), /Not authorized|Bad username/i);
    } finally {
      await m.stop();
    }
  });
});

describe('MQTT ACL rules (pure)', function () {
  it('node: own status/reported/flows/events/rpc to publish, own desired/rpc to subscribe, nothing else', function () {
    assert.ok(mayPublish('box-a', 'seine/v1/nodes/box-a/reported'));
    assert.ok(mayPublish('box-a', 'seine/v1/nodes/box-a/rpc/r1'));
    assert.ok(!mayPublish('box-a', 'seine/v1/nodes/box-a/desired'));
    assert.ok(!mayPublish('box-a', 'seine/v1/nodes/box-b/reported'));
    assert.ok(!mayPublish('box-a', 'seine/v1/fleet/releases'));
    assert.ok(!mayPublish(undefined, 'seine/v1/nodes/box-a/reported'));
    assert.ok(maySubscribe('box-a', 'seine/v1/nodes/box-a/desired'));
    assert.ok(maySubscribe('box-a', 'seine/v1/nodes/box-a/rpc/+'));
    for (const f of ['seine/v1/nodes/+/desired', 'seine/v1/nodes/box-b/desired', '#', 'seine/v1/nodes/box-a/#', 'seine/v1/+/box-a/desired', 'seine/v1/nodes/box-a/reported']) {
      assert.ok(!maySubscribe('box-a', f), f);
    }
    assert.ok(maySubscribe(CONTROLLER_USERNAME, 'seine/v1/nodes/+/reported'));
  });
});
