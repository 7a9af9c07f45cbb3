// The fleet flow store on real SQLite: both sides of an inter-node connection joined, in
// either arrival order; an intra-node connection from its one node; queries.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FleetFlowQuerySchema } from '../../../src/api/flow-record.js';
import { FleetFlows } from '../../../src/controller/flows/fleet-flows.js';
import { migrate } from '../../../src/lib/sqlite.js';
import { Database } from '../../../src/lib/sqlite.js';
import { syntheticRecord } from '../../helpers/flow-records.js';

const src = syntheticRecord(1, 1_800_000_010, {
  flowStartSeconds: 1_800_000_000, packetTotalCount: 12, octetTotalCount: 1200,
  egressNetworkPolicyName: 'out', egressNetworkPolicyRuleAction: 1, ingressNetworkPolicyName: '', ingressNetworkPolicyRuleAction: 0,
}).record;
const dst = syntheticRecord(1, 1_800_000_012, {
  flowStartSeconds: 1_800_000_001, packetTotalCount: 11, octetTotalCount: 1140,
  egressNetworkPolicyName: '', egressNetworkPolicyType: 0, egressNetworkPolicyRuleName: '', egressNetworkPolicyRuleAction: 0,
  ingressNetworkPolicyName: 'in', ingressNetworkPolicyNamespace: 'shop', ingressNetworkPolicyType: 2, ingressNetworkPolicyRuleAction: 1,
}).record;

