// The bridge's delta planning (desired-memo.ts) against the whole plan, without a switch: over
// random sequences of desired sets — flows kept as the same objects, new objects (equal or
// changed), flows dropped, the same object listed twice, several flows with one key in either
// order, cookies of another owner or of an earlier round — the plan of the touched keys against
// the installed flows there must make exactly the changes the whole plan makes, and the mirror
// must end equal to the desired set (a whole plan afterwards finds nothing to do).
import assert from 'node:assert/strict';
import { CookieAllocator } from '../../../src/agent/ovs/cookie.js';
import { DesiredMemo } from '../../../src/agent/ovs/desired-memo.js';
import { FlowIndex, planFlowChanges, type FlowPlan } from '../../../src/agent/ovs/flow-plan.js';
import { formatFlow, toOvsFlow, type Flow, type OvsFlow } from '../../../src/agent/ovs/flow.js';
import { InstalledFlows } from '../../../src/agent/ovs/installed-flows.js';
import { Pipeline, type TableName } from '../../../src/agent/ovs/pipeline.js';

const pipeline = Pipeline.build();
const TABLES: TableName[] = ['Classifier', 'SpoofGuard', 'ServiceLB', 'Output'];
const round1 = new CookieAllocator(1);
const round2 = new CookieAllocator(2);
const COOKIES = [round2.cookie('Service', 'a'), round2.cookie('Service', 'b'), round1.cookie('Service', 'a')];
const toWant = (f: Flow): OvsFlow => toOvsFlow(f, pipeline);

const changes = (p: FlowPlan) => ({
  add: p.add.map(formatFlow).sort(),
  replace: p.replace.map(formatFlow).sort(),
  modify: p.modify.map(formatFlow).sort(),
  delete: p.delete.map(formatFlow).sort(),
});

function run(seed: number, steps: number): void {
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
  const flow = (): Flow => ({
    table: TABLES[rand(TABLES.length)]!, priority: rand(2) ? 200 : 100, match: [`reg1=0x${rand(12).toString(16)}`],
    actions: [`set_field:0x${rand(3)}->reg2`, 'drop'].slice(0, 1 + rand(2)), cookie: COOKIES[rand(COOKIES.length)]!,
  });
  let desired: Flow[] = Array.from({ length: 40 }, flow);
  const mirror = new InstalledFlows();
  let writes = 0;
  const first = planFlowChanges(mirror, desired.map(toWant), { deleteStale: true });
  mirror.record(first, () => true);
  const memo = DesiredMemo.whole(desired, desired.map(toWant), mirror, ++writes);
  for (let n = 0; n < steps; n++) {
    // Mutate the previous list: most objects stay, as a feature that keeps its flows hands them again.
    const next = desired.filter(() => rand(12) !== 0);
    for (let k = rand(4); k > 0; k--) next.splice(rand(next.length + 1), 0, flow());
    for (let k = rand(3); k > 0 && next.length; k--) {
      const j = rand(next.length);
      next[j] = rand(2) ? { ...next[j]! } : { ...next[j]!, actions: ['drop'] }; // a new object, equal or changed
    }
    if (next.length && rand(4) === 0) next.push(next[rand(next.length)]!); // the same object twice
    if (next.length > 1 && rand(4) === 0) next.push(next.splice(rand(next.length), 1)[0]!); // moved last: wins its key now
    desired = next;

    const whole = planFlowChanges(mirror, desired.map(toWant), { deleteStale: true });
    const d = memo.delta(desired, toWant, Infinity)!;
    const part = planFlowChanges(new FlowIndex(d.installed), d.want, { deleteStale: true });
    assert.deepEqual(changes(part), changes(whole), `seed step ${n}: the delta makes the whole plan's changes`);
    assert.equal(part.unchanged + d.untouched, whole.unchanged, `step ${n}: unchanged counted alike`);
    mirror.record(part, () => true);
    memo.commit(d, (w) => w, ++writes);
    assert.equal(memo.size, new FlowIndex(desired.map(toWant)).size, `step ${n}: one remembered flow per desired key`);
    const after = planFlowChanges(mirror, desired.map(toWant), { deleteStale: true });
    assert.deepEqual([after.add.length, after.replace.length, after.modify.length, after.delete.length], [0, 0, 0, 0], `step ${n}: the mirror holds the desired set`);
  }
}

describe('desired memo (delta planning)', () => {
  for (const seed of [1, 2, 3, 42, 1234]) {
    it(`plans exactly the whole plan's changes over 200 random steps (seed ${seed})`, () => run(seed, 200));
  }

  it('touches nothing when the same objects come again, and only the changed key otherwise', () => {
    const flows: Flow[] = Array.from({ length: 50 }, (_, i) => ({ table: 'Classifier', priority: 200, match: [`in_port=${i + 1}`], actions: ['drop'], cookie: COOKIES[0]! }));
    const mirror = new InstalledFlows();
    mirror.record(planFlowChanges(mirror, flows.map(toWant)), () => true);
    const memo = DesiredMemo.whole(flows, flows.map(toWant), mirror, 1);
    const same = memo.delta(flows, toWant, Infinity)!;
    assert.deepEqual([same.want.length, same.installed.length, same.untouched], [0, 0, 50]);
    const changed = flows.map((f, i) => (i === 7 ? { ...f, actions: ['set_field:0x1->reg2', 'drop'] } : f));
    const d = memo.delta(changed, toWant, Infinity)!;
    assert.deepEqual(d.want.map(formatFlow), [formatFlow(toWant(changed[7]!))]);
    assert.deepEqual(d.installed.map(formatFlow), [formatFlow(toWant(flows[7]!))]);
    assert.equal(d.untouched, 49);
    assert.equal(memo.delta(changed, toWant, 0), undefined, 'more changes than allowed: plan the whole set');
  });

  it('keeps the flow that took an installed flow in another text, so its later removal deletes that flow', () => {
    // Installed in the authored text; the same switch flow is then desired in OVS's text, which
    // the planner resolves to the installed one (canonical.ts) — it takes that key.
    const authored: Flow = { table: 'SpoofGuard', priority: 200, match: ['dl_type=0x0800', 'in_port=2'], actions: ['drop'], cookie: COOKIES[0]! };
    const other: Flow = { table: 'SpoofGuard', priority: 200, match: ['in_port=3'], actions: ['drop'], cookie: COOKIES[0]! };
    const mirror = new InstalledFlows();
    mirror.record(planFlowChanges(mirror, [authored, other].map(toWant)), () => true);
    const memo = DesiredMemo.whole([authored, other], [authored, other].map(toWant), mirror, 1);
    const canonical: Flow = { ...authored, match: ['ip', 'in_port=2'] };
    const d = memo.delta([canonical, other], toWant, Infinity)!;
    assert.deepEqual(d.installed.map(formatFlow), [formatFlow(toWant(authored))]);
    // The plan found nothing to change once the want took the installed text.
    memo.commit(d, (w) => ({ ...w, match: toWant(authored).match }), 2);
    assert.equal(memo.size, 2);
    const gone = memo.delta([other], toWant, Infinity)!;
    assert.equal(gone.gone.length, 1, 'the flow is remembered under the installed key');
    assert.deepEqual(gone.installed.map(formatFlow), [formatFlow(toWant(authored))], 'and its removal touches the installed flow');
    assert.deepEqual(planFlowChanges(new FlowIndex(gone.installed), gone.want, { deleteStale: true }).delete.map(formatFlow), [formatFlow(toWant(authored))]);
  });
});
