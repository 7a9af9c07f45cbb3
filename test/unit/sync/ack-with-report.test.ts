// A desired document's PUBACK leaves with the document's report, in one socket write (issue #22:
// two writes per document were a box's largest syscall cost), and never waits longer than the
// bound when realizing takes long. Real aedes broker in this process, the real AgentSync, real SQLite.
import assert from 'node:assert/strict';
import net, { type Socket } from 'node:net';
import path from 'node:path';
import { Aedes, type AedesPublishPacket } from 'aedes';
import { ENVELOPE_VERSION, nodeTopic } from '../../../src/api/mqtt.js';
import type { DesiredObject } from '../../../src/api/node-state.js';
import { AgentSync } from '../../../src/agent/sync/agent-sync.js';
import { RealizerRegistry, type RealizeOutcome } from '../../../src/agent/sync/realizers.js';
import { Database } from '../../../src/lib/sqlite.js';
import { acnp, RecordingRealizer, tempDir } from '../../integration/controller-fixture.js';

const NODE = 'box1';
const KEY = 'ClusterNetworkPolicy.crd.antrea.io//web';
const T = nodeTopic(NODE, 'desired');
const REPORTED = nodeTopic(NODE, 'reported');
const desired = (g: number) => Buffer.from(JSON.stringify({ v: ENVELOPE_VERSION, node: NODE, generation: g, ts: Date.now(), kind: 'desired', payload: { node: NODE, storeId: 's', generation: g, objects: { [KEY]: { generation: g, spec: acnp('web', 100 + g).spec } } } }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A realizer that takes `ms` per document. */
class SlowRealizer extends RecordingRealizer {
  constructor(private readonly ms: number) {
    super();
  }
  override async realize(objects: ReadonlyMap<string, DesiredObject>): Promise<ReadonlyMap<string, RealizeOutcome>> {
    await sleep(this.ms);
    return super.realize(objects);
  }
}

describe('agent sync: a desired document acknowledged with its report', function () {
  this.timeout(20_000);
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let broker: Aedes;
  let server: net.Server;
  let url: string;
  /** When the broker got each PUBACK from the agent and each report (generation), ms. */
  let acks: number[];
  let reports: { g: number; at: number }[];

  before(async function () {
    tmp = await tempDir();
    broker = await Aedes.createBroker();
    broker.on('ack', () => acks.push(performance.now()));
    broker.on('publish', (packet) => {
      if (packet.topic === REPORTED) reports.push({ g: (JSON.parse(packet.payload.toString()) as { generation: number }).generation, at: performance.now() });
    });
    server = net.createServer({ noDelay: true }, broker.handle);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `mqtt://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  });
  beforeEach(() => {
    acks = [];
    reports = [];
  });
  after(async function () {
    await new Promise<void>((r) => broker.close(() => r()));
    await new Promise<void>((r) => server.close(() => r()));
    await tmp.remove();
  });

  /** A started, connected agent (subscribed, its connect-time report in) and a counter of its socket writes. */
  async function agent(file: string, realizer: RecordingRealizer): Promise<{ sync: AgentSync; db: Database; writes: () => number }> {
    const db = await Database.open(path.join(tmp.dir, file));
    const realizers = new RealizerRegistry();
    realizers.registerRealizer({ kind: 'ClusterNetworkPolicy', group: 'crd.antrea.io' }, realizer);
    const sync = await AgentSync.open({ node: NODE, url, username: NODE, password: 'x', db, realizers, agentVersion: 't' });
    const subscribed = new Promise<void>((resolve) => broker.on('subscribe', (subs) => subs.some((s) => s.topic === T) && resolve()));
    await sync.start();
    await subscribed;
    for (let i = 0; i < 300 && reports.length === 0; i++) await sleep(10);
    await sync.flushed();
    const client = (sync as unknown as { client: { stream: Socket & Record<string, unknown> } }).client;
    let writes = 0;
    for (const m of ['_write', '_writev'] as const) {
      const orig = (client.stream[m] as (...args: unknown[]) => void).bind(client.stream);
      client.stream[m] = (...args: unknown[]) => {
        writes++;
        orig(...args);
      };
    }
    acks = [];
    reports = [];
    return { sync, db, writes: () => writes };
  }

  const publish = (g: number) => new Promise<void>((resolve, reject) => broker.publish({ cmd: 'publish', topic: T, payload: desired(g), qos: 1, retain: false, dup: false } as AedesPublishPacket, (err) => (err ? reject(err) : resolve())));

  it('one socket write per document for its PUBACK and its report; every document acknowledged, every report in', async function () {
    const { sync, db, writes } = await agent('one-write.db', new RecordingRealizer());
    try {
      const N = 20;
      for (let g = 1; g <= N; g++) {
        await publish(g);
        for (let i = 0; i < 300 && !reports.some((r) => r.g === g); i++) await sleep(5);
        await sync.flushed();
      }
      assert.deepEqual(reports.map((r) => r.g), Array.from({ length: N }, (_, i) => i + 1));
      assert.equal(acks.length, N, 'every document acknowledged');
      assert.equal(writes(), N, `socket writes for ${N} documents (PUBACK and report together)`);
    } finally {
      await sync.stop();
      await db.close();
    }
  });

  it('realizing that takes longer than the bound: the PUBACK goes alone, well before the report', async function () {
    const { sync, db } = await agent('slow.db', new SlowRealizer(1200));
    try {
      const t0 = performance.now();
      await publish(1);
      for (let i = 0; i < 500 && reports.length === 0; i++) await sleep(10);
      assert.equal(acks.length, 1, 'the document acknowledged');
      assert.ok(acks[0]! - t0 < 900, `PUBACK after ${Math.round(acks[0]! - t0)} ms (bound 250 ms)`);
      assert.ok(reports[0]!.at - t0 >= 1200, 'the report after realizing');
    } finally {
      await sync.stop();
      await db.close();
    }
  });
});
