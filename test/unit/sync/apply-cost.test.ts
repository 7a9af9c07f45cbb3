// What a desired document costs the box in SQLite, and the restart safety that cost must keep
// (issue #22): two statements per document once connected (the document's upsert, the report's
// INSERT OR REPLACE), the document persisted before it is realized, the report kept on disk until
// the broker acknowledged it, and an acknowledged report sent once more after a restart rather
// than lost (at-least-once). Real SQLite, a real aedes broker in this process, the real AgentSync.
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { Aedes } from 'aedes';
import { ENVELOPE_VERSION, nodeTopic } from '../../../src/api/mqtt.js';
import type { DesiredObject } from '../../../src/api/node-state.js';
import { AgentSync } from '../../../src/agent/sync/agent-sync.js';
import { Outbox } from '../../../src/agent/sync/outbox.js';
import { RealizerRegistry } from '../../../src/agent/sync/realizers.js';
import { migrateSync } from '../../../src/agent/sync/schema.js';
import { Database } from '../../../src/lib/sqlite.js';
import { acnp, RecordingRealizer, tempDir } from '../../integration/controller-fixture.js';
import { countStatements } from '../../helpers/sql-count.js';

const NODE = 'box1';
const KEY = 'ClusterNetworkPolicy.crd.antrea.io//web';
const T = nodeTopic(NODE, 'desired');
const REPORTED = nodeTopic(NODE, 'reported');
const objects = (g: number): Record<string, DesiredObject> => ({ [KEY]: { generation: g, spec: acnp('web', 100 + g).spec } });
const desired = (g: number) => Buffer.from(JSON.stringify({ v: ENVELOPE_VERSION, node: NODE, generation: g, ts: Date.now(), kind: 'desired', payload: { node: NODE, storeId: 'store-a', generation: g, objects: objects(g) } }));
const generationOf = (payload: string) => (JSON.parse(payload) as { generation: number }).generation;

async function openSync(db: Database, url: string, realizer = new RecordingRealizer()): Promise<AgentSync> {
  const realizers = new RealizerRegistry();
  realizers.registerRealizer({ kind: 'ClusterNetworkPolicy', group: 'crd.antrea.io' }, realizer);
  return AgentSync.open({ node: NODE, url, username: NODE, password: 'x', db, realizers, agentVersion: 't' });
}

