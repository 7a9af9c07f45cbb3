// BoundedQueue: at most `limit` jobs at once, first come first served, and a job whose caller
// left before its turn is skipped unrun (the embedded broker's password checks under a login storm).
import assert from 'node:assert/strict';
import { BoundedQueue, SKIPPED } from '../../../src/lib/bounded-queue.js';

const tick = () => new Promise((r) => setImmediate(r));

describe('BoundedQueue', function () {
  it('runs at most `limit` jobs at once, in arrival order', async function () {
    const q = new BoundedQueue(2);
    let running = 0;
    let most = 0;
    const started: number[] = [];
    const release: (() => void)[] = [];
    const jobs = Array.from({ length: 5 }, (_, i) => q.run(async () => {
      started.push(i);
      most = Math.max(most, ++running);
      await new Promise<void>((r) => release.push(r));
      running--;
      return i * 10;
    }));
    await tick();
    assert.deepEqual(started, [0, 1]);
    assert.equal(q.queued, 3);
    while (release.length) {
      release.shift()!();
      await tick();
      await tick();
    }
    assert.deepEqual(await Promise.all(jobs), [0, 10, 20, 30, 40]);
    assert.deepEqual(started, [0, 1, 2, 3, 4]);
    assert.equal(most, 2);
  });

  it('skips a queued job whose caller is gone when its turn comes, and a failing job frees its slot', async function () {
    const q = new BoundedQueue(1);
    let release!: () => void;
    const first = q.run(() => new Promise<string>((r) => (release = () => r('first'))));
    let wanted = true;
    let ran = false;
    const second = q.run(async () => (ran = true), () => wanted);
    const third = q.run(async () => {
      throw new Error('boom');
    });
    const fourth = q.run(async () => 'fourth');
    wanted = false; // the second caller gave up while waiting
    await tick();
    release();
    assert.equal(await first, 'first');
    assert.equal(await second, SKIPPED);
    assert.equal(ran, false);
    await assert.rejects(third, /boom/);
    assert.equal(await fourth, 'fourth');
    assert.equal(q.skipped, 1);
    assert.equal(q.queued, 0);
  });

  it('refuses a limit below 1', function () {
    assert.throws(() => new BoundedQueue(0), /limit must be at least 1/);
  });
});
