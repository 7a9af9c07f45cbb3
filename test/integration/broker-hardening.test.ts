// Broker hardening against a real embedded broker (aedes), a real mosquitto and real MQTT
// clients: failed logins are rate-limited per source and per node name before any password
// hashing; nothing a node publishes is retained (its last will included), presence comes from
// the broker's sessions and from the status an agent sends when a desired document arrives; a
// node answers only rpc requests sent to it.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import tls from 'node:tls';
import mqtt, { type MqttClient } from 'mqtt';
import { CONTROLLER_USERNAME, ENVELOPE_VERSION, agentClientId, nodeRpcFilter, nodeTopic, rpcTopic } from '../../src/api/mqtt.js';
import type { Controller } from '../../src/controller/main.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { acnp, api, connectAs as connect, startAgent, startController, tempDir, trustOf, waitFor, type TestAgent } from './controller-fixture.js';

describe('broker hardening: failed logins are rate-limited', function () {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let c: Controller;
  const creds: Record<string, string> = {};
  let verified = 0;

  before(async function () {
    tmp = await tempDir();
    // Password logins exist only on an insecure: true controller (certificates need no scrypt).
    c = await startController(tmp.dir, { insecure: true, loginFailureLimits: { perSource: 5, perNode: 3, windowSeconds: 60 } });
    for (const n of ['box-a', 'box-b', 'box-c']) creds[n] = await c.nodes.createCredentials(n, 't');
    // Count the password checks (scrypt) the broker asks for.
    const verify = c.nodes.verifyPassword.bind(c.nodes);
    c.nodes.verifyPassword = async (node, password) => (verified++, verify(node, password));
  });
  after(async function () {
    await c?.stop();
    await tmp?.remove();
  });

  it('per node name: after 3 failures even the right password is refused, without a password check; other nodes still log in', async function () {
    for (let i = 0; i < 3; i++) await assert.rejects(connect(c.brokerUrl, 'box-a', `wrong-${i}`), /Bad username or password/i);
    assert.equal(verified, 3);
    assert.equal(c.broker!.counters.authFailures, 3);
    await assert.rejects(connect(c.brokerUrl, 'box-a', creds['box-a']!), /Server unavailable/i);
    assert.equal(verified, 3, 'a rate-limited login must not reach the password check');
    assert.equal(c.broker!.counters.loginsRateLimited, 1);
    const b = await connect(c.brokerUrl, 'box-b', creds['box-b']!);
    await b.endAsync(true);
  });

  it('per source address: 5 failures from one address (any names) refuse every further node login from it; the controller\'s own login is not limited', async function () {
    await assert.rejects(connect(c.brokerUrl, 'box-b', 'wrong'));
    await assert.rejects(connect(c.brokerUrl, 'no-such-box', 'wrong'));
    assert.equal(c.broker!.counters.authFailures, 5);
    const before = verified;
    await assert.rejects(connect(c.brokerUrl, 'box-c', creds['box-c']!), /Server unavailable/i);
    assert.equal(verified, before);
    assert.equal(c.broker!.counters.loginsRateLimited, 2);
    // The controller's client reconnects through the same limiter after a broker restart.
    await c.broker!.stop();
    await c.broker!.start();
    await new Promise<void>((resolve) => (c as unknown as { parts: { client: MqttClient } }).parts.client.once('connect', () => resolve()));
  });

  it('the refusals are metrics', async function () {
    const text = await (await fetch(`${c.restUrl}/metrics`)).text();
    assert.match(text, /seine_controller_broker_refusals_total\{reason="loginsRateLimited"\} 2/);
    assert.match(text, /seine_controller_broker_refusals_total\{reason="authFailures"\} 5/);
  });
});

/** What a fresh controller-side subscriber gets retained on `topic` within `ms`. */
async function retainedOn(url: string, password: string, topic: string, ms = 300): Promise<string[]> {
  const spy = await connect(url, CONTROLLER_USERNAME, password, `seine-test-spy-${Math.random().toString(36).slice(2, 8)}`);
  const got: string[] = [];
  spy.on('message', (_t, p, packet) => packet.retain && p.length && got.push(p.toString()));
  await spy.subscribeAsync(topic, { qos: 1 });
  await new Promise((r) => setTimeout(r, ms));
  await spy.endAsync(true);
  return got;
}

const status = (node: string, state: 'online' | 'offline') => JSON.stringify({ v: ENVELOPE_VERSION, node, ts: Date.now(), kind: 'status', payload: { state } });