describe('agent sync: SQLite cost per desired document and restart safety', function () {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let broker: Aedes;
  let server: net.Server;
  let url: string;
  /** Reports the broker received, by generation. */
  const received: number[] = [];

  before(async function () {
    tmp = await tempDir();
    broker = await Aedes.createBroker();
    broker.on('publish', (packet) => {
      if (packet.topic === REPORTED) received.push(generationOf(packet.payload.toString()));
    });
    server = net.createServer(broker.handle);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `mqtt://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  });
  after(async function () {
    await new Promise<void>((r) => broker.close(() => r()));
    await new Promise<void>((r) => server.close(() => r()));
    await tmp.remove();
  });

  it('connected: two statements and two commits per document (upsert, report), also the first after start, none read back; every report acknowledged', async function () {
    const db = await Database.open(path.join(tmp.dir, 'cost.db'));
    const counts = countStatements(db);
    const sync = await openSync(db, url);
    try {
      const from = received.length;
      await sync.start();
      // Connected and its connect-time report in: that report is not one of the documents' statements.
      for (let i = 0; i < 200 && received.length === from; i++) await new Promise((r) => setTimeout(r, 10));
      assert.ok(sync.connected, 'connected to the in-process aedes');
      // The first document of a box that started with none: start() read the (absent) row, so no
      // transaction reads it back looking for a store to retire.
      const first = { ...counts };
      await sync.handleMessage(T, desired(1));
      await sync.flushed();
      assert.equal(counts.statements - first.statements, 2, 'statements for the first document after start');
      const before = { ...counts };
      for (let g = 2; g <= 21; g++) await sync.handleMessage(T, desired(g));
      assert.equal(counts.statements - before.statements, 40, 'statements for 20 documents');
      assert.equal(counts.writes - before.writes, 40, 'commits for 20 documents');
      assert.equal(sync.generation, 21);
      assert.equal(await sync.outbox.size(), 0, 'nothing waiting');
      assert.deepEqual(received.slice(-3), [19, 20, 21]);
    } finally {
      await sync.stop();
      await db.close();
    }
  });

  it('offline: the document is on disk before the realizer runs and the report waits on disk; a restart realizes the one and sends the other', async function () {
    const file = path.join(tmp.dir, 'offline.db');
    let db = await Database.open(file);
    // Nothing listens on port 1: the agent stays offline.
    const seenOnDisk: number[] = [];
    const realizer = new RecordingRealizer();
    const realize = realizer.realize.bind(realizer);
    realizer.realize = async (objs) => {
      const row = await db.get<{ generation: number }>('SELECT generation FROM sync_desired WHERE id = 1');
      seenOnDisk.push(row?.generation ?? 0);
      return realize(objs);
    };
    let sync = await openSync(db, 'mqtt://127.0.0.1:1', realizer);
    await sync.handleMessage(T, desired(7));
    await sync.handleMessage(T, desired(8));
    assert.deepEqual(seenOnDisk, [7, 8], 'each document persisted before it was realized');
    assert.equal(await sync.outbox.size(), 1, 'one report waiting (the second replaced the first)');
    await db.close(); // the box loses power: no stop()

    db = await Database.open(file);
    const restarted = new RecordingRealizer();
    sync = await openSync(db, url, restarted);
    const [waiting] = await sync.outbox.peek();
    assert.equal(generationOf(waiting!.payload), 8, 'the unacknowledged report survived the restart');
    const from = received.length;
    try {
      await sync.start();
      assert.ok(restarted.last?.has(KEY), 'the persisted document realized at start, before any connection');
      assert.equal(sync.generation, 8);
      for (let i = 0; i < 300 && !received.slice(from).includes(8); i++) await new Promise((r) => setTimeout(r, 10));
      assert.ok(received.slice(from).includes(8), `a report of generation 8 reached the broker (got ${received.slice(from).join(',')})`);
      await sync.flushed();
      assert.equal(await sync.outbox.size(), 0);
    } finally {
      await sync.stop();
      await db.close();
    }
  });
});

describe('agent outbox: an acknowledged report', function () {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let db: Database;
  beforeEach(async function () {
    tmp = await tempDir();
    db = await Database.open(path.join(tmp.dir, 'o.db'));
    await migrateSync(db);
  });
  afterEach(async function () {
    await db.close();
    await tmp.remove();
  });

  it('no longer waits, stays on disk until the next report replaces it, and waits again after a restart (sent once more, never lost)', async function () {
    const box = await Outbox.open(db, 100);
    await box.add(REPORTED, 'r1', true);
    await box.add(nodeTopic(NODE, 'events'), 'e1', false);
    const [r1, e1] = await box.peek();
    await box.remove(r1!.id);
    await box.remove(e1!.id);
    assert.equal(await box.size(), 0);
    assert.equal(box.bytes, 0);
    assert.deepEqual(await box.peek(), []);
    assert.deepEqual(await db.all('SELECT payload FROM sync_outbox'), [{ payload: 'r1' }], 'the event is deleted, the acknowledged report kept');
    // After a restart nothing is known to be acknowledged.
    const again = await Outbox.open(db, 100);
    assert.deepEqual((await again.peek()).map((m) => m.payload), ['r1']);
    // The next report replaces it: one row per state topic, whatever was acknowledged.
    await box.add(REPORTED, 'r2', true);
    assert.deepEqual(await db.all('SELECT payload FROM sync_outbox'), [{ payload: 'r2' }]);
    assert.deepEqual((await box.peek()).map((m) => m.payload), ['r2']);
    assert.equal(box.bytes, 2);
  });

  it('what it sends from memory is what the table holds, through adds, replacements, removals and a bound', async function () {
    const box = await Outbox.open(db, 3);
    const tableWaiting = async () => (await Outbox.open(db, 3)).peek();
    for (let i = 0; i < 12; i++) {
      await box.add(i % 3 === 0 ? REPORTED : nodeTopic(NODE, 'events'), `m${i}`, i % 3 === 0);
      if (i % 4 === 3) {
        const [first] = await box.peek();
        await box.remove(first!.id);
      }
      // A reopened outbox reads the table; after an acknowledged report it would send that one again, so compare the rest.
      const acked = (await db.all<{ id: number }>('SELECT id FROM sync_outbox')).length - (await box.size());
      const fromTable = (await tableWaiting()).map((m) => m.payload);
      const fromMemory = (await box.peek()).map((m) => m.payload);
      assert.deepEqual(fromTable.slice(fromTable.length - fromMemory.length), fromMemory, `after m${i}`);
      assert.equal(fromTable.length - fromMemory.length, acked, `after m${i}: only acknowledged rows differ`);
    }
    assert.ok(box.dropped > 0, 'the message bound was passed');
  });
});
