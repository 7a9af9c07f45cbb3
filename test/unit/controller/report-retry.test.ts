// A failed write of the report intake loses nothing (issue #22): ReportReceiver over a real
// SQLite NodeRegistry whose writes are made to throw (a boundary double over the real Database:
// a PostgreSQL failover or a lock timeout looks the same to the receiver). The batch is kept,
// the newest word per node wins over it, it is written after a backoff and handed on then;
// what waits stays one entry per node however many messages come meanwhile.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import path from 'node:path';
import { nodeTopic } from '../../../src/api/mqtt.js';
import type { NodeReported } from '../../../src/api/node-state.js';
import { NodeRegistry } from '../../../src/controller/store/nodes.js';
import { ReportReceiver } from '../../../src/controller/sync/report-receiver.js';
import { Database } from '../../../src/lib/sqlite.js';
import { tempDir, waitFor } from '../../integration/controller-fixture.js';

const report = (node: string, ts: number, generation: number) =>
  Buffer.from(JSON.stringify({ v: 1, node, ts, kind: 'reported', payload: { node, observedGeneration: generation, objects: {}, errors: [], inventory: { pods: [] }, agentVersion: 't', uptimeSeconds: 1 } }));
const status = (node: string, state: 'online' | 'offline', ts: number) => Buffer.from(JSON.stringify({ v: 1, node, ts, kind: 'status', payload: { state, agentVersion: 't', uptimeSeconds: 1 } }));

/** Makes the next `n` writes to the nodes table (statements or transactions) throw. */
function failWrites(db: Database): { fail(n: number): void; failed: number } {
  const state = { left: 0, failed: 0 };
  const injected = () => {
    state.left--;
    state.failed++;
    return Promise.reject(new Error('injected: the store is failing over'));
  };
  const [run, all, transaction] = [db.run.bind(db), db.all.bind(db), db.transaction.bind(db)];
  const isWrite = (sql: string) => /^\s*UPDATE nodes/i.test(sql);
  db.run = (sql, params) => (state.left > 0 && isWrite(sql) ? injected() : run(sql, params)) as never;
  db.all = (sql, params) => (state.left > 0 && isWrite(sql) ? injected() : all(sql, params)) as never;
  db.transaction = (fn) => (state.left > 0 ? injected() : transaction(fn)) as never;
  return {
    fail: (n) => void (state.left = n),
    get failed() {
      return state.failed;
    },
  };
}

describe('controller report intake: a failed store write is retried, not dropped', function () {
  this.timeout(30_000);
  const NODES = ['box1', 'box2', 'box3', 'box4', 'box5'];
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let db: Database;
  let nodes: NodeRegistry;
  let faults: ReturnType<typeof failWrites>;
  let rx: ReportReceiver;
  let handed: [string, number][];
  const t0 = Date.now();

  beforeEach(async function () {
    tmp = await tempDir();
    db = await Database.open(path.join(tmp.dir, 'c.db'));
    nodes = await NodeRegistry.open(db);
    for (const n of NODES) await nodes.register(n, 't');
    for (const n of NODES) assert.ok(await nodes.exists(n));
    await nodes.markAllOffline();
    faults = failWrites(db);
    handed = [];
    // handle() never uses the client (messages are driven directly); stop() unhooks from it.
    rx = new ReportReceiver({ nodes, client: new EventEmitter() as never, maxMessageBytes: 64 * 1024, writeRetryMs: { first: 20, max: 200 }, onReport: (n, r: NodeReported) => handed.push([n, r.observedGeneration]) });
  });
  afterEach(async function () {
    rx.stop();
    await rx.idle();
    await db.close();
    await tmp.remove();
  });

  const stored = async (node: string) => (await nodes.report(node))?.observedGeneration;
  const online = async (node: string) => (await nodes.list()).find((n) => n.name === node)!.online;

  it('a report whose write fails once lands after the retry, is handed on then, and is counted', async function () {
    faults.fail(1);
    await rx.handle(nodeTopic('box1', 'reported'), report('box1', t0 + 1, 3));
    assert.equal(faults.failed, 1, 'the write was not attempted');
    assert.equal(rx.writeFailures, 1);
    assert.equal(rx.backlog, 1, 'the failed batch was not kept');
    assert.deepEqual(handed, [], 'a report that is not stored was handed on');
    await waitFor('the report written by the retry', async () => (await stored('box1')) === 3, 5_000);
    await waitFor('the written report handed on', () => handed.length > 0, 5_000);
    assert.deepEqual(handed, [['box1', 3]]);
    assert.equal(await online('box1'), true, 'the presence the report brought was lost');
    assert.equal(rx.backlog, 0);
  });

  it('a newer report arriving while the batch waits wins over it; the older one is never handed on', async function () {
    faults.fail(1);
    await rx.handle(nodeTopic('box1', 'reported'), report('box1', t0 + 1, 3));
    assert.equal(rx.writeFailures, 1);
    await rx.handle(nodeTopic('box1', 'reported'), report('box1', t0 + 2, 4));
    assert.equal(await stored('box1'), 4);
    await rx.idle();
    assert.deepEqual(handed, [['box1', 4]]);
    assert.equal(rx.backlog, 0);
  });

  it('a last will after the kept report wins over the presence the report brought', async function () {
    faults.fail(1);
    await rx.handle(nodeTopic('box1', 'reported'), report('box1', t0 + 1, 3));
    await rx.handle(nodeTopic('box1', 'status'), status('box1', 'offline', t0));
    await rx.idle();
    assert.equal(await stored('box1'), 3, 'the kept report was lost');
    assert.equal(await online('box1'), false, 'the kept presence overwrote the newer last will');
    assert.deepEqual(handed, [['box1', 3]]);
  });

  it('an outage of several writes: what waits stays one entry per node, and the newest of each lands', async function () {
    faults.fail(1_000_000);
    // Five rounds of reports from every box arrive while the store fails.
    for (let round = 1; round <= 5; round++) {
      await Promise.all(NODES.map((n) => rx.handle(nodeTopic(n, 'reported'), report(n, t0 + round, round))));
      assert.ok(rx.backlog <= NODES.length, `backlog ${rx.backlog} over one per node`);
    }
    assert.ok(rx.writeFailures >= 2, `only ${rx.writeFailures} failed writes`);
    assert.equal(rx.backlog, NODES.length);
    assert.deepEqual(handed, []);
    faults.fail(0);
    await waitFor('every box\'s newest report written', async () => {
      for (const n of NODES) if ((await stored(n)) !== 5) return false;
      return true;
    }, 10_000);
    await rx.idle();
    assert.deepEqual(handed.sort(), NODES.map((n) => [n, 5]), 'each box\'s newest report handed on once, and nothing older');
    assert.equal(rx.backlog, 0);
    for (const n of NODES) assert.equal(await online(n), true);
  });
});
