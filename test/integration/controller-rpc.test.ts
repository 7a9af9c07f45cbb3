// Request/response between the controller and agents: request(node, method, params, timeout)
// through a real broker to a real agent sync module — the embedded aedes broker (MQTT 3.1.1:
// the topic's id correlates) and mosquitto (MQTT 5: responseTopic + correlationData) — plus
// REST and seinectl on top; timeouts, unknown methods, bad params, and a node answering only
// under its own topics.
import assert from 'node:assert/strict';
import mqtt, { type IPublishPacket, type MqttClient } from 'mqtt';
import { agentClientId, CONTROLLER_USERNAME, ENVELOPE_VERSION, rpcTopic } from '../../src/api/mqtt.js';
import type { Controller } from '../../src/controller/main.js';
import { RpcError } from '../../src/controller/sync/rpc-client.js';
import { distProgram } from '../../src/lib/paths.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { spawnCollect } from '../helpers/spawn.js';
import { acnp, api, clientFlags, startAgent, startController, tempDir, trustOf, waitFor, type TestAgent } from './controller-fixture.js';

const ACNPS = '/apis/crd.antrea.io/v1beta1/clusternetworkpolicies';
const KEY = 'ClusterNetworkPolicy.crd.antrea.io//rpc-web';

async function rejectsWith(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof RpcError, String(err));
    assert.equal(err.code, code);
    assert.match(err.message, message);
    return true;
  });
}

/** The checks both brokers pass: a real method, errors, timeout, unknown node. */
function commonCases(env: () => { controller: Controller; agent: TestAgent }) {
  it('status returns the agent\'s realized generations; ping answers', async function () {
    const { controller, agent } = env();
    await api(controller.restUrl, 'POST', ACNPS, acnp('rpc-web'));
    await waitFor('realized', () => agent.realizer.last?.has(KEY));
    const status = (await controller.rpc.request('box1', 'status')) as { node: string; observedGeneration: number; objects: Record<string, { phase: string; generation: number }>; connected: boolean; storeId?: string };
    assert.equal(status.node, 'box1');
    assert.equal(status.observedGeneration, agent.sync.generation);
    assert.equal(status.storeId, agent.sync.storeId);
    assert.deepEqual(status.objects[KEY], { generation: 1, phase: 'Realized' });
    assert.equal(status.connected, true);
    const pong = (await controller.rpc.request('box1', 'ping', {})) as { pong: boolean };
    assert.equal(pong.pong, true);
  });

  it('an unknown method and bad params come back as error responses naming them', async function () {
    const { controller } = env();
    await rejectsWith(controller.rpc.request('box1', 'reboot'), 'UnknownMethod', /box1: UnknownMethod: unknown method "reboot" \(this agent answers ping, status\)/);
    await rejectsWith(controller.rpc.request('box1', 'status', { verbose: true }), 'BadParams', /params: unknown field "verbose"|params.*verbose/);
  });

  it('a registered node with no agent times out with a clear error; an unregistered node fails at once', async function () {
    const { controller } = env();
    const t0 = Date.now();
    await rejectsWith(controller.rpc.request('box2', 'status', undefined, 300), 'Timeout', /node box2 did not answer status within 300 ms/);
    assert.ok(Date.now() - t0 >= 290 && Date.now() - t0 < 2000, `${Date.now() - t0} ms`);
    await rejectsWith(controller.rpc.request('ghost', 'status'), 'UnknownNode', /node ghost is not registered/);
  });
}

