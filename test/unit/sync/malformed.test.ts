// The malformed-message matrix, both sides: every bad message is rejected, counted by reason and
// never crashes or changes state. The agent side runs its real handler with a real SQLite; the
// controller side its real receiver with a real registry.
import assert from 'node:assert/strict';
import path from 'node:path';
import { ENVELOPE_VERSION, nodeTopic } from '../../../src/api/mqtt.js';
import { AgentSync } from '../../../src/agent/sync/agent-sync.js';
import { RealizerRegistry } from '../../../src/agent/sync/realizers.js';
import { NodeRegistry } from '../../../src/controller/store/nodes.js';
import { ReportReceiver } from '../../../src/controller/sync/report-receiver.js';
import { Database } from '../../../src/lib/sqlite.js';
import { RecordingRealizer, tempDir } from '../../integration/controller-fixture.js';

const KEY = 'ClusterNetworkPolicy.crd.antrea.io//web';
const spec = { priority: 1, appliedTo: [{ podSelector: {} }], ingress: [{ action: 'Allow' }] };
// The controller store the agent follows in the matrix; 'store-a' is one it followed before.
const STORE = 'store-b';
const desired = (generation: number, node = 'box1', objects: Record<string, unknown> = { [KEY]: { generation: 1, spec } }, storeId = STORE, payloadNode = node) =>
  JSON.stringify({ v: ENVELOPE_VERSION, node, generation, ts: Date.now(), kind: 'desired', payload: { node: payloadNode, storeId, generation, objects } });
const T = nodeTopic('box1', 'desired');

describe('malformed messages: agent side', function () {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let db: Database;
  let sync: AgentSync;
  let realizer: RecordingRealizer;

  before(async function () {
    tmp = await tempDir();
    db = await Database.open(path.join(tmp.dir, 'a.db'));
    const realizers = new RealizerRegistry();
    realizer = new RecordingRealizer();
    realizers.registerRealizer({ kind: 'ClusterNetworkPolicy', group: 'crd.antrea.io' }, realizer);
    // Not started: no broker; messages go straight to the handler.
    sync = await AgentSync.open({ node: 'box1', url: 'mqtt://127.0.0.1:1', username: 'box1', password: 'x', db, realizers, agentVersion: 't', maxMessageBytes: 64 * 1024 });
    // Store A at generation 7, then store B (a wiped controller) at 5: a new epoch, taken.
    await sync.handleMessage(T, Buffer.from(desired(7, 'box1', undefined, 'store-a')));
    assert.equal(sync.generation, 7);
    await sync.handleMessage(T, Buffer.from(desired(5)));
    assert.equal(sync.generation, 5);
    assert.equal(sync.storeId, STORE);
  });
  after(async function () {
    await db.close();
    await tmp.remove();
  });

  const cases: [string, string, string | Buffer, keyof AgentSync['rejected']][] = [
    ['bad JSON', T, '{"v":1,', 'malformed'],
    ['JSON but not an object', T, '[1,2,3]', 'malformed'],
    ['wrong envelope version', T, desired(6).replace('"v":1', '"v":2'), 'malformed'],
    ['wrong envelope kind', T, desired(6).replace('"kind":"desired"', '"kind":"reported"'), 'malformed'],
    ['unknown envelope field', T, desired(6).replace('"v":1', '"v":1,"extra":true'), 'malformed'],
    ['invalid spec inside an object', T, desired(6, 'box1', { [KEY]: { generation: 1, spec: { priority: 'x' } } }), 'malformed'],
    ['invalid object key', T, desired(6, 'box1', { 'Nope//x': { generation: 1, spec: {} } }), 'malformed'],
    ['envelope node differs from topic', T, desired(6, 'box2'), 'malformed'],
    ['oversized', T, Buffer.alloc(65 * 1024, 0x20), 'oversized'],
    ['not a Seine topic', 'other/topic', desired(6), 'wrongTopic'],
    ['unknown channel', 'seine/v1/nodes/box1/secrets', desired(6), 'wrongTopic'],
    ['another node\'s topic', nodeTopic('box2', 'desired'), desired(6, 'box2'), 'otherNode'],
    ['stale generation', T, desired(4), 'stale'],
    ['same generation, different content', T, desired(5, 'box1', {}), 'conflicting'],
    ['a newer generation of a store followed before (replayed)', T, desired(9, 'box1', undefined, 'store-a'), 'stale'],
    ['invalid store id', T, desired(6, 'box1', undefined, 'store/b'), 'malformed'],
    ['payload for another node inside this node\'s envelope', T, desired(6, 'box1', undefined, STORE, 'box2'), 'otherNode'],
    ['an rpc request for another node', 'seine/v1/nodes/box2/rpc/r1', JSON.stringify({ v: 1, node: 'box2', ts: 1, kind: 'rpc-request', payload: { method: 'status' } }), 'otherNode'],
  ];
  for (const [name, topic, payload, reason] of cases) {
    it(`rejects ${name} (${reason})`, async function () {
      const before = { ...sync.rejected };
      const calls = realizer.calls.length;
      await sync.handleMessage(topic, Buffer.isBuffer(payload) ? payload : Buffer.from(payload));
      assert.equal(sync.rejected[reason], before[reason] + 1, JSON.stringify(sync.rejected));
      assert.equal(realizer.calls.length, calls, 'nothing realized');
      assert.equal(sync.generation, 5);
    });
  }

  it('ignores an exact replay of the applied generation without counting it as bad', async function () {
    const total = sync.rejectedTotal;
    await sync.handleMessage(T, Buffer.from(desired(5)));
    assert.equal(sync.rejectedTotal, total);
  });

  it('still takes a good newer document after all that', async function () {
    await sync.handleMessage(T, Buffer.from(desired(6)));
    assert.equal(sync.generation, 6);
  });

  it('the retired store survives a restart of the agent (persisted)', async function () {
    const again = await AgentSync.open({ node: 'box1', url: 'mqtt://127.0.0.1:1', username: 'box1', password: 'x', db, realizers: new RealizerRegistry(), agentVersion: 't' });
    await again.handleMessage(T, Buffer.from(desired(6)));
    await again.handleMessage(T, Buffer.from(desired(20, 'box1', undefined, 'store-a')));
    assert.equal(again.rejected.stale, 1);
    assert.equal(again.generation, 6);
  });
});