describe('controller: fleet flows', () => {
  let dir = '';
  let db: Database;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'seine-fleet-'));
    db = await Database.open(path.join(dir, 'c.db'));
  });
  afterEach(async () => {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  });

  for (const order of [['box1', 'box2'], ['box2', 'box1']]) {
    it(`joins an inter-node connection reported by ${order.join(' then ')}`, async () => {
      const f = await FleetFlows.open(db);
      for (const node of order) await f.add(node, [node === 'box1' ? src : dst], 1_800_000_020);
      const [one, ...rest] = await f.query();
      assert.equal(rest.length, 0);
      assert.equal(one!.record.egressNetworkPolicyName, 'out');
      assert.equal(one!.record.ingressNetworkPolicyName, 'in');
      assert.equal(one!.record.ingressNetworkPolicyNamespace, 'shop');
      assert.equal(one!.record.packetTotalCount, 12, 'the source node\'s counters');
      assert.deepEqual([one!.fromSourceNode?.node, one!.fromSourceNode?.packetTotalCount], ['box1', 12]);
      assert.deepEqual([one!.fromDestinationNode?.node, one!.fromDestinationNode?.packetTotalCount], ['box2', 11]);
      assert.equal(one!.record.flowStartSeconds, 1_800_000_000);
      assert.equal(one!.record.flowEndSeconds, 1_800_000_012);
      assert.equal((await f.query({ policy: 'shop/in' })).length, 1);
      assert.equal((await f.query({ policy: 'out' })).length, 1);
      assert.equal((await f.query({ pod: 'shop/web' })).length, 1);
      assert.equal((await f.query({ namespace: 'nope' })).length, 0);
    });
  }

  it('forgets connections not updated within the age bound', async () => {
    const f = await FleetFlows.open(db, 60);
    await f.add('box1', [src], 1000);
    await f.add('box1', [syntheticRecord(2, 1_800_000_000).record], 1100);
    assert.equal((await f.query()).length, 1);
  });

  it('adds pod labels and each side\'s throughput (bits/s since that node\'s previous record)', async () => {
    const labels = new Map<string, Record<string, string>>([['shop/client-1', { app: 'client' }], ['shop/web', { app: 'web', tier: 'front' }]]);
    const f = await FleetFlows.open(db, { labels: (ns, name) => labels.get(`${ns}/${name}`) });
    const at = (t: number, octets: number, reverse: number) => syntheticRecord(1, t, { flowStartSeconds: 1_800_000_000, octetTotalCount: octets, reverseOctetTotalCount: reverse }).record;
    await f.add('box1', [at(1_800_000_005, 10_000, 1000)], 1_800_000_005);
    let [one] = await f.query();
    assert.equal(one!.sourcePodLabels, '{"app":"client"}');
    assert.equal(one!.destinationPodLabels, '{"app":"web","tier":"front"}');
    assert.equal(one!.fromSourceNode!.throughput, 16_000, 'first record: since the flow started (10 kB in 5 s)');
    await f.add('box1', [at(1_800_000_010, 60_000, 1500)], 1_800_000_010);
    await f.add('box2', [at(1_800_000_011, 50_000, 1400)], 1_800_000_011);
    [one] = await f.query();
    assert.equal(one!.fromSourceNode!.throughput, 80_000, '50 kB in 5 s');
    assert.equal(one!.fromSourceNode!.reverseThroughput, 800);
    assert.equal(one!.fromDestinationNode!.throughput, Math.round((50_000 * 8) / 11));
    // A replay of the same record keeps the throughput instead of dividing by zero.
    await f.add('box1', [at(1_800_000_010, 60_000, 1500)], 1_800_000_012);
    [one] = await f.query();
    assert.equal(one!.fromSourceNode!.throughput, 80_000);
  });

  it('filters by the time the connection was last seen (since/until in ms), before the limit', async () => {
    const f = await FleetFlows.open(db);
    const at = (i: number, end: number) => syntheticRecord(i, end, { flowStartSeconds: end - 5 }).record;
    await f.add('box1', [at(1, 1_800_000_100), at(2, 1_800_000_200), at(3, 1_800_000_300)], 1_800_000_300);
    const ends = async (q: Parameters<FleetFlows['query']>[0]) => (await f.query(q)).map((x) => x.record.flowEndSeconds).sort();
    assert.deepEqual(await ends({ since: 1_800_000_200_000 }), [1_800_000_200, 1_800_000_300], 'since is inclusive');
    assert.deepEqual(await ends({ since: 1_800_000_200_001 }), [1_800_000_300], 'a flow ending in second s ended at s × 1000 ms');
    assert.deepEqual(await ends({ until: 1_800_000_200_999 }), [1_800_000_100, 1_800_000_200]);
    assert.deepEqual(await ends({ since: 1_800_000_150_000, until: 1_800_000_250_000 }), [1_800_000_200]);
    assert.deepEqual(await ends({ until: 1_800_000_150_000, limit: 1 }), [1_800_000_100], 'the limit counts matching rows only');
  });

  it('takes its query parameters as strings and names the bad one', () => {
    const ok = FleetFlowQuerySchema.parse({ since: '1800000000000', until: '1800000001000', limit: '5', pod: 'shop/web' });
    assert.deepEqual(ok, { since: 1_800_000_000_000, until: 1_800_000_001_000, limit: 5, pod: 'shop/web' });
    const bad = (q: Record<string, string>) => FleetFlowQuerySchema.safeParse(q).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    assert.deepEqual(bad({ since: '2026-11-26T06:00:00Z' }), ['since: expected milliseconds since the epoch (a non-negative integer)']);
    assert.deepEqual(bad({ until: '-1' }), ['until: expected milliseconds since the epoch (a non-negative integer)']);
    assert.deepEqual(bad({ since: '2000', until: '1000' }), ['until: must not be before since']);
    assert.deepEqual(bad({ limit: '0' }), ['limit: expected a whole number 1-100000']);
  });

  it('an older store gains the time column: existing rows are filtered by when they were stored', async () => {
    await migrate(db, 'fleet-flows', [`CREATE TABLE fleet_flows (
     conn TEXT PRIMARY KEY, flow TEXT NOT NULL,
     source_ns TEXT NOT NULL, source_pod TEXT NOT NULL, dest_ns TEXT NOT NULL, dest_pod TEXT NOT NULL,
     ingress_policy TEXT NOT NULL, egress_policy TEXT NOT NULL, updated_at INTEGER NOT NULL);
   CREATE INDEX fleet_flows_updated ON fleet_flows (updated_at);`]);
    await db.run("INSERT INTO fleet_flows VALUES ('c', ?, 'shop', 'client-1', 'shop', 'web', '/', '/', 1800000050)", [JSON.stringify({ record: src, sourcePodLabels: '', destinationPodLabels: '' })]);
    const f = await FleetFlows.open(db);
    assert.equal((await f.query({ since: 1_800_000_050_000 })).length, 1);
    assert.equal((await f.query({ since: 1_800_000_051_000 })).length, 0);
  });

  it('keys connections by their two nodes: two clusters with the same pod addresses stay apart; a node cannot report other nodes\' connections', async () => {
    const f = await FleetFlows.open(db);
    // Site B reuses site A's pod CIDRs and pod names: the same 5-tuple between other boxes.
    const siteB = (r: typeof src) => ({ ...r, sourceNodeName: 'b-box1', destinationNodeName: 'b-box2', packetTotalCount: 99 });
    await f.add('box1', [src], 1_800_000_020);
    await f.add('b-box1', [siteB(src)], 1_800_000_020);
    await f.add('box2', [dst], 1_800_000_021);
    const rows = await f.query();
    assert.equal(rows.length, 2);
    const a = rows.find((r) => r.record.sourceNodeName === 'box1')!;
    const b = rows.find((r) => r.record.sourceNodeName === 'b-box1')!;
    assert.deepEqual([a.record.packetTotalCount, a.fromDestinationNode?.node, a.record.ingressNetworkPolicyName], [12, 'box2', 'in']);
    assert.deepEqual([b.record.packetTotalCount, b.fromDestinationNode, b.record.ingressNetworkPolicyName], [99, undefined, '']);

    // box3 is neither end of box1 → box2: refused, counted, nothing changes.
    await f.add('box3', [{ ...src, packetTotalCount: 1, egressNetworkPolicyName: 'forged' }], 1_800_000_022);
    assert.equal(f.refused, 1);
    const after = (await f.query()).find((r) => r.record.sourceNodeName === 'box1')!;
    assert.deepEqual([after.record.packetTotalCount, after.record.egressNetworkPolicyName], [12, 'out']);
  });

  it('takes pod labels from the node hosting the pod', async () => {
    const byNode = new Map([['box1', { app: 'client' }], ['b-box1', { app: 'other-site' }]]);
    const f = await FleetFlows.open(db, { labels: (_ns, _name, node) => (node ? byNode.get(node) : undefined) });
    await f.add('b-box1', [{ ...src, sourceNodeName: 'b-box1', destinationNodeName: 'b-box2' }], 1_800_000_020);
    await f.add('box1', [src], 1_800_000_020);
    const labels = (await f.query()).map((r) => `${r.record.sourceNodeName} ${r.sourcePodLabels}`).sort();
    assert.deepEqual(labels, ['b-box1 {"app":"other-site"}', 'box1 {"app":"client"}']);
  });

  it('caps the rows: beyond maxRows the least recently updated go first, counted', async () => {
    const f = await FleetFlows.open(db, { maxRows: 100 });
    for (let batch = 0; batch < 3; batch++) {
      const records = Array.from({ length: 50 }, (_, i) => syntheticRecord(batch * 50 + i, 1_800_000_000 + batch).record);
      await f.add('box1', records, 1_800_000_000 + batch);
    }
    const rows = await f.query({ limit: 1000 });
    assert.equal(rows.length, 100);
    assert.equal(f.evicted, 50);
    assert.deepEqual([...new Set(rows.map((r) => r.record.flowEndSeconds))].sort(), [1_800_000_001, 1_800_000_002], 'the oldest batch went');
    // A reopened store counts its rows again and keeps the cap.
    const again = await FleetFlows.open(db, { maxRows: 100 });
    await again.add('box1', [syntheticRecord(1000, 1_800_000_003).record], 1_800_000_003);
    assert.equal((await again.query({ limit: 1000 })).length, 100);
    assert.equal(again.evicted, 1);
  });
});