describe('request/response over the embedded aedes broker (MQTT 3.1.1)', function () {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let controller: Controller;
  let agent: TestAgent;
  let box2Password: string;

  before(async function () {
    tmp = await tempDir('seine-rpc-');
    controller = await startController(tmp.dir);
    const password = await controller.nodes.createCredentials('box1', 'test');
    box2Password = await controller.nodes.createCredentials('box2', 'test');
    agent = await startAgent({ node: 'box1', url: controller.brokerUrl, password, dir: tmp.dir });
    await waitFor('box1 online', async () => (await controller.nodes.list()).find((n) => n.name === 'box1')?.online);
  });
  after(async function () {
    await agent?.stop();
    await controller?.stop();
    await tmp?.remove();
  });

  commonCases(() => ({ controller, agent }));

  it('REST: POST /api/v1/nodes/<node>/rpc → 200 result, 404 unknown node, 422 bad body, 502 node error, 504 timeout', async function () {
    const ok = await api(controller.restUrl, 'POST', '/api/v1/nodes/box1/rpc', { method: 'status' });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(ok.body.result.observedGeneration, agent.sync.generation);
    assert.equal((await api(controller.restUrl, 'POST', '/api/v1/nodes/ghost/rpc', { method: 'status' })).status, 404);
    const bad = await api(controller.restUrl, 'POST', '/api/v1/nodes/box1/rpc', { method: 'status', timeoutMs: 'soon' });
    assert.equal(bad.status, 422);
    assert.equal(bad.body.details.causes[0].field, 'timeoutMs');
    const unknown = await api(controller.restUrl, 'POST', '/api/v1/nodes/box1/rpc', { method: 'reboot' });
    assert.equal(unknown.status, 502);
    assert.equal(unknown.body.reason, 'UnknownMethod');
    const slow = await api(controller.restUrl, 'POST', '/api/v1/nodes/box2/rpc', { method: 'status', timeoutMs: 200 });
    assert.equal(slow.status, 504);
    assert.match(slow.body.message, /did not answer status within 200 ms/);
  });

  it('seinectl rpc NODE METHOD prints the result; a timeout is one clear line', async function () {
    const r = await spawnCollect(process.execPath, [distProgram('cli/seinectl.js'), ...clientFlags(controller.restUrl), 'rpc', 'box1', 'status']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).observedGeneration, agent.sync.generation);
    const t = await spawnCollect(process.execPath, [distProgram('cli/seinectl.js'), ...clientFlags(controller.restUrl), 'rpc', 'box2', 'ping', '--timeout', '200']);
    assert.equal(t.code, 1);
    assert.equal(t.stderr, 'seinectl: node box2 did not answer ping within 200 ms (offline, or an agent without request/response)\n');
  });

  it('another node cannot answer: it may not publish under the asked node\'s rpc topic, nor answer a request id on its own topic that was not sent to it', async function () {
    // A controller-side spy learns the request id (which a node cannot: it may not subscribe there).
    const spy = await mqtt.connectAsync(controller.brokerUrl, { username: CONTROLLER_USERNAME, password: controller.broker!.controllerSecret, clientId: 'seine-test-spy', ca: trustOf(controller.brokerUrl).ca });
    const requestId = new Promise<string>((resolve) => spy.on('message', (t) => resolve(t.split('/').pop()!)));
    await spy.subscribeAsync('seine/v1/nodes/box3/rpc/+', { qos: 1 });
    await controller.nodes.createCredentials('box3', 'test');
    const pending = controller.rpc.request('box3', 'status', undefined, 1500);
    const id = await requestId;
    const forged = (node: string) => JSON.stringify({ v: ENVELOPE_VERSION, node, ts: Date.now(), kind: 'rpc-response', payload: { ok: true, result: 'forged' } });
    const { deniedPublish, deniedRpc } = controller.broker!.counters;
    const unmatched = controller.rpc.counters.unmatched;
    // Each forgery from a fresh, connected box2: the broker drops a connection that publishes where it may not.
    const forge = async (topic: string, node: string) => {
      const box2: MqttClient = await mqtt.connectAsync(controller.brokerUrl, { username: 'box2', password: box2Password, clientId: agentClientId('box2'), reconnectPeriod: 0, ca: trustOf(controller.brokerUrl).ca });
      const closed = new Promise<void>((r) => box2.once('close', () => r()));
      await box2.publishAsync(topic, forged(node), { qos: 0 });
      await closed;
    };
    await forge(rpcTopic('box2', id), 'box2'); // its own topic, but the request was box3's
    await forge(rpcTopic('box3', id), 'box3'); // box3's topic: the ACL
    await waitFor('denied', () => controller.broker!.counters.deniedRpc === deniedRpc + 1 && controller.broker!.counters.deniedPublish === deniedPublish + 1, 3000);
    assert.equal(controller.rpc.counters.unmatched, unmatched, 'no forged answer reached the controller');
    await spy.endAsync(true);
    await rejectsWith(pending, 'Timeout', /box3 did not answer/);
  });
});

