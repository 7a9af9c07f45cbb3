// Canonical identity by encoding (no ovs-ofctl): a desired flow written differently from the
// installed one meets it through the encoded match, takes its text, and only OVS's own text
// is cached as canonical.
import assert from 'node:assert/strict';
import { FlowCanonicalizer, FlowSyntaxError } from '../../../src/agent/ovs/canonical.js';
import type { OvsFlow } from '../../../src/agent/ovs/flow.js';

const flow = (match: string, actions: string, priority = 200): OvsFlow => ({ tableId: 3, priority, match, actions, cookie: 1n });

describe('FlowCanonicalizer (encoded identity)', () => {
  it('rewrites a desired flow to the installed text it encodes the same as, and caches that', () => {
    const c = new FlowCanonicalizer();
    const installed = flow('ip,in_port=2,nw_src=10.0.0.1', 'set_field:0x3/0xf->reg0,goto_table:4');
    const desired = flow('dl_type=0x0800,in_port=2,nw_src=10.0.0.1', 'load:0x3->NXM_NX_REG0[0..3],goto_table:4');
    const out = c.resolve([desired], [installed], () => undefined, () => true);
    assert.deepEqual(out.get(desired), { ...desired, match: installed.match, actions: installed.actions });
    assert.ok(c.known(desired));
    assert.deepEqual(c.cached(desired), { ...desired, match: installed.match, actions: installed.actions });
  });

  it('takes only the match when the actions differ, and never caches a text OVS did not print', () => {
    const c = new FlowCanonicalizer();
    const installed = flow('ip,nw_src=10.0.0.1', 'goto_table:5');
    const desired = flow('nw_src=10.0.0.1,ip', 'goto_table:4');
    assert.deepEqual(c.resolve([desired], [installed], () => undefined, () => true).get(desired), { ...desired, match: 'ip,nw_src=10.0.0.1' });
    assert.ok(!c.known(desired), 'the actions are the agent\'s: not canonical');
    const loose = flow('dl_type=0x0800,nw_src=10.0.0.9', 'goto_table:4');
    const again = flow('ip,nw_src=10.0.0.9', 'goto_table:4');
    assert.equal(c.resolve([again], [loose], () => undefined, () => false).get(again)!.match, loose.match);
    assert.ok(!c.known(again));
  });

  it('leaves a flow no installed flow encodes like (other priority or match), and names a flow it cannot read', () => {
    const c = new FlowCanonicalizer();
    const installed = flow('ip,nw_src=10.0.0.1', 'drop', 100);
    assert.equal(c.resolve([flow('ip,nw_src=10.0.0.1', 'drop'), flow('ip,nw_src=10.0.0.2', 'drop', 100)], [installed], () => undefined, () => true).size, 0);
    assert.throws(() => c.resolve([flow('ip,bogus=1', 'drop')], [installed], () => undefined, () => true), (e: unknown) => e instanceof FlowSyntaxError && /bogus=1/.test(e.message));
  });
});
