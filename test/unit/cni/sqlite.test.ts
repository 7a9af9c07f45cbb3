import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Database, migrate } from '../../../src/lib/sqlite.js';

describe('sqlite wrapper', () => {
  let dir: string;
  let db: Database;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'seine-sqlite-'));
    db = await Database.open(path.join(dir, 't.db'));
  });
  afterEach(async () => {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('opens in WAL mode and runs run/get/all/exec', async () => {
    assert.equal((await db.get<{ journal_mode: string }>('PRAGMA journal_mode'))?.journal_mode, 'wal');
    await db.exec('CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)');
    const r = await db.run('INSERT INTO t VALUES (?, ?)', ['a', 1]);
    assert.deepEqual(r, { changes: 1, lastId: 1 });
    await db.run('INSERT INTO t VALUES ($k, $v)', { $k: 'b', $v: 2 });
    assert.deepEqual(await db.get('SELECT v FROM t WHERE k = ?', ['b']), { v: 2 });
    assert.equal(await db.get('SELECT v FROM t WHERE k = ?', ['zz']), undefined);
    assert.deepEqual(await db.all('SELECT k FROM t ORDER BY k'), [{ k: 'a' }, { k: 'b' }]);
    await assert.rejects(db.run('INSERT INTO t VALUES (?, ?)', ['a', 3]), /UNIQUE constraint failed.*in: INSERT INTO t/);
  });

  it('commits a transaction, rolls back a failed one, and keeps other calls out of it', async () => {
    await db.exec('CREATE TABLE t (k TEXT PRIMARY KEY)');
    await db.transaction(async (tx) => {
      await tx.run("INSERT INTO t VALUES ('a')");
    });
    // A statement issued while a transaction is open must not land inside it (and be rolled back with it).
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const failing = db.transaction(async (tx) => {
      await tx.run("INSERT INTO t VALUES ('b')");
      await gate;
      throw new Error('boom');
    });
    const outside = db.run("INSERT INTO t VALUES ('outside')");
    setTimeout(release, 20);
    await assert.rejects(failing, /boom/);
    await outside;
    assert.deepEqual((await db.all<{ k: string }>('SELECT k FROM t ORDER BY k')).map((r) => r.k), ['a', 'outside']);
  });

  it('migrates per module, once, and refuses a newer schema', async () => {
    const m = ['CREATE TABLE x (a INTEGER)', 'ALTER TABLE x ADD COLUMN b TEXT'];
    assert.deepEqual(await migrate(db, 'mod', m.slice(0, 1)), [1]);
    assert.deepEqual(await migrate(db, 'mod', m), [2]);
    assert.deepEqual(await migrate(db, 'mod', m), []);
    assert.deepEqual(await migrate(db, 'other', ['CREATE TABLE y (a INTEGER)']), [1]);
    await db.run('INSERT INTO x (a, b) VALUES (1, ?)', ['ok']);
    await assert.rejects(migrate(db, 'mod', m.slice(0, 1)), /schema version 2, newer than this program knows \(1\)/);
  });

  it('a failing migration leaves no trace', async () => {
    await assert.rejects(migrate(db, 'bad', ['CREATE TABLE z (a INTEGER); INSERT INTO nowhere VALUES (1)']), /no such table: nowhere/);
    assert.equal(await db.get("SELECT name FROM sqlite_master WHERE name = 'z'"), undefined);
    assert.deepEqual(await db.all("SELECT * FROM schema_migrations WHERE module = 'bad'"), []);
  });
});
