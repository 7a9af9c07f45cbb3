// Crash-safe files: the durable writer leaves the old or the new content and no temp file, and
// the agent's persisted state that does not parse after a power cut is read as none (a warning),
// never a crash: the update state files (test/unit/release) and the desired document here.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DesiredStore } from '../../../src/agent/sync/desired-store.js';
import { migrateSync } from '../../../src/agent/sync/schema.js';
import { removeFileDurable, writeFileDurable } from '../../../src/lib/files.js';
import { Database } from '../../../src/lib/sqlite.js';

describe('crash-safe files', () => {
  let dir: string;
  beforeEach(async () => (dir = await mkdtemp(path.join(tmpdir(), 'seine-files-'))));
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('writes durably over an existing file, in a directory it makes, with no temp file left', async () => {
    const file = path.join(dir, 'a', 'b', 'state.json');
    await writeFileDurable(file, '{"v":1}');
    await writeFileDurable(file, '{"v":2}', 0o600);
    assert.equal(await readFile(file, 'utf8'), '{"v":2}');
    assert.deepEqual(await readdir(path.dirname(file)), ['state.json']);
    await removeFileDurable(file);
    await removeFileDurable(file); // gone already: fine
    await removeFileDurable(path.join(dir, 'no-such-dir', 'x')); // no directory: fine
    assert.deepEqual(await readdir(path.dirname(file)), []);
  });

  it('fails on a target it cannot replace, naming it, and leaves no temp file', async () => {
    const target = path.join(dir, 'is-a-dir');
    await writeFile(path.join(dir, 'keep'), 'x');
    await import('node:fs/promises').then((fs) => fs.mkdir(path.join(target, 'child'), { recursive: true }));
    await assert.rejects(writeFileDurable(target, 'x'), (err: NodeJS.ErrnoException) => /EISDIR|ENOTEMPTY|EEXIST/.test(err.code ?? '') && err.message.includes('is-a-dir'));
    assert.deepEqual((await readdir(dir)).sort(), ['is-a-dir', 'keep']);
  });

  it('reads a persisted desired document that does not parse as none, and saves over it', async () => {
    const db = await Database.open(path.join(dir, 'agent.db'));
    try {
      await migrateSync(db);
      await db.run("INSERT INTO sync_desired (id, generation, document, received_at) VALUES (1, 3, '', 'x')");
      const store = new DesiredStore(db);
      assert.equal(await store.load(), undefined);
      await store.save({ node: 'box1', storeId: 's1', generation: 4, objects: {} });
      assert.equal((await store.load())?.generation, 4);
    } finally {
      await db.close();
    }
  });
});
