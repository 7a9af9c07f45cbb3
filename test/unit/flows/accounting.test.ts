// The counting flows as data: the learner at FlowAccounting, the deny variants of policy drop
// flows (OVS refuses 'drop' next to other actions, so none is left in them), and the policy
// flows unchanged without denyAccounting.
import assert from 'node:assert/strict';
import { accountingFlows, decodeLearnedCookie, learnedCookie, LearnedKind, withDenyAccounting } from '../../../src/agent/flows/accounting.js';
import { CookieAllocator } from '../../../src/agent/ovs/cookie.js';
import { Pipeline } from '../../../src/agent/ovs/pipeline.js';

describe('flows: accounting flows', () => {
  const pipeline = Pipeline.build();
  const cookies = new CookieAllocator(3);

  it('learns both directions per protocol and forks the first packet through ct so it counts too', () => {
    const flows = accountingFlows(pipeline, cookies);
    assert.deepEqual(flows.map((f) => [f.priority, f.match.join(',')]), [
      [2, 'ct_state=+trk,tcp,reg9=0/0x80000000'], [2, 'ct_state=+trk,udp,reg9=0/0x80000000'], [1, 'ct_state=+trk,ip,reg9=0/0x80000000'],
    ]);
    const tcp = flows[0]!.actions;
    const t = pipeline.id('FlowAccounting');
    assert.match(tcp[0]!, new RegExp(`^learn\\(table=${t},.*NXM_OF_IP_SRC\\[\\],NXM_OF_IP_DST\\[\\],NXM_OF_TCP_SRC\\[\\],NXM_OF_TCP_DST\\[\\]\\)$`));
    assert.match(tcp[1]!, /NXM_OF_IP_SRC\[\]=NXM_OF_IP_DST\[\],NXM_OF_IP_DST\[\]=NXM_OF_IP_SRC\[\],NXM_OF_TCP_SRC\[\]=NXM_OF_TCP_DST\[\]/);
    assert.equal(tcp.at(-1), `ct(table=${t},zone=65520)`);
    assert.match(flows[2]!.actions[0]!, /NXM_OF_IP_PROTO\[\]/);
  });

  it('splits a drop flow per protocol, learns a deny counter naming the rule, and drops without a drop action', () => {
    const drop = { table: 'IngressMetric' as const, priority: 200, match: ['reg0=0x400/0x400', 'reg3=0x7'], actions: ['drop'], cookie: 1n };
    const flows = withDenyAccounting(drop, pipeline, LearnedKind.DeniedByRule, 7);
    assert.deepEqual(flows.map((f) => [f.priority, f.match.at(-1)]), [[201, 'tcp'], [201, 'udp'], [200, 'ip']]);
    for (const f of flows) {
      assert.ok(!f.actions.includes('drop'));
      assert.equal(f.actions.length, 2);
      assert.ok(f.actions[0]!.includes(`cookie=0x${learnedCookie(LearnedKind.DeniedByRule, 7).toString(16)}`));
    }
    const reject = withDenyAccounting({ ...drop, actions: ['controller(userdata=01)'] }, pipeline, LearnedKind.DeniedByRule, 7);
    assert.equal(reject[0]!.actions.at(-1), 'controller(userdata=01)');
    assert.deepEqual(decodeLearnedCookie(learnedCookie(LearnedKind.IsolatedEgress, 0)), { kind: 4, conjId: 0 });
    assert.equal(decodeLearnedCookie(cookies.cookie('FlowAccounting')), undefined, 'the learner itself is not a learned flow');
  });
});
