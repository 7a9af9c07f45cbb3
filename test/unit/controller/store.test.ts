/* eslint-disable @stylistic/indent -- the shared suite's body sits flush under storeSuite() so it reads as a plain describe() */
// The object store, the same suite on a real SQLite file and on a real PostgreSQL server
// started here: uid, generation on spec change only, resourceVersion, audit entries,
// all-or-nothing applies and deletes, conflicts, migrations, reopen; on PostgreSQL also two
// replicas writing at once.
import assert from 'node:assert/strict';
import path from 'node:path';
import { KINDS } from '../../../src/api/kinds.js';
import { parseManifests } from '../../../src/api/manifest.js';
import { STORE_MIGRATIONS, STORE_MODULE } from '../../../src/controller/store/schema.js';
import { ConflictError, NotFoundError, ObjectStore } from '../../../src/controller/store/objects.js';
import { NodeRegistry } from '../../../src/controller/store/nodes.js';
import { PostgresDatabase } from '../../../src/controller/store/postgres.js';
import { Database, migrate, type SqlDatabase } from '../../../src/lib/sqlite.js';
import { startPostgres, type TestPostgres } from '../../helpers/postgres.js';
import { acnp, tempDir } from '../../integration/controller-fixture.js';

const objects = (...o: unknown[]) => parseManifests(JSON.stringify(o), 'test');
const acnpKind = KINDS.find((k) => k.kind === 'ClusterNetworkPolicy')!;

/** A store backend: `location()` names a new empty database, `open()` opens one (again). */
interface Backend {
  location(tag: string): Promise<string>;
  open(location: string): Promise<SqlDatabase>;
}