describe('request/response over mosquitto (MQTT 5: responseTopic + correlationData)', function () {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let broker: Mosquitto;
  let controller: Controller;
  let agent: TestAgent;
  const users = { [CONTROLLER_USERNAME]: 'ctl-pass-1', box1: 'box1-pass-1', box2: 'box2-pass-1' };

  before(async function () {
    tmp = await tempDir('seine-rpc5-');
    broker = await startMosquitto({ users });
    controller = await startController(tmp.dir, { broker: broker.controllerUrl, brokerProtocolVersion: 5, brokerCredentials: { username: CONTROLLER_USERNAME, password: users[CONTROLLER_USERNAME] } });
    for (const n of ['box1', 'box2']) await controller.nodes.createCredentials(n, 'test');
    agent = await startAgent({ node: 'box1', url: broker.url, password: users.box1, dir: tmp.dir, protocolVersion: 5 });
    await waitFor('box1 online', async () => (await controller.nodes.list()).find((n) => n.name === 'box1')?.online);
  });
  after(async function () {
    await agent?.stop();
    await controller?.stop();
    await broker?.stop();
    await tmp?.remove();
  });

  commonCases(() => ({ controller, agent }));

  it('the request carries responseTopic + correlationData; the answer echoes the correlation data on that topic', async function () {
    const spy = await mqtt.connectAsync(broker.controllerUrl, { username: CONTROLLER_USERNAME, password: users[CONTROLLER_USERNAME], clientId: 'seine-test-spy', protocolVersion: 5 });
    const seen: { topic: string; kind: string; props: IPublishPacket['properties'] }[] = [];
    spy.on('message', (topic, payload, packet) => seen.push({ topic, kind: JSON.parse(payload.toString()).kind, props: packet.properties }));
    await spy.subscribeAsync('seine/v1/nodes/box1/rpc/+', { qos: 1 });
    await controller.rpc.request('box1', 'ping');
    await waitFor('request and response seen', () => seen.length >= 2);
    const req = seen.find((s) => s.kind === 'rpc-request')!;
    const res = seen.find((s) => s.kind === 'rpc-response')!;
    assert.equal(req.props?.responseTopic, req.topic);
    assert.ok(req.props?.correlationData && req.props.messageExpiryInterval);
    assert.equal(res.topic, req.props!.responseTopic);
    assert.deepEqual(res.props?.correlationData, req.props!.correlationData);
    await spy.endAsync(true);
  });

  it('a request whose responseTopic is another node\'s is refused by the agent (nothing published there)', async function () {
    const spy = await mqtt.connectAsync(broker.controllerUrl, { username: CONTROLLER_USERNAME, password: users[CONTROLLER_USERNAME], clientId: 'seine-test-spy2', protocolVersion: 5 });
    const onBox2: string[] = [];
    spy.on('message', (t) => onBox2.push(t));
    await spy.subscribeAsync('seine/v1/nodes/box2/rpc/+', { qos: 1, nl: true });
    const refused = agent.sync.rpc.counters.refusedResponseTopic;
    const request = { v: ENVELOPE_VERSION, node: 'box1', ts: Date.now(), kind: 'rpc-request', payload: { method: 'status', deadline: Date.now() + 5000 } };
    await spy.publishAsync(rpcTopic('box1', 'forge1'), JSON.stringify(request), { qos: 1, properties: { responseTopic: rpcTopic('box2', 'forge1'), correlationData: Buffer.from('forge1') } });
    await waitFor('refused', () => agent.sync.rpc.counters.refusedResponseTopic === refused + 1, 3000);
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(onBox2, []);
    await spy.endAsync(true);
  });
});
