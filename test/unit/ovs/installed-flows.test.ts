import assert from 'node:assert/strict';
import { CookieAllocator } from '../../../src/agent/ovs/cookie.js';
import type { OvsFlow } from '../../../src/agent/ovs/flow.js';
import { emptyChanges, planFlowChanges } from '../../../src/agent/ovs/flow-plan.js';
import { InstalledFlows } from '../../../src/agent/ovs/installed-flows.js';

const c = new CookieAllocator(1).cookie('NetworkPolicy', 'x');
const flow = (tableId: number, priority: number, match: string, actions: string): OvsFlow => ({ tableId, priority, match, actions, cookie: c });

describe('installed-flow mirror', () => {
  it('applies a bundle: adds, modifies and deletes, so the next plan against it is a no-op', () => {
    const m = new InstalledFlows([flow(0, 0, '', 'drop'), flow(3, 190, 'in_port=1', 'goto_table:4'), flow(5, 100, 'ip,nw_src=10.0.0.1', 'conjunction(1,1/2)')]);
    const desired = [flow(0, 0, '', 'drop'), flow(3, 190, 'in_port=1', 'goto_table:5'), flow(5, 100, 'ip,nw_src=10.0.0.2', 'conjunction(1,1/2)')];
    const plan = planFlowChanges(m, desired, { deleteStale: true });
    assert.deepEqual([plan.add.length, plan.modify.length, plan.delete.length], [1, 1, 1]);
    m.record(plan, () => true);
    assert.equal(m.size, 3);
    const again = planFlowChanges(m, desired, { deleteStale: true });
    assert.deepEqual([again.add.length, again.modify.length, again.replace.length, again.delete.length, again.unchanged], [0, 0, 0, 0, 3]);
  });

  it('keeps flows whose text OVS has not confirmed as loose until settled with their canonical form', () => {
    const m = new InstalledFlows([]);
    const authored = flow(3, 200, 'dl_type=0x0800,in_port=2', 'goto_table:4');
    const canonical = flow(3, 200, 'ip,in_port=2', 'goto_table:4');
    m.record({ ...emptyChanges(), add: [authored, canonical.match === authored.match ? canonical : flow(4, 0, '', 'drop')] }, (f) => f.tableId === 4);
    assert.deepEqual(m.looseAmong([...m.values()]), [authored]);
    m.settle(authored, canonical);
    assert.deepEqual(m.looseAmong([...m.values()]), []);
    assert.equal(m.get(canonical), canonical);
    assert.equal(m.get(authored), undefined);
    assert.equal(m.size, 2);
  });

  it('forgets deleted flows', () => {
    const f = flow(5, 100, 'ip', 'drop');
    const m = new InstalledFlows([f]);
    m.record({ ...emptyChanges(), delete: [f] }, () => true);
    assert.equal(m.size, 0);
    assert.equal(m.get(f), undefined);
  });
});