function storeSuite(name: string, setup: () => Promise<Backend & { teardown(): Promise<void> }>) {
describe(`controller store on ${name}`, function () {
  this.timeout(30_000);
  let backend: Awaited<ReturnType<typeof setup>>;
  let where: string;
  let db: SqlDatabase;
  let store: ObjectStore;

  before(async function () {
    backend = await setup();
  });
  after(async function () {
    await backend?.teardown();
  });
  beforeEach(async function () {
    where = await backend.location('c');
    db = await backend.open(where);
    store = await ObjectStore.open(db);
  });
  afterEach(async function () {
    await db.close();
  });

  it('creates with uid, generation 1, a resourceVersion and creation time; audits who and what', async function () {
    const [item] = await store.apply(objects(acnp('a')), 'alice');
    assert.equal(item!.outcome, 'created');
    assert.match(item!.record.uid, /^[0-9a-f-]{36}$/);
    assert.equal(item!.record.generation, 1);
    assert.equal(item!.record.resourceVersion, 1);
    assert.ok(Date.parse(item!.record.createdAt));
    const [entry] = await store.auditLog();
    assert.equal(entry!.actor, 'alice');
    assert.equal(entry!.action, 'create');
    assert.equal(entry!.object, 'ClusterNetworkPolicy.crd.antrea.io//a');
    assert.equal((entry!.detail as { spec: { priority: number } }).spec.priority, 5);
  });

  it('bumps generation on a spec change only; resourceVersion on any change; unchanged is a no-op', async function () {
    await store.apply(objects(acnp('a')), 'alice');
    const [same] = await store.apply(objects(acnp('a')), 'bob');
    assert.equal(same!.outcome, 'unchanged');
    assert.equal(same!.record.resourceVersion, 1);
    const [spec] = await store.apply(objects(acnp('a', 9)), 'bob');
    assert.deepEqual([spec!.outcome, spec!.record.generation, spec!.record.resourceVersion], ['configured', 2, 2]);
    const [label] = await store.apply(objects({ ...acnp('a', 9), metadata: { name: 'a', labels: { x: 'y' } } }), 'bob');
    assert.deepEqual([label!.record.generation, label!.record.resourceVersion], [2, 3]);
    assert.equal((await store.auditLog()).length, 3);
    assert.equal(await store.revision(), 3);
  });

  it('applies several objects all or nothing (a stale resourceVersion rolls back the whole apply)', async function () {
    await store.apply(objects(acnp('a')), 'alice');
    const stale = { ...acnp('a', 3), metadata: { name: 'a', resourceVersion: '99' } };
    await assert.rejects(store.apply(objects(acnp('b'), stale), 'bob'), ConflictError);
    assert.deepEqual((await store.list()).map((r) => r.name), ['a']);
    assert.equal(await store.revision(), 1);
    assert.equal((await store.auditLog()).length, 1);
  });

  it('deletes all or nothing and audits the deletion', async function () {
    await store.apply(objects(acnp('a'), acnp('b')), 'alice');
    await assert.rejects(store.delete([{ kind: acnpKind, name: 'a' }, { kind: acnpKind, name: 'nope' }], 'bob'), NotFoundError);
    assert.equal((await store.list()).length, 2);
    const gone = await store.delete([{ kind: acnpKind, name: 'a' }], 'bob');
    assert.equal(gone[0]!.name, 'a');
    assert.equal((await store.auditLog())[0]!.action, 'delete');
  });

  it('keeps everything across a reopen; migrations run once and in order', async function () {
    await store.apply(objects(acnp('a')), 'alice');
    await db.close();
    db = await backend.open(where);
    store = await ObjectStore.open(db);
    const [r] = await store.list();
    assert.equal(r!.name, 'a');
    const versions = await db.all<{ version: number }>('SELECT version FROM schema_migrations WHERE module = ? ORDER BY version', [STORE_MODULE]);
    assert.deepEqual(versions.map((v) => v.version), STORE_MIGRATIONS.map((_, i) => i + 1));
  });

  it('upgrades a version-1 database to the current schema keeping its objects', async function () {
    const file = await backend.location('old');
    const old = await backend.open(file);
    await migrate(old, STORE_MODULE, STORE_MIGRATIONS.slice(0, 1));
    await old.run(`INSERT INTO objects VALUES ('ClusterNetworkPolicy.crd.antrea.io', '', 'old', 'u-1', 'crd.antrea.io/v1beta1', 1, 1, '2026-01-01T00:00:00Z', NULL, NULL, '{"priority":1}')`);
    await old.close();
    const reopened = await backend.open(file);
    const upgraded = await ObjectStore.open(reopened);
    assert.deepEqual((await upgraded.list()).map((r) => [r.name, r.uid]), [['old', 'u-1']]);
    const nodes = await NodeRegistry.open(reopened);
    await nodes.createCredentials('box1', 'test');
    assert.deepEqual(await nodes.names(), ['box1']);
    await reopened.close();
  });

  it('node credentials: only a hash is stored, the password verifies, a rotation invalidates the old one', async function () {
    const nodes = await NodeRegistry.open(db);
    const p1 = await nodes.createCredentials('box1', 'admin');
    assert.ok(await nodes.verifyPassword('box1', p1));
    assert.equal(await nodes.verifyPassword('box1', 'wrong'), false);
    const row = await db.get<{ secret_hash: string }>('SELECT secret_hash FROM nodes WHERE name = ?', ['box1']);
    assert.ok(!row!.secret_hash.includes(p1));
    const p2 = await nodes.createCredentials('box1', 'admin');
    assert.equal(await nodes.verifyPassword('box1', p1), false);
    assert.ok(await nodes.verifyPassword('box1', p2));
    assert.equal(await nodes.verifyPassword('box2', p2), false);
  });

  it('desired generation moves only when the document changes, and persists', async function () {
    const nodes = await NodeRegistry.open(db);
    await nodes.createCredentials('box1', 'admin');
    assert.deepEqual(await nodes.desiredGeneration('box1', 'h1'), { generation: 1, changed: true });
    assert.deepEqual(await nodes.desiredGeneration('box1', 'h1'), { generation: 1, changed: false });
    assert.deepEqual(await nodes.desiredGeneration('box1', 'h2'), { generation: 2, changed: true });
  });

  it('documents built from an older store revision than some already recorded are refused, nothing written; the snapshot gives objects and revision together', async function () {
    const nodes = await NodeRegistry.open(db);
    for (const n of ['box1', 'box2']) await nodes.register(n, 'admin');
    assert.deepEqual(await store.snapshot(), { objects: [], revision: 0 });
    await store.apply(objects(acnp('p1')), 'admin');
    const old = await store.snapshot();
    assert.deepEqual([old.revision, old.objects.map((o) => o.name)], [1, ['p1']]);
    await store.apply(objects(acnp('p2')), 'admin');
    const fresh = await store.snapshot();
    assert.deepEqual([fresh.revision, fresh.objects.map((o) => o.name)], [2, ['p1', 'p2']]);
    assert.deepEqual(await nodes.desiredGenerations(new Map([['box1', 'fresh'], ['box2', 'fresh']]), fresh.revision), new Map([['box1', { generation: 1, changed: true }], ['box2', { generation: 1, changed: true }]]));
    await assert.rejects(nodes.desiredGenerations(new Map([['box1', 'old']]), old.revision), (err: Error) => err.name === 'StaleViewError' && /revision 1, older than revision 2/.test(err.message));
    const rows = await db.all<{ desired_generation: number; desired_hash: string }>('SELECT desired_generation, desired_hash FROM nodes ORDER BY name');
    assert.deepEqual(rows.map((r) => [r.desired_generation, r.desired_hash]), [[1, 'fresh'], [1, 'fresh']]);
    // The same revision again (another replica, another span) and a newer one go through.
    assert.deepEqual(await nodes.desiredGenerations(new Map([['box1', 'other']]), fresh.revision), new Map([['box1', { generation: 2, changed: true }]]));
    assert.deepEqual(await nodes.desiredGenerations(new Map([['box2', 'newer']]), fresh.revision + 1), new Map([['box2', { generation: 2, changed: true }]]));
  });

  it('a fleet-wide publication: 1,200 nodes\' generations in one call, grouped by document, each node\'s own; presence in one batch', async function () {
    const nodes = await NodeRegistry.open(db);
    const names = Array.from({ length: 1200 }, (_, i) => `n${String(i).padStart(4, '0')}`);
    for (const n of names) await nodes.register(n, 'admin');
    // Some nodes start ahead (an older document): each keeps counting from its own generation.
    assert.deepEqual(await nodes.desiredGenerations(new Map(names.slice(0, 3).map((n) => [n, 'old']))), new Map(names.slice(0, 3).map((n) => [n, { generation: 1, changed: true }])));
    const first = await nodes.desiredGenerations(new Map(names.map((n, i) => [n, i % 3 ? 'a' : 'b'])));
    assert.deepEqual(first.get('n0000'), { generation: 2, changed: true });
    assert.deepEqual(first.get('n0004'), { generation: 1, changed: true });
    assert.equal([...first.values()].filter((g) => g.changed).length, 1200);
    // Again with a third of them moved: only those change.
    const second = await nodes.desiredGenerations(new Map(names.map((n, i) => [n, i % 3 === 1 ? 'c' : i % 3 ? 'a' : 'b'])));
    assert.deepEqual([...second].filter(([, g]) => g.changed).map(([n]) => n).sort(), names.filter((_, i) => i % 3 === 1));
    assert.deepEqual(second.get('n0001'), { generation: 3, changed: true });
    assert.deepEqual(second.get('n0004'), { generation: 2, changed: true });
    assert.deepEqual(second.get('n0002'), { generation: 2, changed: false });
    assert.deepEqual(second.get('n0005'), { generation: 1, changed: false });
    const rows = await db.all<{ name: string; desired_generation: number; desired_hash: string }>('SELECT name, desired_generation, desired_hash FROM nodes ORDER BY name');
    assert.deepEqual(rows.slice(0, 3).map((r) => [r.desired_generation, r.desired_hash]), [[2, 'b'], [3, 'c'], [2, 'a']]);
    const heard: string[] = [];
    nodes.onChange((n, what) => what === 'presence' && heard.push(n));
    await nodes.setPresences(new Map(names.slice(0, 500).map((n, i) => [n, { online: i % 2 === 0, agentVersion: '1.2.3' }])));
    assert.equal(heard.length, 500);
    const listed = new Map((await nodes.list()).map((n) => [n.name, n]));
    assert.equal(listed.get('n0000')!.online, true);
    assert.equal(listed.get('n0498')!.online, true, 'the third statement of the batch');
    assert.equal(listed.get('n0001')!.online, false);
    assert.equal(listed.get('n0002')!.agentVersion, '1.2.3');
    assert.equal(listed.get('n0600')!.agentVersion, null);
    // 450 reports in one call (several statements), one for a node that does not exist and one for a disabled node.
    await nodes.remove('n0449', 'admin', { disable: true });
    const report = (n: string, i: number) => ({ node: n, observedGeneration: i, objects: {}, errors: [], inventory: { pods: [] }, agentVersion: `1.0.${i}`, uptimeSeconds: i + 0.5 });
    await nodes.recordReports(new Map([...names.slice(0, 450).map((n, i): [string, ReturnType<typeof report>] => [n, report(n, i)]), ['ghost', report('ghost', 9)]]));
    const reports = await nodes.reports();
    assert.equal(reports.size, 449);
    assert.deepEqual(reports.get('n0007'), report('n0007', 7));
    const stored = await db.get<{ reported: string; agent_version: string; uptime_seconds: number }>('SELECT reported, agent_version, uptime_seconds FROM nodes WHERE name = ?', ['n0448']);
    assert.deepEqual([JSON.parse(stored!.reported), stored!.agent_version, stored!.uptime_seconds], [report('n0448', 448), '1.0.448', 448.5]);
    assert.equal((await db.get<{ reported: string | null }>('SELECT reported FROM nodes WHERE name = ?', ['n0449']))!.reported, null);
    // Replicas: a report the agent sent earlier, taken by another replica later, does not overwrite the newer one.
    assert.deepEqual(await nodes.recordReports(new Map([['n0010', report('n0010', 20)]]), new Map([['n0010', 2_000]])), new Set(['n0010']));
    // Skipped, and said so (the receiver does not hand a skipped report on to the spans).
    assert.deepEqual(await nodes.recordReports(new Map([['n0010', report('n0010', 19)], ['n0011', report('n0011', 19)]]), new Map([['n0010', 1_000], ['n0011', 1_000]])), new Set(['n0011']));
    const other = await NodeRegistry.open(db, { shared: true });
    assert.equal((await other.report('n0010'))!.observedGeneration, 20);
    await nodes.recordReports(new Map([['n0010', report('n0010', 21)]]), new Map([['n0010', 3_000]]));
    assert.equal((await nodes.report('n0010'))!.observedGeneration, 21);
  });

  it('replicas: a reread of the reports overlapping this replica\'s own report takes the other replica\'s newer report, once and for good', async function () {
    // Replica a's reads of the report rows wait at a gate the test opens: the exact interleaving
    // (a reread in flight while a records a report of its own) that left a's index holding a
    // node's old report under its new text, for good (issue #22, 30 of 1000 boxes short).
    let gate: Promise<void> | undefined;
    let reads = 0;
    const gated: SqlDatabase = {
      file: db.file, transaction: (fn) => db.transaction(fn), close: async () => {}, run: (s, p) => db.run(s, p), get: (s, p) => db.get(s, p), exec: (s) => db.exec(s),
      all: async <T>(sql: string, params?: Parameters<SqlDatabase['all']>[1]) => {
        if (sql.startsWith('SELECT name, reported FROM nodes')) {
          reads++;
          await gate;
        }
        return db.all<T>(sql, params);
      },
    };
    const otherDb = await backend.open(where);
    try {
      const a = await NodeRegistry.open(gated, { shared: true });
      const b = await NodeRegistry.open(otherDb, { shared: true });
      for (const n of ['box1', 'box2']) await a.register(n, 'admin');
      const report = (n: string, generation: number) => ({ node: n, observedGeneration: generation, objects: {}, errors: [], inventory: { pods: [] }, agentVersion: '1.0.0', uptimeSeconds: 1 });
      await b.recordReport('box1', report('box1', 1));
      assert.equal((await a.report('box1'))!.observedGeneration, 1);
      // Replica b takes box1's next report; a's next reread (after SHARED_REPORTS_MS) must see it.
      await b.recordReport('box1', report('box1', 2));
      await new Promise((r) => setTimeout(r, 300));
      let open!: () => void;
      gate = new Promise((r) => (open = r));
      const before = reads;
      const reading = a.reports();
      while (reads === before) await new Promise((r) => setTimeout(r, 5));
      // Meanwhile a records box2's report itself.
      await a.recordReport('box2', report('box2', 7));
      gate = undefined;
      open();
      const index = await reading;
      assert.equal(index.get('box1')?.observedGeneration, 2, 'the reread took the other replica\'s report');
      assert.equal(index.get('box2')?.observedGeneration, 7, 'and kept its own, written while it read');
      assert.equal((await a.report('box1'))!.observedGeneration, 2);
      // And for good: a later reread does not fall back (the text it holds is that of the report it holds).
      await new Promise((r) => setTimeout(r, 300));
      assert.equal((await a.report('box1'))!.observedGeneration, 2);
      assert.equal((await a.report('box2'))!.observedGeneration, 7);
      assert.equal(reads - before, 2, 'one read per reread: the report written meanwhile costs no second read');
    } finally {
      await otherDb.close();
    }
  });

  if (name === 'PostgreSQL') {
    it('two replicas writing many nodes\' presence at once, in opposite orders: no deadlock', async function () {
      // Every box's status reaches every replica (it is not a shared subscription): both write the
      // same rows at once. Unserialized, two multi-row UPDATEs locking them in opposite orders
      // deadlocked, and the batch (its reports with it) was lost.
      const otherDb = await backend.open(where);
      try {
        const [a, b] = [await NodeRegistry.open(db, { shared: true }), await NodeRegistry.open(otherDb, { shared: true })];
        const names = Array.from({ length: 150 }, (_, i) => `n${String(i).padStart(3, '0')}`);
        for (const n of names) await a.register(n, 'admin');
        for (let round = 0; round < 10; round++) {
          await Promise.all([
            a.setPresences(new Map(names.map((n) => [n, { online: true }]))),
            b.setPresences(new Map([...names].reverse().map((n) => [n, { online: round % 2 === 0 }]))),
            a.recordReports(new Map(names.slice(0, 50).map((n) => [n, { node: n, observedGeneration: round, objects: {}, errors: [], inventory: { pods: [] }, agentVersion: '1', uptimeSeconds: 1 }]))),
          ]);
        }
        assert.equal((await a.list()).length, 150);
      } finally {
        await otherDb.close();
      }
    });

    it('two replicas applying at once: every change gets its own resourceVersion, none is lost', async function () {
      const other = await backend.open(where);
      try {
        const [a, b] = [store, await ObjectStore.open(other)];
        const results = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).apply(objects(acnp(`p${i}`)), `replica-${i % 2}`)));
        const rvs = results.map(([item]) => item!.record.resourceVersion).sort((x, y) => x - y);
        assert.deepEqual(rvs, Array.from({ length: 10 }, (_, i) => i + 1));
        assert.equal(await b.revision(), 10);
        assert.equal((await a.list()).length, 10);
        assert.equal((await a.auditLog()).length, 10);
      } finally {
        await other.close();
      }
    });
  }
});
}

storeSuite('SQLite', async () => {
  const tmp = await tempDir();
  return {
    location: async (tag) => path.join(tmp.dir, `${tag}-${Math.random().toString(36).slice(2)}.db`),
    open: (file) => Database.open(file),
    teardown: () => tmp.remove(),
  };
});

storeSuite('PostgreSQL', async () => {
  const server: TestPostgres = await startPostgres();
  let n = 0;
  return {
    location: (tag) => server.createDatabase(`${tag}_${++n}`),
    open: (url) => PostgresDatabase.open(url),
    teardown: () => server.stop(),
  };
});
