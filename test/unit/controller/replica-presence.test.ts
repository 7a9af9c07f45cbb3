// A (re)starting controller replica does not erase the fleet's presence another running replica
// keeps (issue #22): two and three registries on one real PostgreSQL, joined as main.ts joins
// them (PostgresDatabase.joinReplicas with markAllOffline as what only the first does). A lone
// controller, or the first replica to start when none runs, still marks every box offline.
import assert from 'node:assert/strict';
import { NodeRegistry } from '../../../src/controller/store/nodes.js';
import { PostgresDatabase, REJOIN_GRACE_MS } from '../../../src/controller/store/postgres.js';
import { sleep } from '../../../src/lib/process.js';
import { startPostgres, type TestPostgres } from '../../helpers/postgres.js';

describe('controller replicas: presence across a replica\'s (re)start (PostgreSQL)', function () {
  this.timeout(60_000);
  let server: TestPostgres;
  let url: string;
  const open: PostgresDatabase[] = [];

  before(async function () {
    server = await startPostgres();
  });
  after(async function () {
    await server?.stop();
  });
  beforeEach(async function () {
    url = await server.createDatabase(`presence_${Math.random().toString(36).slice(2, 8)}`);
  });
  afterEach(async function () {
    for (const db of open.splice(0)) await db.close();
  });

  /** A replica starting as main.ts starts one: returns its registry and whether it marked all offline. */
  const replica = async () => {
    const db = await PostgresDatabase.open(url);
    open.push(db);
    const nodes = await NodeRegistry.open(db, { shared: true });
    const first = await db.joinReplicas(() => nodes.markAllOffline());
    return { db, nodes, first };
  };
  const onlineNames = async (nodes: NodeRegistry) => [...(await nodes.onlineNames())].sort();
  const crash = async (db: PostgresDatabase) => {
    open.splice(open.indexOf(db), 1);
    await db.close();
  };

  it('the first replica marks all offline; one (re)starting beside a running one leaves the presence it keeps', async function () {
    const a = await replica();
    assert.equal(a.first, true, 'the first replica did not see itself first');
    for (const n of ['box1', 'box2', 'box3']) await a.nodes.register(n, 't');
    // Replica a hears box1 and box2 (their status, or reports).
    await a.nodes.setPresences(new Map([['box1', { online: true }], ['box2', { online: true }]]));

    const b = await replica();
    assert.equal(b.first, false, 'replica b started beside a running replica and took itself for the first');
    assert.deepEqual(await onlineNames(b.nodes), ['box1', 'box2'], 'replica b\'s start erased the presence replica a keeps');

    // Replica a goes (its session, and with it its lock, ends); b runs on and hears box2's last will.
    await crash(a.db);
    await b.nodes.setPresence('box2', { online: false });
    // Replica a restarts beside b.
    const a2 = await replica();
    assert.equal(a2.first, false, 'a restarting replica did not see replica b running');
    assert.deepEqual(await onlineNames(a2.nodes), ['box1']);

    // Every replica gone: the next to start heard nobody, so nobody is known online.
    await crash(b.db);
    await crash(a2.db);
    const c = await replica();
    assert.equal(c.first, true, 'with no replica running the starting one did not mark all offline');
    assert.deepEqual(await onlineNames(c.nodes), []);
  });

  it('a replica whose lock session is cut (a PostgreSQL restart) takes its lock again: a replica starting later still sees it', async function () {
    const a = await replica();
    await a.nodes.register('box1', 't');
    await a.nodes.setPresence('box1', { online: true });
    // The sessions holding the replicas' advisory lock (one key: classid 0, objid the key) are cut, as a server restart cuts them.
    const holders = () => a.db.all<{ pid: number }>("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = ? AND granted", [0x5e1e_5702]);
    const [cut] = await holders();
    assert.ok(cut, 'no session holds the replica lock');
    await a.db.get('SELECT pg_terminate_backend(?)', [cut.pid]);
    const deadline = Date.now() + 10_000;
    for (;;) {
      const now = await holders();
      if (now.length && now[0]!.pid !== cut.pid) break;
      assert.ok(Date.now() < deadline, 'the replica never took its lock again');
      await sleep(100);
    }
    const b = await replica();
    assert.equal(b.first, false, 'a replica started after the cut took itself for the first');
    assert.deepEqual(await onlineNames(b.nodes), ['box1']);
  });

  it('a replica starting right after a PostgreSQL restart, before the running one has its lock back, does not take itself for the first', async function () {
    const a = await replica();
    await a.nodes.register('box1', 't');
    await a.nodes.setPresence('box1', { online: true });
    await server.restart();
    // Started as soon as the server takes connections: replica a is still taking its lock again.
    const t0 = Date.now();
    const b = await replica();
    assert.equal(b.first, false, 'a replica started right after the restart took itself for the first and marked the fleet offline');
    assert.deepEqual(await onlineNames(b.nodes), ['box1']);
    assert.ok(Date.now() - t0 < REJOIN_GRACE_MS + 5_000, `replica b took ${Date.now() - t0} ms to join`);
  });

  it('right after a PostgreSQL restart with no replica running, the first to start waits out the grace and marks all offline', async function () {
    const a = await replica();
    await a.nodes.register('box1', 't');
    await a.nodes.setPresence('box1', { online: true });
    await crash(a.db);
    await server.restart();
    const t0 = Date.now();
    const b = await replica();
    assert.equal(b.first, true);
    assert.deepEqual(await onlineNames(b.nodes), []);
    assert.ok(Date.now() - t0 < REJOIN_GRACE_MS + 5_000, `replica b took ${Date.now() - t0} ms to join`);
  });

  it('a node another replica removes leaves this one at its next check of the names: not known, told as removed', async function () {
    const a = await replica();
    const b = await replica();
    for (const n of ['box1', 'box2']) await a.nodes.register(n, 't');
    assert.deepEqual(await b.nodes.names(), ['box1', 'box2']);
    assert.equal(await b.nodes.exists('box1'), true);
    const told: string[] = [];
    b.nodes.onChange((node, what) => what === 'removed' && told.push(node));
    assert.ok(await a.nodes.remove('box1', 'test', { disable: false }));
    const deadline = Date.now() + 5_000;
    while (!told.length) {
      assert.ok(Date.now() < deadline, 'replica b never saw the removal');
      await b.nodes.names();
      await sleep(100);
    }
    assert.deepEqual(told, ['box1']);
    assert.deepEqual(await b.nodes.names(), ['box2']);
    assert.equal(await b.nodes.exists('box1'), false, 'replica b still takes box1 for a registered node');
    assert.equal(await b.nodes.exists('box2'), true);
  });

  it('two replicas starting at once: exactly one marks all offline, the other waits until it has', async function () {
    const seed = await replica();
    await seed.nodes.register('box1', 't');
    await crash(seed.db);
    const order: string[] = [];
    const start = async (name: string) => {
      const db = await PostgresDatabase.open(url);
      open.push(db);
      const first = await db.joinReplicas(async () => {
        order.push(`${name} marks`);
        await sleep(300);
        order.push(`${name} marked`);
      });
      order.push(`${name} joined`);
      return first;
    };
    const firsts = await Promise.all([start('x'), start('y')]);
    assert.deepEqual(firsts.filter(Boolean).length, 1, `both or neither ran first: ${JSON.stringify(order)}`);
    const marker = firsts[0] ? 'x' : 'y';
    const other = marker === 'x' ? 'y' : 'x';
    assert.ok(order.indexOf(`${other} joined`) > order.indexOf(`${marker} marked`), `the other replica joined before the first had marked: ${JSON.stringify(order)}`);
  });
});
