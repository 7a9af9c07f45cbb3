// One process of the sync-fleet bench's simulated boxes (forked by fleet-hosts.ts): the real
// agent sync code (AgentSync with its SQLite store and outbox, MQTT session, reports) over a
// NO-OP DATAPATH, for a slice of the fleet. A process holds at most a few thousand boxes (each
// costs a socket and three SQLite files), so 10k boxes are several processes. Boxes connect in
// bounded batches: a batch must have its CONNACKs before the next starts, so a broker never
// faces the whole fleet's logins at once (a connect storm times out and retries, which costs
// the broker more than the logins themselves). Driven over the fork IPC channel (HostRequest).
import net from 'node:net';
import path from 'node:path';
import { Aedes, type AedesPublishPacket } from 'aedes';
import { ENVELOPE_VERSION, nodeTopic } from '../../src/api/mqtt.js';
import type { DesiredObject, NodeReported } from '../../src/api/node-state.js';
import { AgentSync } from '../../src/agent/sync/agent-sync.js';
import { RealizerRegistry, type RealizeOutcome, type Realizer } from '../../src/agent/sync/realizers.js';
import { Backoff } from '../../src/lib/backoff.js';
import { sleep } from '../../src/lib/process.js';
import { Database } from '../../src/lib/sqlite.js';

export const FLEET = 'ClusterNetworkPolicy.crd.antrea.io//fleet';
export const DEMO = 'ClusterNetworkPolicy.crd.antrea.io//demo';

export interface HostBox {
  /** Index in the whole fleet (its pod addresses and app label follow from it). */
  index: number;
  name: string;
  password: string;
}

export type HostRequest =
  /** Before the boxes start: this process's JIT warm-up on a box of its own (warmUp). */
  | { op: 'warm'; dir: string; docs: number }
  | { op: 'start'; url: string; dir: string; boxes: HostBox[]; batch: number; connectMs: number }
  /** Answered once every box of this process realized the fleet policy at `generation` or later. */
  | { op: 'wait'; id: number; generation: number; ms: number }
  /** Box `index` adds (or removes) an app=demo pod; answered with the ms until it has (or lost) the demo policy. */
  | { op: 'pod'; id: number; index: number; adding: boolean; ms: number }
  | { op: 'stop' };

export type HostReply =
  | { op: 'warmed'; ms: number }
  | { op: 'started'; ms: number }
  | { op: 'waited'; id: number; error?: string; behind?: number; times?: RoundTimes }
  | { op: 'pod'; id: number; ms?: number; error?: string }
  | { op: 'stopped' }
  | { op: 'error'; error: string };

/**
 * When this process's boxes got through a round (wall-clock ms, comparable across the processes
 * of one machine): the first and last box handing the fleet policy's generation to its
 * realizer (the document received and stored), and the last box's report acknowledged by the broker.
 */
export interface RoundTimes {
  firstRealized: number;
  lastRealized: number;
  lastReported: number;
}

const wallNow = (): number => performance.timeOrigin + performance.now();

/** What box `index` reports: one pod, app=demo on every tenth box and app=edge elsewhere, all fleet=yes. */
export function boxPods(index: number, extraDemo = false): NodeReported['inventory']['pods'] {
  const ip = `10.${64 + (index >> 16)}.${(index >> 8) & 255}.${(index & 255) || 1}`;
  return [
    { namespace: 'default', name: `box-${index}`, ips: [ip], labels: { app: index % 10 === 0 ? 'demo' : 'edge', fleet: 'yes' } },
    ...(extraDemo ? [{ namespace: 'default', name: 'demo-extra', ips: [`10.99.${(index >> 8) & 255}.${(index & 255) || 1}`], labels: { app: 'demo' } }] : []),
  ];
}

const NAMESPACES = { default: { 'kubernetes.io/metadata.name': 'default' } };

/** The no-op datapath: accepts everything, installs nothing, remembers what it was given. */
class NoopRealizer implements Realizer {
  fleet = 0;
  demo = false;
  /** When `fleet` last moved; the fleet generation whose report the broker acknowledged, and when. */
  fleetAt = 0;
  reported = 0;
  reportedAt = 0;
  async realize(objects: ReadonlyMap<string, DesiredObject>): Promise<ReadonlyMap<string, RealizeOutcome>> {
    const fleet = objects.get(FLEET)?.generation ?? 0;
    if (fleet !== this.fleet) this.fleetAt = wallNow();
    // A document must never go back (issue #22, replicas): said on stderr if one does.
    if (fleet < this.fleet) process.stderr.write(`sync-fleet box: the fleet policy went back from generation ${this.fleet} to ${fleet}\n`);
    this.fleet = fleet;
    this.demo = objects.has(DEMO);
    return new Map([...objects.keys()].map((k) => [k, { ok: true } as RealizeOutcome]));
  }
}