describe('broker hardening: nodes retain nothing; presence and rpc answers (embedded broker)', function () {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let c: Controller;
  const creds: Record<string, string> = {};
  const online = async (node: string) => (await c.nodes.list()).find((n) => n.name === node)?.online;

  before(async function () {
    tmp = await tempDir();
    c = await startController(tmp.dir);
    for (const n of ['box-a', 'box-b']) creds[n] = await c.nodes.createCredentials(n, 't');
  });
  after(async function () {
    await c?.stop();
    await tmp?.remove();
  });

  it('a node\'s retained publish and retained last will are delivered but not retained', async function () {
    const a = await connect(c.brokerUrl, 'box-a', creds['box-a']!);
    await a.publishAsync(nodeTopic('box-a', 'status'), status('box-a', 'online'), { qos: 1, retain: true });
    await a.publishAsync(nodeTopic('box-a', 'reported'), 'planted', { qos: 1, retain: true });
    assert.ok(a.connected, 'a retained publish is not a reason to drop the node');
    await a.endAsync(true);
    assert.equal(c.broker!.counters.retainStripped, 2);
    for (const ch of ['status', 'reported'] as const) assert.deepEqual(await retainedOn(c.brokerUrl, c.broker!.controllerSecret, nodeTopic('box-a', ch)), [], ch);
    // A retained last will: the connection dies without a DISCONNECT.
    const w = await new Promise<MqttClient>((resolve, reject) => {
      const x = mqtt.connect(c.brokerUrl, {
        clientId: agentClientId('box-b'), username: 'box-b', password: creds['box-b']!, reconnectPeriod: 0, ca: trustOf(c.brokerUrl).ca,
        will: { topic: nodeTopic('box-b', 'status'), payload: Buffer.from(status('box-b', 'offline')), qos: 1, retain: true },
      });
      x.once('connect', () => resolve(x)).once('error', reject);
    });
    w.stream.destroy();
    await waitFor('will stripped', () => c.broker!.counters.retainStripped === 3, 3000);
    assert.deepEqual(await retainedOn(c.brokerUrl, c.broker!.controllerSecret, nodeTopic('box-b', 'status')), []);
  });

  it('presence comes from the broker\'s sessions: online with no status sent, offline when the session ends', async function () {
    await waitFor('box-b offline', async () => (await online('box-b')) === false, 3000);
    const b = await connect(c.brokerUrl, 'box-b', creds['box-b']!);
    await waitFor('box-b online without a status message', () => online('box-b'), 3000);
    await b.endAsync(true);
    await waitFor('box-b offline again', async () => (await online('box-b')) === false, 3000);
  });

  it('a broker stop ends every connection at once, one whose login is still under way too (no client waits out its CONNACK timeout)', async function () {
    // A TLS connection that has not sent its CONNECT yet: aedes has no client for it to close.
    const { port } = new URL(c.brokerUrl);
    const socket = tls.connect({ host: '127.0.0.1', port: Number(port), ca: trustOf(c.brokerUrl).ca });
    await once(socket, 'secureConnect');
    const closed = once(socket, 'close');
    const t0 = Date.now();
    await c.broker!.stop();
    const gone = await Promise.race([closed.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 3000))]);
    socket.destroy(); // when it did not go: the test's own end of it
    assert.ok(gone, 'the connection outlived the broker stop by 3 s');
    assert.ok(Date.now() - t0 < 3000);
    const client = (c as unknown as { parts: { client: MqttClient } }).parts.client;
    const back = new Promise<void>((resolve) => client.once('connect', () => resolve()));
    await c.broker!.start();
    await back;
  });

  it('a node may answer only a request the controller sent it; a forged answer is refused, a real one gets through', async function () {
    const a = await connect(c.brokerUrl, 'box-a', creds['box-a']!);
    const answer = (node: string, id: string) => JSON.stringify({ v: ENVELOPE_VERSION, node, ts: Date.now(), kind: 'rpc-response', payload: { ok: true, result: `answer-${id}` } });
    a.on('message', (topic, payload) => {
      const m = JSON.parse(payload.toString()) as { kind: string };
      if (m.kind === 'rpc-request') void a.publishAsync(topic, answer('box-a', topic.split('/').pop()!), { qos: 1 });
    });
    await a.subscribeAsync(nodeRpcFilter('box-a'), { qos: 1 });
    const id = await c.rpc.request('box-a', 'ping', undefined, 3000);
    assert.match(String(id), /^answer-/);
    assert.equal(c.broker!.counters.deniedRpc, 0);
    // An answer to a request nobody sent: refused, and the forger is dropped.
    const closed = new Promise<void>((r) => a.once('close', () => r()));
    await a.publishAsync(rpcTopic('box-a', 'nobody-asked'), answer('box-a', 'nobody-asked'), { qos: 0 });
    await closed;
    assert.equal(c.broker!.counters.deniedRpc, 1);
    await a.endAsync(true);
  });
});

