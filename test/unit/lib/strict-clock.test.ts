import assert from 'node:assert/strict';
import { StrictClock } from '../../../src/lib/strict-clock.js';

describe('StrictClock', function () {
  it('never repeats within one millisecond, never goes back with the wall clock, and follows it again', function () {
    let wall = 1_000;
    const clock = new StrictClock(() => wall);
    assert.deepEqual([clock.next(), clock.next(), clock.next()], [1_000, 1_001, 1_002]);
    wall = 990; // the wall clock stepped back
    assert.equal(clock.next(), 1_003);
    wall = 2_000;
    assert.equal(clock.next(), 2_000);
  });

  it('on the real clock: a thousand calls in a row are strictly increasing', function () {
    const clock = new StrictClock();
    const got = Array.from({ length: 1000 }, () => clock.next());
    for (let i = 1; i < got.length; i++) assert.ok(got[i]! > got[i - 1]!, `${got[i]} after ${got[i - 1]}`);
  });
});
