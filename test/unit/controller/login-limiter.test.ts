// The login limiter's sliding window and bounds, with a clock of the test's own.
import assert from 'node:assert/strict';
import { LoginLimiter } from '../../../src/controller/broker/login-limiter.js';

describe('MQTT login limiter', function () {
  it('blocks past the per-node and per-source limits, and forgets failures older than the window', function () {
    let now = 1_000_000;
    const l = new LoginLimiter({ perSource: 4, perNode: 2, windowSeconds: 10 }, () => now);
    l.failed('10.0.0.9', 'box1');
    assert.equal(l.blocked('10.0.0.9', 'box1'), undefined);
    now += 5_000;
    l.failed('10.0.0.8', 'box1'); // another address, the same name
    assert.equal(l.blocked('10.0.0.7', 'box1'), '2 failed logins as box1 in 10 s');
    assert.equal(l.blocked('10.0.0.7', 'box2'), undefined);
    l.failed('10.0.0.9', 'box2');
    l.failed('10.0.0.9', undefined);
    l.failed('10.0.0.9', 'box3');
    assert.equal(l.blocked('10.0.0.9', 'box4'), '4 failed logins from 10.0.0.9 in 10 s');
    // The first failure leaves the window: box1 has one left, 10.0.0.9 three.
    now += 5_001;
    assert.equal(l.blocked('10.0.0.7', 'box1'), undefined);
    assert.equal(l.blocked('10.0.0.9', 'box4'), undefined);
    now += 10_000;
    assert.equal(l.blocked('10.0.0.9', 'box1'), undefined);
  });

  it('keeps at most 10 000 keys (the least recently failing go first)', function () {
    const l = new LoginLimiter({ perSource: 1, perNode: 1, windowSeconds: 60 });
    l.failed('first', undefined);
    for (let i = 0; i < 10_000; i++) l.failed(`10.1.${i >> 8}.${i & 255}`, undefined);
    assert.equal(l.blocked('first', undefined), undefined, 'the oldest key was dropped');
    assert.ok(l.blocked('10.1.39.15', undefined));
  });
});
