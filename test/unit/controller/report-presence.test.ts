// Presence through the batched intake (ReportReceiver over a real SQLite NodeRegistry, messages
// driven through handle()): a status and a report in the same batch, a report the store skips
// (older than the stored one), the last will and reports racing the embedded broker's sessions.
import assert from 'node:assert/strict';
import path from 'node:path';
import { nodeTopic } from '../../../src/api/mqtt.js';
import type { NodeReported } from '../../../src/api/node-state.js';
import { NodeRegistry } from '../../../src/controller/store/nodes.js';
import { ReportReceiver, type ReportReceiverContext } from '../../../src/controller/sync/report-receiver.js';
import { Database } from '../../../src/lib/sqlite.js';
import { tempDir } from '../../integration/controller-fixture.js';

const report = (node: string, ts: number, generation: number) =>
  Buffer.from(JSON.stringify({ v: 1, node, ts, kind: 'reported', payload: { node, observedGeneration: generation, objects: {}, errors: [], inventory: { pods: [] }, agentVersion: 't', uptimeSeconds: 1 } }));
const status = (node: string, state: 'online' | 'offline', ts: number) => Buffer.from(JSON.stringify({ v: 1, node, ts, kind: 'status', payload: { state, agentVersion: 't', uptimeSeconds: 1 } }));

describe('controller presence through the batched report intake', function () {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let db: Database;
  let nodes: NodeRegistry;
  const t0 = Date.now();

  beforeEach(async function () {
    tmp = await tempDir();
    db = await Database.open(path.join(tmp.dir, 'c.db'));
    nodes = await NodeRegistry.open(db);
    for (const n of ['box1', 'box2']) await nodes.register(n, 't');
    // Known from here on (no query per message): messages handed in together reach the writer in order.
    for (const n of ['box1', 'box2']) assert.ok(await nodes.exists(n));
  });
  afterEach(async function () {
    await db.close();
    await tmp.remove();
  });

  /** A receiver as a (re)started controller makes it: everybody offline until heard from. */
  const receiver = async (extra: Partial<ReportReceiverContext> = {}) => {
    await nodes.markAllOffline();
    // handle() never uses the client; messages are driven directly.
    return new ReportReceiver({ nodes, client: undefined as never, maxMessageBytes: 64 * 1024, ...extra });
  };
  const online = async (node: string) => (await nodes.list()).find((n) => n.name === node)!.online;
  /**
   * Hands `messages` to the receiver at once, after a box2 status that starts a write: the
   * messages all wait for the next batch, so they are written together.
   */
  const inOneBatch = (rx: ReportReceiver, messages: [string, Buffer][]) =>
    Promise.all([rx.handle(nodeTopic('box2', 'status'), status('box2', 'online', Date.now())), ...messages.map(([topic, payload]) => rx.handle(topic, payload))]);

  it('a status "online" and an older report (a replay the store skips) in one batch: the node is online and announced', async function () {
    // A report sent at t0 + 5000 is stored (by this controller before its restart, or another replica).
    await (await receiver()).handle(nodeTopic('box1', 'reported'), report('box1', t0 + 5000, 7));
    const handed: number[] = [];
    const rx = await receiver({ onReport: (_n, r: NodeReported) => handed.push(r.observedGeneration) });
    assert.equal(await online('box1'), false);
    const heard: string[] = [];
    nodes.onChange((n, what) => what === 'presence' && heard.push(n));
    await inOneBatch(rx, [[nodeTopic('box1', 'status'), status('box1', 'online', t0 + 6000)], [nodeTopic('box1', 'reported'), report('box1', t0 + 1000, 6)]]);
    assert.equal(rx.accepted, 3, JSON.stringify(rx.rejected));
    assert.equal(await online('box1'), true, 'the status was lost with the skipped report');
    assert.ok(heard.includes('box1'), 'presence not announced');
    assert.equal((await nodes.report('box1'))!.observedGeneration, 7, 'the older report overwrote the newer one');
    assert.deepEqual(handed, [], 'a skipped (older) report was handed on to the spans');
  });

  it('an older report alone (the store skips it) still says the box is online', async function () {
    await (await receiver()).handle(nodeTopic('box1', 'reported'), report('box1', t0 + 5000, 7));
    const rx = await receiver();
    await rx.handle(nodeTopic('box1', 'reported'), report('box1', t0 + 1000, 6));
    assert.equal(await online('box1'), true);
  });

  it('external broker: the latest word in a batch wins, whatever it came from', async function () {
    const rx = await receiver();
    await inOneBatch(rx, [[nodeTopic('box1', 'reported'), report('box1', t0 + 100, 1)], [nodeTopic('box1', 'status'), status('box1', 'offline', t0)]]);
    assert.equal(await online('box1'), false, 'a last will after a report leaves it offline');
    await inOneBatch(rx, [[nodeTopic('box1', 'status'), status('box1', 'offline', t0)], [nodeTopic('box1', 'reported'), report('box1', t0 + 200, 2)]]);
    assert.equal(await online('box1'), true, 'a report after the last will says online');
  });

  it('embedded broker: its sessions decide; a report after the session closed or a taken-over session\'s last will changes nothing', async function () {
    const sessions = new Set<string>();
    const rx = await receiver({ sessionOpen: (n) => sessions.has(n) });
    sessions.add('box1');
    await rx.presence('box1', { online: true });
    assert.equal(await online('box1'), true);
    // The box sent a report, then its connection closed: the broker says so at once, the report comes after.
    sessions.delete('box1');
    await rx.presence('box1', { online: false });
    await rx.handle(nodeTopic('box1', 'reported'), report('box1', t0 + 100, 1));
    await rx.handle(nodeTopic('box1', 'status'), status('box1', 'online', t0 + 101));
    assert.equal(await online('box1'), false, 'a report delivered after the session closed brought the box back online');
    assert.equal((await nodes.report('box1'))!.observedGeneration, 1, 'the report itself is kept');
    // A new session takes over; the old one's last will arrives after it.
    sessions.add('box1');
    await rx.presence('box1', { online: true });
    await rx.handle(nodeTopic('box1', 'status'), status('box1', 'offline', t0 - 1000));
    assert.equal(await online('box1'), true, 'the last will of a taken-over session took the box offline');
    // Its own session ends: offline.
    sessions.delete('box1');
    await rx.presence('box1', { online: false });
    assert.equal(await online('box1'), false);
  });
});
