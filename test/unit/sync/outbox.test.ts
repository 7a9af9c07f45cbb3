// The agent's outbox is bounded in messages and in payload bytes: past either bound the oldest
// messages go first, the newest always stays, and the loss is counted (and survives a reopen).
import assert from 'node:assert/strict';
import path from 'node:path';
import { Outbox } from '../../../src/agent/sync/outbox.js';
import { migrateSync } from '../../../src/agent/sync/schema.js';
import { Database } from '../../../src/lib/sqlite.js';
import { tempDir } from '../../integration/controller-fixture.js';

describe('agent outbox bounds', function () {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let db: Database;

  beforeEach(async function () {
    tmp = await tempDir();
    db = await Database.open(path.join(tmp.dir, 'a.db'));
    await migrateSync(db);
  });
  afterEach(async function () {
    await db.close();
    await tmp.remove();
  });

  it('drops the oldest messages once the byte bound is passed, counting them; the message count alone would have kept them', async function () {
    const box = await Outbox.open(db, 10_000, 100_000);
    const kb30 = (tag: string) => `${tag}:${'x'.repeat(30_000 - tag.length - 1)}`;
    for (const tag of ['a', 'b', 'c']) await box.add('seine/v1/nodes/box1/flows', kb30(tag), false);
    assert.equal(box.bytes, 90_000);
    assert.equal(box.dropped, 0);
    await box.add('seine/v1/nodes/box1/flows', kb30('d'), false); // 120 kB > 100 kB: 'a' goes
    assert.equal(box.dropped, 1);
    assert.equal(box.bytes, 90_000);
    assert.deepEqual((await box.peek()).map((m) => m.payload.split(':')[0]), ['b', 'c', 'd']);
    // Multibyte payloads count in bytes, not characters.
    await box.add('seine/v1/nodes/box1/events', 'é'.repeat(30_000), false); // 60 kB: b and c go
    assert.equal(box.dropped, 3);
    assert.deepEqual((await box.peek()).map((m) => m.payload.slice(0, 1)), ['d', 'é']);
    assert.equal(box.bytes, 90_000);
    // A message larger than the bound alone still stays (the newest is never dropped).
    await box.add('seine/v1/nodes/box1/flows', 'z'.repeat(150_000), false);
    assert.equal((await box.size()), 1);
    assert.equal(box.dropped, 5);
    // The count and the byte total survive a reopen.
    const again = await Outbox.open(db, 10_000, 100_000);
    assert.equal(again.dropped, 5);
    assert.equal(again.bytes, 150_000);
    const [m] = await again.peek();
    await again.remove(m!.id);
    assert.equal(again.bytes, 0);
  });

  it('a retained message replaces the queued one on its topic, in bytes too; the message bound still holds', async function () {
    const box = await Outbox.open(db, 2, 1_000_000);
    await box.add('seine/v1/nodes/box1/reported', 'r'.repeat(500), true);
    await box.add('seine/v1/nodes/box1/reported', 'r'.repeat(300), true);
    assert.equal(box.bytes, 300);
    assert.equal(await box.size(), 1);
    await box.add('seine/v1/nodes/box1/events', 'e1', false);
    await box.add('seine/v1/nodes/box1/events', 'e2', false); // 3 > 2 messages: the report goes
    assert.equal(box.dropped, 1);
    assert.equal(box.bytes, 4);
    assert.deepEqual((await box.peek()).map((m) => m.payload), ['e1', 'e2']);
  });
});
