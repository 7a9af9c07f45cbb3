import assert from 'node:assert/strict';
import { CookieAllocator } from '../../../src/agent/ovs/cookie.js';
import type { OvsFlow } from '../../../src/agent/ovs/flow.js';
import { changeCount, planFlowChanges } from '../../../src/agent/ovs/flow-plan.js';

const r1 = new CookieAllocator(1);
const r2 = new CookieAllocator(2);
const flow = (tableId: number, priority: number, match: string, actions: string, cookie = r1.cookie('NetworkPolicy', 'x')): OvsFlow => ({ tableId, priority, match, actions, cookie });

describe('flow diff planning', () => {
  const installed = [
    flow(0, 200, 'ip', 'goto_table:3'),
    flow(3, 190, 'in_port=1', 'goto_table:4'),
    flow(4, 0, '', 'drop'),
    flow(5, 100, 'ip,nw_src=10.0.0.1', 'conjunction(1,1/2)'),
  ];

  it('is a no-op for the same set', () => {
    const plan = planFlowChanges(installed, installed.map((f) => ({ ...f })), { deleteStale: true });
    assert.equal(changeCount(plan), 0);
    assert.equal(plan.unchanged, 4);
    assert.equal(plan.inexact.length, 0);
    assert.equal(plan.stale.length, 0);
  });

  it('adds missing flows, modifies changed actions, deletes stale ones', () => {
    const desired = [
      installed[0],
      { ...installed[1], actions: 'goto_table:5' },
      installed[2],
      flow(5, 100, 'ip,nw_src=10.0.0.2', 'conjunction(1,1/2)'),
    ];
    const plan = planFlowChanges(installed, desired, { deleteStale: true });
    assert.deepEqual(plan.add.map((f) => f.match), ['ip,nw_src=10.0.0.2']);
    assert.deepEqual(plan.modify.map((f) => f.actions), ['goto_table:5']);
    assert.deepEqual(plan.delete.map((f) => f.match), ['ip,nw_src=10.0.0.1']);
    assert.equal(plan.replace.length, 0);
    assert.equal(plan.unchanged, 2);
  });

  it('keeps stale flows when told not to delete (a round install)', () => {
    const plan = planFlowChanges(installed, installed.slice(0, 2));
    assert.equal(plan.delete.length, 0);
    assert.equal(plan.stale.length, 2);
  });

  it('adopts a flow whose cookie differs only in its round, keeping the old cookie', () => {
    const desired = installed.map((f) => ({ ...f, cookie: r2.cookie('NetworkPolicy', 'x') }));
    const plan = planFlowChanges(installed, desired, { deleteStale: true });
    assert.equal(changeCount(plan), 0);
    assert.equal(plan.adopted, 4);
    assert.equal(plan.unchanged, 4);
  });

  it('replaces (add over) a flow whose owner or timeouts change, and a changed flow of an older round', () => {
    const desired = [
      { ...installed[0], cookie: r1.cookie('Service', 'y') },
      { ...installed[1], hardTimeout: 300 },
      { ...installed[2], actions: 'goto_table:5', cookie: r2.cookie('NetworkPolicy', 'x') },
      installed[3],
    ];
    const plan = planFlowChanges(installed, desired, { deleteStale: true });
    assert.equal(plan.replace.length, 3);
    assert.equal(plan.modify.length, 0);
    assert.equal(plan.unchanged, 1);
  });

  it('lets the later of two desired flows with one key win', () => {
    const plan = planFlowChanges([], [flow(1, 1, 'ip', 'drop'), flow(1, 1, 'ip', 'NORMAL')]);
    assert.deepEqual(plan.add.map((f) => f.actions), ['NORMAL']);
  });

  it('reports inexact desired flows (candidates for canonicalisation)', () => {
    const desired = [installed[0], flow(3, 190, 'in_port=1', 'resubmit(,4)'), flow(4, 0, 'dl_type=0x0800', 'drop')];
    const plan = planFlowChanges(installed, desired);
    assert.deepEqual(plan.inexact.map((f) => f.actions), ['resubmit(,4)', 'drop']);
  });
});