interface Box { sync: AgentSync; db: Database; realizer: NoopRealizer; extra: boolean }

const boxes = new Map<number, Box>();
/** `behind`: boxes whose acknowledged report is older than `generation` (kept by reportedMoved, not rescanned per report). */
interface Waiter { generation: number; behind: number; done: () => void }
const waiters = new Set<Waiter>();
const send = (m: HostReply): void => void process.send!(m);

/**
 * A round is through once every box's report of it is acknowledged (what the controller's status
 * waits for). Counted per waiter as reports move: rescanning every box of the process on each
 * report cost the box processes O(boxes²) CPU per round, charged to the boxes in the bench's split.
 */
function reportedMoved(from: number, to: number): void {
  for (const w of waiters) {
    if (from < w.generation && to >= w.generation) w.behind--;
    else if (from >= w.generation && to < w.generation) w.behind++;
    if (w.behind === 0) w.done();
  }
}

async function until(what: () => string, ms: number, ok: () => boolean, every = 5): Promise<void> {
  for (const end = performance.now() + ms; !ok();) {
    if (performance.now() > end) throw new Error(`${what()}: not within ${ms} ms`);
    await sleep(every);
  }
}

/**
 * One process holds thousands of boxes but one JIT: until the whole fleet gets documents (round
 * 0), its hot paths (MQTT.js, zod, AgentSync) were run only by the tenth of the boxes in the demo
 * policy, and V8 compiled them during the first rounds — at 2k boxes the process's V8 worker
 * threads used 220 / 240 ms of CPU in rounds 0 / 1 against 70–80 ms after. A real box pays its
 * JIT once in its own process, never as a fleet-wide spike. So before its boxes start, each process runs `docs` documents through an
 * AgentSync of its own, against an aedes broker in the process (same MQTT.js client paths), with
 * documents shaped as the bench's (one ACNP whose port moves). Nothing of the measured set-up
 * (controller, broker, the boxes' stores and sessions) is touched.
 */
