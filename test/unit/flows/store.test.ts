// The flow store on real SQLite files: batches, rollups, queries, retention by age and size
// (a synthetic week), and the config defaults.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AgentConfigSchema } from '../../../src/api/config.js';
import { FlowRecordSchema } from '../../../src/api/flow-record.js';
import { FlowStore } from '../../../src/agent/flows/store.js';
import { syntheticRecord } from '../../helpers/flow-records.js';

describe('flows: SQLite store', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'seine-flowstore-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('stores batches with per-minute and per-hour rollups; queries by pod, namespace, policy, time, denied', async () => {
    const s = await FlowStore.open(path.join(dir, 'flows.db'));
    assert.equal((await s.db.get<{ journal_mode: string }>('PRAGMA journal_mode'))!.journal_mode, 'wal');
    const t0 = 1_800_000_000; // a minute boundary
    await s.insert([syntheticRecord(1, t0 + 1), syntheticRecord(2, t0 + 2)]);
    await s.insert([syntheticRecord(1, t0 + 6, { packetTotalCount: 20, packetDeltaCount: 10 }), syntheticRecord(3, t0 + 70)]);
    await s.insert([syntheticRecord(9, t0 + 8, {
      egressNetworkPolicyName: '', egressNetworkPolicyType: 0, egressNetworkPolicyRuleName: '', egressNetworkPolicyRuleAction: 0,
      ingressNetworkPolicyName: 'deny-web', ingressNetworkPolicyNamespace: 'shop', ingressNetworkPolicyType: 2, ingressNetworkPolicyRuleAction: 2,
      packetTotalCount: 3, packetDeltaCount: 3, reversePacketTotalCount: 0, reversePacketDeltaCount: 0,
    })]);

    const latest = await s.query();
    assert.equal(latest.length, 4, 'one row per connection');
    assert.equal(latest.find((r) => r.sourcePodName === 'client-1')!.packetTotalCount, 20, 'the latest record of c1');
    assert.equal((await s.query({ latest: false })).length, 5);
    assert.deepEqual((await s.query({ pod: 'shop/client-2' })).map((r) => r.sourcePodName), ['client-2']);
    assert.equal((await s.query({ pod: 'shop/web' })).length, 4, 'either end');
    assert.equal((await s.query({ namespace: 'other' })).length, 0);
    assert.equal((await s.query({ policy: 'allow-web' })).length, 3);
    assert.equal((await s.query({ policy: 'shop/deny-web' })).length, 1);
    assert.equal((await s.query({ since: t0 + 60 })).length, 1);
    assert.equal((await s.query({ until: t0 + 5 })).length, 2);
    const denied = await s.query({ denied: true });
    assert.deepEqual(denied.map((r) => [r.ingressNetworkPolicyName, r.ingressNetworkPolicyRuleAction]), [['deny-web', 2]]);
    assert.ok(FlowRecordSchema.safeParse(denied[0]).success, 'rows read back as valid FlowRecords');

    const minutes = await s.rollup('minute', { policy: 'allow-web' });
    assert.deepEqual(minutes.map((m) => [m.bucket, m.sourcePodName, m.packetDeltaCount, m.records]), [
      [t0, 'client-1', 20, 2], [t0, 'client-2', 10, 1], [t0 + 60, 'client-3', 10, 1],
    ]);
    const hours = await s.rollup('hour', {});
    assert.equal(hours.reduce((n, h) => n + Number(h.packetDeltaCount), 0), 43);
    await s.close();
  });

  it('retention keeps a synthetic week under the size bound and drops what is older than the age bound', async function () {
    this.timeout(60_000);
    const maxBytes = 1536 * 1024;
    const s = await FlowStore.open(path.join(dir, 'flows.db'), { maxAgeS: 7 * 86_400, maxBytes });
    const start = 1_800_000_000;
    const hour = 3600;
    // A week and a day, one batch of 300 records every simulated 2 hours (~29k rows ≈ 7 MB unbounded), retention after each.
    let maxSeen = 0;
    for (let h = 0; h < 8 * 24; h += 2) {
      const now = start + h * hour;
      await s.insert(Array.from({ length: 300 }, (_, i) => syntheticRecord(h * 300 + i, now)));
      const r = await s.enforceRetention(now);
      maxSeen = Math.max(maxSeen, r.bytes);
      assert.ok(r.bytes <= maxBytes, `hour ${h}: ${r.bytes} bytes > bound ${maxBytes}`);
    }
    const end = start + 8 * 24 * hour;
    const oldest = (await s.db.get<{ t: number }>('SELECT MIN(flowEndSeconds) AS t FROM flow_records'))!.t;
    assert.ok(oldest >= end - 7 * 86_400, 'nothing older than 7 days');
    const n = (await s.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM flow_records'))!.n;
    assert.ok(n > 1000 && n < 4 * 24 * 300, `the newest records stay (${n})`);
    assert.equal(await s.integrityCheck(), 'ok');
    await s.close();
  });

  it('agent config: flow exporter and store defaults as Antrea (5 s poll, 5 s/15 s timeouts), 7 days / 200 MB; bad collector named', () => {
    const cfg = AgentConfigSchema.parse({});
    assert.deepEqual(cfg.flowExporter, {
      enable: true, conntrackSource: 'auto', pollIntervalSeconds: 5, activeFlowExportTimeoutSeconds: 5, idleFlowExportTimeoutSeconds: 15,
      store: { maxAgeDays: 7, maxSizeMB: 200 },
    });
    const bad = AgentConfigSchema.safeParse({ flowExporter: { flowCollectorAddr: 'collector:4739:sctp' } });
    assert.ok(!bad.success);
    assert.deepEqual(bad.error.issues[0]!.path, ['flowExporter', 'flowCollectorAddr']);
    assert.ok(AgentConfigSchema.safeParse({ flowExporter: { flowCollectorAddr: '127.0.0.1:4739:udp', store: { maxSizeMB: 50 } } }).success);
  });
});