describe('malformed messages: controller side', function () {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let db: Database;
  let nodes: NodeRegistry;
  let rx: ReportReceiver;
  const now = Date.now();
  const reported = (node = 'box1', ts = now, extra: Record<string, unknown> = {}) =>
    JSON.stringify({ v: 1, node, ts, kind: 'reported', payload: { node, observedGeneration: 1, objects: {}, errors: [], inventory: { pods: [] }, agentVersion: 't', uptimeSeconds: 1, ...extra } });
  const R = nodeTopic('box1', 'reported');
  const S = nodeTopic('box1', 'status');
  const status = (state: string, ts: number) => JSON.stringify({ v: 1, node: 'box1', ts, kind: 'status', payload: { state } });
  const event = (severity: string) => JSON.stringify({ v: 1, node: 'box1', ts: now, kind: 'event', payload: { severity, type: 'deny', message: 'x' } });

  before(async function () {
    tmp = await tempDir();
    db = await Database.open(path.join(tmp.dir, 'c.db'));
    nodes = await NodeRegistry.open(db);
    await nodes.createCredentials('box1', 't');
    // The client is never used by handle(); the receiver is driven directly.
    rx = new ReportReceiver({ nodes, client: undefined as never, maxMessageBytes: 64 * 1024 });
    await rx.handle(R, Buffer.from(reported()));
    await rx.handle(S, Buffer.from(status('online', now)));
    assert.equal(rx.accepted, 2);
  });
  after(async function () {
    await db.close();
    await tmp.remove();
  });

  const cases: [string, string, string | Buffer, keyof ReportReceiver['rejected']][] = [
    ['bad JSON', R, 'not json', 'malformed'],
    ['wrong schema (observedGeneration a string)', R, reported('box1', now + 1, { observedGeneration: 'one' }), 'malformed'],
    ['realized object Failed without a reason', R, reported('box1', now + 1, { objects: { [KEY]: { generation: 1, phase: 'Failed' } } }), 'malformed'],
    ['status with an unknown state', nodeTopic('box1', 'status'), JSON.stringify({ v: 1, node: 'box1', ts: now, kind: 'status', payload: { state: 'sleepy' } }), 'malformed'],
    ['envelope node differs from topic', R, reported('box2', now + 1), 'malformed'],
    ['oversized', R, Buffer.alloc(65 * 1024, 0x20), 'oversized'],
    ['wrong topic', 'seine/v1/nodes/box1', reported(), 'wrongTopic'],
    ['a desired document sent by a node', nodeTopic('box1', 'desired'), desired(9), 'wrongTopic'],
    ['unknown node', nodeTopic('ghost', 'reported'), reported('ghost'), 'unknownNode'],
    ['replayed (older) report', R, reported('box1', now - 1000), 'stale'],
    ['replayed (older) online status', S, status('online', now - 1000), 'stale'],
    ['unknown envelope field', R, reported('box1', now + 1).replace('"v":1', '"v":1,"extra":1'), 'malformed'],
    ['wrong envelope version', R, reported('box1', now + 1).replace('"v":1', '"v":2'), 'malformed'],
    ['an empty JSON object', R, '{}', 'malformed'],
    ['negative uptime', R, reported('box1', now + 1, { uptimeSeconds: -1 }), 'malformed'],
    ['event with an unknown severity', nodeTopic('box1', 'events'), event('catastrophic'), 'malformed'],
    ['invalid node name in the topic', 'seine/v1/nodes/Box_1/reported', reported(), 'wrongTopic'],
    ['extra topic levels', 'seine/v1/nodes/box1/reported/x', reported(), 'wrongTopic'],
    ['status for an unknown node', nodeTopic('ghost', 'status'), JSON.stringify({ v: 1, node: 'ghost', ts: now, kind: 'status', payload: { state: 'online' } }), 'unknownNode'],
  ];
  for (const [name, topic, payload, reason] of cases) {
    it(`rejects ${name} (${reason})`, async function () {
      const before = rx.rejected[reason];
      await rx.handle(topic, Buffer.isBuffer(payload) ? payload : Buffer.from(payload));
      assert.equal(rx.rejected[reason], before + 1, JSON.stringify(rx.rejected));
      assert.equal((await nodes.reports()).get('box1')?.observedGeneration, 1);
    });
  }
  it('takes a newer agent\'s report with fields it does not know, dropping them (counted, not rejected)', async function () {
    const rejectedBefore = rx.rejectedTotal;
    await rx.handle(R, Buffer.from(reported('box1', now + 5_000, { observedGeneration: 2, accelerators: [{ kind: 'npu' }] })));
    await rx.idle();
    assert.equal(rx.rejectedTotal, rejectedBefore);
    assert.equal(rx.withIgnoredFields, 1);
    const stored = (await nodes.reports()).get('box1');
    assert.equal(stored?.observedGeneration, 2);
    assert.ok(stored && !('accelerators' in stored));
  });
});