async function warmUp(req: Extract<HostRequest, { op: 'warm' }>): Promise<void> {
  const t0 = performance.now();
  const broker = await Aedes.createBroker();
  const server = net.createServer({ noDelay: true }, broker.handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `mqtt://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  const node = 'warm-up';
  const db = await Database.open(path.join(req.dir, `${node}.db`));
  const realizers = new RealizerRegistry();
  const realizer = new NoopRealizer();
  realizers.registerRealizer({ kind: 'ClusterNetworkPolicy', group: 'crd.antrea.io' }, realizer);
  const sync = await AgentSync.open({ node, url, username: node, db, realizers, agentVersion: '0.1.0-sim', inventory: () => ({ pods: boxPods(1), namespaces: NAMESPACES }) });
  let reported = 0;
  sync.onRealized((g) => (reported = g));
  const subscribed = new Promise<void>((resolve) => broker.on('subscribe', (subs) => subs.some((x) => x.topic === nodeTopic(node, 'desired')) && resolve()));
  try {
    await sync.start();
    await subscribed;
    for (let g = 1; g <= req.docs; g++) {
      const spec = { priority: 5, appliedTo: [{ podSelector: { matchLabels: { fleet: 'yes' } } }], ingress: [{ action: 'Allow', from: [{ podSelector: { matchLabels: { role: 'client' } } }], ports: [{ protocol: 'TCP', port: 1000 + g }] }] };
      const payload = JSON.stringify({ v: ENVELOPE_VERSION, node, generation: g, ts: Date.now(), kind: 'desired', payload: { node, storeId: 'warm-up', generation: g, objects: { [FLEET]: { generation: g, spec } } } });
      await new Promise<void>((resolve, reject) => broker.publish({ cmd: 'publish', topic: nodeTopic(node, 'desired'), payload: Buffer.from(payload), qos: 1, retain: false, dup: false } as AedesPublishPacket, (err) => (err ? reject(err) : resolve())));
      await until(() => `the warm-up box realizing generation ${g}`, 10_000, () => reported >= g, 1);
    }
  } finally {
    await sync.stop();
    await db.close();
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  send({ op: 'warmed', ms: performance.now() - t0 });
}

async function start(req: Extract<HostRequest, { op: 'start' }>): Promise<void> {
  const t0 = performance.now();
  for (let i = 0; i < req.boxes.length; i += req.batch) {
    const batch = req.boxes.slice(i, i + req.batch);
    const opened = await Promise.all(batch.map(async (b) => {
      const db = await Database.open(path.join(req.dir, `${b.name}.db`));
      const realizers = new RealizerRegistry();
      const realizer = new NoopRealizer();
      realizers.registerRealizer({ kind: 'ClusterNetworkPolicy', group: 'crd.antrea.io' }, realizer);
      const box: Box = { sync: undefined as unknown as AgentSync, db, realizer, extra: false };
      box.sync = await AgentSync.open({
        node: b.name, url: req.url, username: b.name, password: b.password, db, realizers, agentVersion: '0.1.0-sim',
        backoff: new Backoff({ initialMs: 500, maxMs: 5000 }),
        inventory: () => ({ pods: boxPods(b.index, box.extra), namespaces: NAMESPACES }),
      });
      boxes.set(b.index, box);
      // Called once the realized document's report is out (the broker's PUBACK).
      box.sync.onRealized(() => {
        const from = realizer.reported;
        realizer.reported = realizer.fleet;
        realizer.reportedAt = wallNow();
        reportedMoved(from, realizer.reported);
      });
      await box.sync.start();
      return box;
    }));
    await until(() => `boxes ${batch[0]!.name}…${batch.at(-1)!.name} connected (${opened.filter((b) => !b.sync.connected).length} not)`, req.connectMs, () => opened.every((b) => b.sync.connected), 10);
  }
  send({ op: 'started', ms: performance.now() - t0 });
}

async function wait(req: Extract<HostRequest, { op: 'wait' }>): Promise<void> {
  let waiter: Waiter | undefined;
  const timer = setTimeout(() => {
    if (!waiter) return;
    waiters.delete(waiter);
    send({ op: 'waited', id: req.id, error: 'deadline', behind: [...boxes.values()].filter((b) => b.realizer.reported < req.generation).length });
  }, req.ms);
  await new Promise<void>((done) => {
    waiter = { generation: req.generation, behind: [...boxes.values()].filter((b) => b.realizer.reported < req.generation).length, done };
    if (waiter.behind === 0) return done();
    waiters.add(waiter);
  });
  clearTimeout(timer);
  waiters.delete(waiter!);
  const all = [...boxes.values()].map((b) => b.realizer);
  const realized = all.map((r) => r.fleetAt);
  send({ op: 'waited', id: req.id, times: { firstRealized: Math.min(...realized), lastRealized: Math.max(...realized), lastReported: Math.max(...all.map((r) => r.reportedAt)) } });
}

async function pod(req: Extract<HostRequest, { op: 'pod' }>): Promise<void> {
  const box = boxes.get(req.index);
  if (!box) return send({ op: 'pod', id: req.id, error: `no box ${req.index} here` });
  box.extra = req.adding;
  const t0 = performance.now();
  await box.sync.inventoryChanged();
  await until(() => `box ${req.index} ${req.adding ? 'gets' : 'loses'} the demo policy`, req.ms, () => box.realizer.demo === req.adding, 1);
  send({ op: 'pod', id: req.id, ms: performance.now() - t0 });
}

async function stop(): Promise<void> {
  await Promise.all([...boxes.values()].map(async (b) => {
    await b.sync.stop().catch(() => undefined);
    await b.db.close().catch(() => undefined);
  }));
  send({ op: 'stopped' });
  process.disconnect();
}

process.on('message', (m: HostRequest) => {
  const run = m.op === 'warm' ? warmUp(m) : m.op === 'start' ? start(m) : m.op === 'wait' ? wait(m) : m.op === 'pod' ? pod(m) : stop();
  run.catch((err: unknown) => {
    const error = err instanceof Error ? err.message : String(err);
    if (m.op === 'pod') send({ op: 'pod', id: m.id, error });
    else send({ op: 'error', error });
  });
});
// The parent gone (killed past a deadline): nothing to hold the boxes for.
process.on('disconnect', () => setTimeout(() => process.exit(0), 2000).unref());