describe('broker hardening: presence after a controller restart and planted retained messages (mosquitto)', function () {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let broker: Mosquitto;
  let controller: Controller | undefined;
  let agent: TestAgent | undefined;
  const ctlPassword = 'controller-pass-1';

  before(async function () {
    tmp = await tempDir();
    broker = await startMosquitto({ users: { [CONTROLLER_USERNAME]: ctlPassword, box1: 'box1-pass-1', box2: 'box2-pass-1' } });
  });
  after(async function () {
    await agent?.stop();
    await controller?.stop();
    await broker?.stop();
    await tmp?.remove();
  });

  it('a restarted controller learns who is online from the status agents re-send when its desired documents arrive; a planted retained status is cleared and ignored', async function () {
    const cfg = { broker: broker.controllerUrl, brokerCredentials: { username: CONTROLLER_USERNAME, password: ctlPassword } };
    controller = await startController(tmp.dir, cfg);
    await controller.nodes.createCredentials('box1', 'test');
    await controller.nodes.createCredentials('box2', 'test');
    agent = await startAgent({ node: 'box1', url: broker.url, password: 'box1-pass-1', dir: tmp.dir, protocolVersion: 5 });
    await waitFor('box1 online', async () => (await controller!.nodes.list()).find((n) => n.name === 'box1')?.online);
    // box2 plants a retained "online" (mosquitto's ACL cannot refuse the flag) and goes away.
    const b2 = await connect(broker.url, 'box2', 'box2-pass-1');
    await b2.publishAsync(nodeTopic('box2', 'status'), status('box2', 'online'), { qos: 1, retain: true });
    await b2.endAsync(true);
    await controller.stop();
    controller = await startController(tmp.dir, cfg);
    const nodes = await waitFor('box1 online again, box2 not', async () => {
      const l = await controller!.nodes.list();
      return l.find((n) => n.name === 'box1')?.online && l.find((n) => n.name === 'box2')?.online === false ? l : undefined;
    });
    assert.equal(nodes.length, 2);
    assert.equal(controller.reports.rejected.retained, 1);
    assert.deepEqual(await retainedOn(broker.controllerUrl, ctlPassword, 'seine/v1/nodes/+/status'), []);
  });
});

describe('broker hardening: one message-size limit (a desired document over it is not published, and says so)', function () {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let c: Controller;
  let agent: TestAgent;
  const ACNPS = '/apis/crd.antrea.io/v1beta1/clusternetworkpolicies';

  before(async function () {
    tmp = await tempDir();
    c = await startController(tmp.dir, { maxMessageBytes: 8192 });
    const password = await c.nodes.createCredentials('box1', 't');
    agent = await startAgent({ node: 'box1', url: c.brokerUrl, password, dir: tmp.dir });
    await api(c.restUrl, 'POST', ACNPS, acnp('small'));
    await waitFor('small realized on box1', async () => {
      const st = (await api(c.restUrl, 'GET', `${ACNPS}/small`)).body.status;
      return st?.phase === 'Realized' && st.currentNodesRealized === 1;
    });
  });
  after(async function () {
    await agent?.stop();
    await c?.stop();
    await tmp?.remove();
  });

  it('a policy that makes box1\'s document exceed maxMessageBytes: not published, the node and the policy show why; deleting it recovers', async function () {
    const generation = agent.sync.generation;
    const big = acnp('big');
    // 200 rules: the node's document passes 8 KiB.
    big.spec.ingress = Array.from({ length: 200 }, (_, i) => ({ action: 'Allow', from: [{ podSelector: { matchLabels: { app: `client-${i}` } } }], ports: [{ protocol: 'TCP', port: 1000 + i }] }));
    assert.equal((await api(c.restUrl, 'POST', ACNPS, big)).status, 200);
    const status = await waitFor('big failed', async () => {
      const s = (await api(c.restUrl, 'GET', `${ACNPS}/big`)).body.status;
      return s?.phase === 'Failed' ? s : undefined;
    });
    assert.equal(status.conditions[0].reason, 'DesiredDocumentTooLarge');
    assert.match(status.conditions[0].message, /box1 \(\d+ > 8192 bytes\)/);
    const node = (await api(c.restUrl, 'GET', '/api/v1/nodes')).body.find((n: { name: string }) => n.name === 'box1');
    assert.match(node.desiredError, /over the 8192-byte message limit \(maxMessageBytes\): not published/);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(agent.sync.generation, generation, 'the agent got nothing');
    assert.equal(agent.sync.rejected.oversized, 0);
    assert.equal(c.broker!.counters.oversized, 0, 'the controller never sent it');
    // The policy deleted: the document fits again, goes out, and the error is gone.
    await api(c.restUrl, 'DELETE', `${ACNPS}/big`);
    await waitFor('published again', () => agent.sync.generation > generation);
    const after = (await api(c.restUrl, 'GET', '/api/v1/nodes')).body.find((n: { name: string }) => n.name === 'box1');
    assert.equal(after.desiredError, undefined);
  });
});
