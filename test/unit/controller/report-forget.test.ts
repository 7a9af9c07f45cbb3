// What the report intake keeps per node (the last message time per channel, the ignored-fields
// warning) is kept for registered nodes only and goes when a node is removed: a fleet's churn,
// or names made up on a topic, must not grow the controller. A real SQLite NodeRegistry.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import path from 'node:path';
import { nodeTopic } from '../../../src/api/mqtt.js';
import { NodeRegistry } from '../../../src/controller/store/nodes.js';
import { ReportReceiver } from '../../../src/controller/sync/report-receiver.js';
import { Database } from '../../../src/lib/sqlite.js';
import { tempDir } from '../../integration/controller-fixture.js';

/** A report carrying a field this controller does not know (a newer agent's). */
const report = (node: string, ts: number, generation: number) =>
  Buffer.from(JSON.stringify({ v: 1, node, ts, kind: 'reported', payload: { node, observedGeneration: generation, objects: {}, errors: [], inventory: { pods: [] }, agentVersion: 't', uptimeSeconds: 1, fromANewerAgent: true } }));

describe('controller report intake: per-node memory follows the registry', function () {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let db: Database;
  let nodes: NodeRegistry;
  let rx: ReportReceiver;

  beforeEach(async function () {
    tmp = await tempDir();
    db = await Database.open(path.join(tmp.dir, 'c.db'));
    nodes = await NodeRegistry.open(db);
    for (const n of ['box1', 'box2']) await nodes.register(n, 't');
    rx = new ReportReceiver({ nodes, client: new EventEmitter() as never, maxMessageBytes: 64 * 1024 });
  });
  afterEach(async function () {
    rx.stop();
    await rx.idle();
    await db.close();
    await tmp.remove();
  });

  it('keeps nothing for names that are not registered, and forgets a removed node; added again, it starts afresh', async function () {
    const t0 = Date.now();
    await rx.handle(nodeTopic('box1', 'reported'), report('box1', t0, 3));
    await rx.handle(nodeTopic('box2', 'reported'), report('box2', t0, 3));
    for (let i = 0; i < 50; i++) await rx.handle(nodeTopic(`ghost-${i}`, 'reported'), report(`ghost-${i}`, t0, 1));
    assert.equal(rx.rejected.unknownNode, 50);
    assert.equal(rx.withIgnoredFields, 2, 'the unknown field of the registered nodes\' reports');
    assert.equal(rx.nodesKept, 2, 'made-up node names were kept');

    assert.ok(await nodes.remove('box1', 'test', { disable: false }));
    assert.equal(rx.nodesKept, 1, 'the removed node is still kept');

    // Added again (a re-flashed box whose clock is behind): its first report is not refused as stale.
    await nodes.register('box1', 't');
    await rx.handle(nodeTopic('box1', 'reported'), report('box1', t0 - 60_000, 1));
    await rx.idle();
    assert.equal(rx.rejected.stale, 0);
    assert.equal((await nodes.report('box1'))?.observedGeneration, 1);
    assert.equal(rx.nodesKept, 2);
  });
});
