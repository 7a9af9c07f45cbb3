// The box's cost per desired document (issue #22): one real AgentSync (SQLite desired store and
// outbox, an MQTT session to a bare aedes in its own process) over a no-op realizer, driven with
// N documents through handleMessage — each call runs the whole path: intake, persist, realize,
// report into the outbox, publish, the broker's PUBACK, the outbox row gone. Counted per
// document: SQLite statements and write commits (test/helpers/sql-count.ts; on a box each commit
// is a write to flash) and the process's CPU (main and SQLite's worker threads). Anchor, same
// run and process: the least a box must do per document — JSON.parse the envelope, one sqlite3
// INSERT of the document text, one QoS 1 publish of the same report text until its PUBACK.
import path from 'node:path';
import sqlite3 from 'sqlite3';
import { ENVELOPE_VERSION, nodeTopic } from '../../src/api/mqtt.js';
import type { DesiredObject } from '../../src/api/node-state.js';
import { AgentSync } from '../../src/agent/sync/agent-sync.js';
import { RealizerRegistry, type RealizeOutcome, type Realizer } from '../../src/agent/sync/realizers.js';
import { Database } from '../../src/lib/sqlite.js';
import { acnp, tempDir, testInventory } from '../integration/controller-fixture.js';
import { countStatements } from '../helpers/sql-count.js';
import { pollUntil, withDeadline, type Bench, type BenchRow } from './harness.js';
import { connectRaw, reportedEnvelope, startRawBroker } from './sync-anchor.js';

const DOCS = Number(process.env.SEINE_BENCH_DOCS ?? 500);
const WARMUP = 20;
const NODE = 'box1';
const key = (i: number) => `ClusterNetworkPolicy.crd.antrea.io//p${i}`;

/** Three policies; the first one's spec moves with the generation (every document is a change). */
function objects(generation: number): Record<string, DesiredObject> {
  return Object.fromEntries([0, 1, 2].map((i) => [key(i), { generation: i === 0 ? generation : 1, spec: acnp(`p${i}`, i === 0 ? 1000 + generation : 5 + i).spec }]));
}

const envelope = (generation: number) => Buffer.from(JSON.stringify({
  v: ENVELOPE_VERSION, node: NODE, generation, ts: Date.now(), kind: 'desired', payload: { node: NODE, storeId: 'bench', generation, objects: objects(generation) },
}));

class NoopRealizer implements Realizer {
  async realize(objs: ReadonlyMap<string, DesiredObject>): Promise<ReadonlyMap<string, RealizeOutcome>> {
    return new Map([...objs.keys()].map((k) => [k, { ok: true } as RealizeOutcome]));
  }
}

const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;

export const bench: Bench = {
  name: 'agent-sync',
  deadlineMs: 5 * 60_000,
  async run(): Promise<BenchRow[]> {
    const tmp = await tempDir('seine-bench-async-');
    const raw = await startRawBroker();
    let db: Database | undefined;
    let sync: AgentSync | undefined;
    try {
      db = await Database.open(path.join(tmp.dir, `${NODE}.db`));
      const realizers = new RealizerRegistry();
      realizers.registerRealizer({ kind: 'ClusterNetworkPolicy', group: 'crd.antrea.io' }, new NoopRealizer());
      const counts = countStatements(db);
      sync = await AgentSync.open({ node: NODE, url: raw.url, username: NODE, db, realizers, agentVersion: '0.1.0-bench', inventory: () => testInventory(NODE) });
      await sync.start();
      const s = sync;
      await pollUntil('the agent connecting to the raw aedes', 30_000, () => s.connected);
      const docs = Array.from({ length: WARMUP + DOCS }, (_, i) => envelope(i + 1));
      const topic = nodeTopic(NODE, 'desired');
      for (const d of docs.slice(0, WARMUP)) await s.handleMessage(topic, d);
      await s.flushed();
      const before = { ...counts };
      const cpu0 = process.cpuUsage();
      await withDeadline((async () => {
        for (const d of docs.slice(WARMUP)) await s.handleMessage(topic, d);
      })(), 3 * 60_000, `${DOCS} desired documents through the agent`);
      const cpu = cpuMs(process.cpuUsage(cpu0)) / DOCS;
      if (s.generation !== WARMUP + DOCS) throw new Error(`the agent realized generation ${s.generation}, not ${WARMUP + DOCS}`);
      if ((await s.outbox.size()) !== 0) throw new Error(`${await s.outbox.size()} messages left in the outbox`);
      const statements = (counts.statements - before.statements) / DOCS;
      const writes = (counts.writes - before.writes) / DOCS;

      // The anchor: parse, one INSERT, one QoS 1 publish of the same report text.
      const report = JSON.stringify(reportedEnvelope(NODE, 1, objects(1), testInventory(NODE)));
      const rawDb = await new Promise<sqlite3.Database>((resolve, reject) => {
        const d: sqlite3.Database = new sqlite3.Database(path.join(tmp.dir, 'raw.db'), (err) => (err ? reject(err) : resolve(d)));
      });
      const exec = (sql: string) => new Promise<void>((resolve, reject) => rawDb.exec(sql, (err) => (err ? reject(err) : resolve())));
      await exec('PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; CREATE TABLE doc (id INTEGER PRIMARY KEY, generation INTEGER NOT NULL, document TEXT NOT NULL)');
      const client = await connectRaw(raw.url, 'raw-box');
      let anchor: number;
      try {
        const once = async (d: Buffer) => {
          const env = JSON.parse(d.toString()) as { generation: number; payload: unknown };
          await new Promise<void>((resolve, reject) => rawDb.run('INSERT OR REPLACE INTO doc (id, generation, document) VALUES (1, ?, ?)', [env.generation, JSON.stringify(env.payload)], (err) => (err ? reject(err) : resolve())));
          await client.publishAsync(nodeTopic(NODE, 'reported'), report, { qos: 1 });
        };
        for (const d of docs.slice(0, WARMUP)) await once(d);
        const c0 = process.cpuUsage();
        for (const d of docs.slice(WARMUP)) await once(d);
        anchor = cpuMs(process.cpuUsage(c0)) / DOCS;
      } finally {
        await client.endAsync(true).catch(() => {});
        await new Promise<void>((resolve) => rawDb.close(() => resolve()));
      }
      const what = `per desired document, one AgentSync (aedes, no-op realizer, n=${DOCS})`;
      return [
        { metric: `SQLite statements ${what}`, unit: '', seine: statements, anchor: 1, anchorLabel: 'raw: one INSERT of the document', better: 'lower', goal: 'what restart safety needs' },
        { metric: `SQLite write commits ${what}`, unit: '', seine: writes, anchor: 1, anchorLabel: 'raw: one INSERT of the document', better: 'lower' },
        { metric: `CPU ${what}`, unit: 'ms', seine: cpu, anchor, anchorLabel: 'raw: JSON.parse + sqlite3 INSERT of the document + mqtt.js QoS 1 publish of the same report', better: 'lower' },
      ];
    } finally {
      await sync?.stop().catch(() => {});
      await db?.close().catch(() => {});
      await raw.stop();
      await tmp.remove();
    }
  },
};
