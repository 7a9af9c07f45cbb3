// The controller with a fleet (issue #22): SEINE_BENCH_BOXES simulated boxes (default 1000) —
// the real agent sync code (AgentSync: SQLite desired store and outbox, MQTT session, reports)
// over a NO-OP DATAPATH, in child processes (fleet-agents.ts, connected in bounded batches) —
// against real `seine controller` processes, in up to three set-ups (SEINE_BENCH_FLEET, a
// comma list, default all):
//  - `embedded`: one controller, its embedded aedes broker, SQLite (node passwords via REST);
//  - `mosquitto`: one controller on SQLite, mosquitto as the external broker (the generated
//    config and ACL; nodes registered in the store, their passwords in mosquitto's file);
//  - `replicas`: two controller replicas on one PostgreSQL store and that mosquitto, taking
//    reports through the MQTT 5 shared subscription.
// Every box reports one pod labelled fleet=yes (app=demo on every tenth box, app=edge elsewhere).
// Rows per set-up, each against an anchor measured in the same run:
//  - setup: the fleet connected, against the same number of raw MQTT clients connecting;
//  - one pod added on one box → that box has the demo policy (against one box's raw round trip),
//    and the documents sent per change against those whose content changed (from /metrics);
//  - a fleet-wide policy applied → Realized on every box (REST status), SEINE_BENCH_ROUNDS rounds,
//    against the raw round trip of the same messages through a bare broker of the same kind
//    (aedes for embedded, mosquitto otherwise: one echo client per box, same inventory);
//  - controller RSS after the last round against after the first (per replica, the larger);
//  - REST GET of one policy with status, against GET /healthz on the same server.
// Each fleet-wide round also prints on stderr where its time went (splitRound): when the boxes got
// the document and when their reports were acknowledged, the controller's publication phases, and
// the CPU time each process (controller, broker, box processes, this runner) used in the round.
// Every wait has a deadline (a failed row names how far the fleet got).
import { mosquittoQueueFor } from '../../src/controller/broker/mosquitto.js';
import { CONTROLLER_NODE_ENV } from '../../src/controller/heap.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { openSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import { CONTROLLER_USERNAME } from '../../src/api/mqtt.js';
import { NodeRegistry } from '../../src/controller/store/nodes.js';
import { PostgresDatabase } from '../../src/controller/store/postgres.js';
import { freePort } from '../../src/lib/free-port.js';
import { distProgram } from '../../src/lib/paths.js';
import { Database, type SqlDatabase } from '../../src/lib/sqlite.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { startPostgres } from '../helpers/postgres.js';
import { DEMO, FLEET, boxPods, type HostBox } from './fleet-agents.js';
import { FleetHosts } from './fleet-hosts.js';
import { childExit, percentile, pollUntil, withDeadline, type Bench, type BenchRow } from './harness.js';
import { cpuMs, rawRoundTrips, rssMiB, startRawBroker, startRawMosquitto, type RawBroker } from './sync-anchor.js';

const BOXES = Number(process.env.SEINE_BENCH_BOXES ?? process.env.SEINE_BENCH_AGENTS ?? 1000);
const ROUNDS = Number(process.env.SEINE_BENCH_ROUNDS ?? 20);
/** Boxes connecting at once, over all processes. */
const BATCH = Number(process.env.SEINE_BENCH_CONNECT_BATCH ?? 100);
const KINDS = (process.env.SEINE_BENCH_FLEET ?? 'embedded,mosquitto,replicas').split(',').map((k) => k.trim()).filter(Boolean);
if (!(BOXES >= 1) || !(ROUNDS >= 1) || !(BATCH >= 1)) throw new Error('SEINE_BENCH_BOXES, SEINE_BENCH_ROUNDS and SEINE_BENCH_CONNECT_BATCH must be positive numbers');
const unknown = KINDS.filter((k) => !['embedded', 'mosquitto', 'replicas'].includes(k));
if (unknown.length || !KINDS.length) throw new Error(`SEINE_BENCH_FLEET: unknown set-up ${unknown.join(', ')} (embedded, mosquitto, replicas)`);
const POD_CHANGES = 10;
const HEAP_DIR = process.env.SEINE_BENCH_HEAP_SNAPSHOTS;
const ACNPS = '/apis/crd.antrea.io/v1beta1/clusternetworkpolicies';
/** A round's wait: a minute, more with a large fleet. */
const ROUND_MS = Math.max(60_000, BOXES * 10);
/**
 * The raw anchor's mosquitto gets what Seine's generated config sets (mosquittoConfig): Nagle off
 * and a queue deep enough for a fleet's reports to one client (the default, 1000, drops the rest).
 */
const RAW_MOSQUITTO_TUNING = ['set_tcp_nodelay true', `max_queued_messages ${mosquittoQueueFor(BOXES)}`];

const policy = (name: 'fleet' | 'demo', port: number) => ({
  apiVersion: 'crd.antrea.io/v1beta1', kind: 'ClusterNetworkPolicy', metadata: { name },
  spec: {
    priority: name === 'demo' ? 4 : 5, appliedTo: [{ podSelector: { matchLabels: name === 'demo' ? { app: 'demo' } : { fleet: 'yes' } } }],
    ingress: [{ action: 'Allow', from: [{ podSelector: { matchLabels: { role: 'client' } } }], ports: [{ protocol: 'TCP', port }] }],
  },
});

/** Time for one HTTP request to a local controller before the wait fails. */
const HTTP_MS = 30_000;
async function getJson<T>(url: string, init?: RequestInit): Promise<T> {
  const what = `${init?.method ?? 'GET'} ${new URL(url).pathname}`;
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(HTTP_MS) }).catch((err: unknown) => {
    throw new Error(`${what}: ${err instanceof Error && err.name === 'TimeoutError' ? `no answer within ${HTTP_MS} ms` : String(err)}`);
  });
  if (!res.ok) throw new Error(`${what}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function inBatches<T>(n: number, size: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i += size) out.push(...(await Promise.all(Array.from({ length: Math.min(size, n - i) }, (_, k) => fn(i + k)))));
  return out;
}

/** Every `…_sum{path="…",phase="…"} value` of the controllers' phase histogram, by path/phase (seconds, summed over controllers). */
async function phaseSums(servers: string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const s of servers) {
    const text = await (await fetch(`${s}/metrics`, { signal: AbortSignal.timeout(HTTP_MS) })).text();
    for (const m of text.matchAll(/^seine_controller_phase_duration_seconds_sum\{path="([^"]+)",phase="([^"]+)"\} (\S+)$/gm)) {
      out.set(`${m[1]}/${m[2]}`, (out.get(`${m[1]}/${m[2]}`) ?? 0) + Number(m[3]));
    }
  }
  return out;
}

/** A gauge or counter with labels, summed over the controllers' /metrics (`name{labels}`). */
async function labelled(servers: string[], sample: string): Promise<number> {
  const texts = await Promise.all(servers.map(async (s) => (await fetch(`${s}/metrics`, { signal: AbortSignal.timeout(HTTP_MS) })).text()));
  const quoted = sample.replace(/[{}"]/g, (c) => `\\${c}`);
  return texts.reduce((sum, t) => sum + Number(new RegExp(`^${quoted} (\\S+)$`, 'm').exec(t)?.[1] ?? NaN), 0);
}

/** CPU ms used so far by each group of processes (a group's pids summed). */
async function cpuOf(groups: Record<string, number[]>): Promise<Record<string, number>> {
  const out: Record<string, number> = { runner: (process.cpuUsage().user + process.cpuUsage().system) / 1000 };
  for (const [k, pids] of Object.entries(groups)) out[k] = (await Promise.all(pids.map(cpuMs))).reduce((a, b) => a + b, 0);
  return out;
}

/** One round's split (ms since the POST; CPU ms per process group in the round). */
interface RoundSplit {
  total: number;
  firstRealized: number;
  lastRealized: number;
  lastReported: number;
  /** The POST's controller.apply total, then controller.publish phases summed over the round's publications. */
  publish: Record<string, number>;
  cpu: Record<string, number>;
}

const fmtSplit = (x: RoundSplit) => `boxes realized first +${Math.round(x.firstRealized)} / last +${Math.round(x.lastRealized)} ms, last report acked +${Math.round(x.lastReported)} ms, status Realized +${Math.round(x.total)} ms; ` +
  `controller apply + publication phases ${Object.entries(x.publish).map(([k, v]) => `${k} ${Math.round(v)}`).join(', ')} ms; CPU ms ${Object.entries(x.cpu).map(([k, v]) => `${k} ${Math.round(v)}`).join(', ')}`;

/** A counter summed over the controllers' /metrics. */
async function metric(servers: string[], name: string): Promise<number> {
  const texts = await Promise.all(servers.map(async (s) => (await fetch(`${s}/metrics`, { signal: AbortSignal.timeout(HTTP_MS) })).text()));
  return texts.reduce((sum, t) => sum + Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(t)?.[1] ?? NaN), 0);
}

interface Controllers {
  servers: string[];
  procs: ChildProcess[];
}

/** `seine controller` processes, one per config; each answering /healthz before the next starts (the first migrates). */
async function startControllers(dir: string, configs: Record<string, unknown>[]): Promise<Controllers> {
  const out: Controllers = { servers: [], procs: [] };
  // SEINE_BENCH_CONTROLLER_LOG=<file>: the controllers' warnings and errors go there (a failed row's why);
  // SEINE_BENCH_CONTROLLER_NODE_ARGS: node flags for them (--cpu-prof, --heapsnapshot-signal=SIGUSR2).
  const log = process.env.SEINE_BENCH_CONTROLLER_LOG ? openSync(process.env.SEINE_BENCH_CONTROLLER_LOG, 'a') : 'ignore';
  const nodeArgs = (process.env.SEINE_BENCH_CONTROLLER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  // SEINE_BENCH_HEAP_SNAPSHOTS=<dir>: each controller writes a heap snapshot there after the first round and after the last.
  if (HEAP_DIR) nodeArgs.push('--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${HEAP_DIR}`);
  for (const [k, cfg] of configs.entries()) {
    const port = await freePort();
    const file = path.join(dir, `controller-${k}.yaml`);
    await writeFile(file, stringify({ ...cfg, listen: `127.0.0.1:${port}` }));
    out.procs.push(spawn(process.execPath, [...nodeArgs, distProgram('cli/seine.js'), 'controller', '--config', file], { stdio: ['ignore', log, log], env: { ...process.env, ...CONTROLLER_NODE_ENV, SEINE_LOG_LEVEL: 'warn' } }));
    out.servers.push(`http://127.0.0.1:${port}`);
    await pollUntil(`controller ${k} answering /healthz`, 60_000, () => fetch(`${out.servers[k]}/healthz`, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false), { intervalMs: 50 });
  }
  return out;
}

async function stopControllers(c: Controllers): Promise<void> {
  await Promise.all(c.procs.map(async (p) => {
    if (p.exitCode !== null || p.signalCode) return;
    p.kill('SIGTERM');
    await childExit(p, 30_000, 'a controller exiting on SIGTERM').catch(() => p.kill('SIGKILL'));
  }));
}

/** Asks each controller for a heap snapshot (SIGUSR2) and waits until it is written (the file stops growing). */
async function heapSnapshots(c: Controllers): Promise<void> {
  const count = async () => (await readdir(HEAP_DIR!)).filter((f) => f.endsWith('.heapsnapshot')).length;
  const before = await count();
  for (const p of c.procs) p.kill('SIGUSR2');
  await pollUntil('heap snapshots written', 120_000, async () => (await count()) >= before + c.procs.length, { intervalMs: 200 });
  // The process writes the file synchronously: it answers /healthz again once done.
  for (const server of c.servers) await pollUntil('controller answering after its snapshot', 120_000, () => fetch(`${server}/healthz`, { signal: AbortSignal.timeout(5000) }).then((r) => r.ok, () => false), { intervalMs: 200 });
}

/** Registers the boxes in a store before its controllers start (as join-token enrolment does; their broker checks the passwords). */
async function registerNodes(db: SqlDatabase, names: string[]): Promise<void> {
  try {
    const registry = await NodeRegistry.open(db);
    for (const n of names) await registry.register(n, 'bench');
  } finally {
    await db.close();
  }
}

interface SetUp {
  label: string;
  brokerUrl: string;
  controllers: Controllers;
  boxes: HostBox[];
  /** The bare broker of the same kind, for the anchor. */
  raw(): Promise<RawBroker>;
  /** The external broker's process (none with the embedded one). */
  brokerPid?: number;
  rawName: string;
  stop(): Promise<void>;
}

async function setUp(kind: string, dir: string, names: string[], cleanup: (() => Promise<unknown>)[]): Promise<SetUp> {
  const storePath = path.join(dir, 'controller.db');
  if (kind === 'embedded') {
    const mqttPort = await freePort();
    // Plain on purpose: node passwords, measured against a bare (plain) aedes.
    const controllers = await startControllers(dir, [{ brokerListen: `127.0.0.1:${mqttPort}`, storePath, insecure: true }]);
    cleanup.push(() => stopControllers(controllers));
    const passwords = await inBatches(names.length, 25, async (i) => (await getJson<{ password: string }>(`${controllers.servers[0]}/api/v1/nodes/${names[i]}/credentials`, { method: 'POST' })).password);
    return {
      label: 'embedded broker, SQLite', brokerUrl: `mqtt://127.0.0.1:${mqttPort}`, controllers, rawName: 'aedes',
      boxes: names.map((name, index) => ({ index, name, password: passwords[index]! })), raw: () => startRawBroker(), stop: () => stopControllers(controllers),
    };
  }
  // mosquitto (and replicas): the boxes' passwords live in mosquitto's password file; the store only registers them.
  const secret = randomBytes(12).toString('base64url');
  const boxes = names.map((name, index) => ({ index, name, password: `${secret}-${index}` }));
  const controllerPassword = randomBytes(18).toString('base64url');
  const mosquitto = await startMosquitto({ users: { [CONTROLLER_USERNAME]: controllerPassword, ...Object.fromEntries(boxes.map((b) => [b.name, b.password])) } });
  cleanup.push(() => mosquitto.stop());
  const broker = { broker: mosquitto.controllerUrl, brokerCredentials: { username: CONTROLLER_USERNAME, password: controllerPassword }, insecure: true };
  let controllers: Controllers;
  let stopStore = async () => {};
  if (kind === 'mosquitto') {
    await registerNodes(await Database.open(storePath), names);
    controllers = await startControllers(dir, [{ ...broker, storePath }]);
  } else {
    const pg = await startPostgres();
    cleanup.push(() => pg.stop());
    stopStore = () => pg.stop();
    const storeUrl = await pg.createDatabase('fleet');
    await registerNodes(await PostgresDatabase.open(storeUrl), names);
    const replica = { ...broker, storeUrl, sharedSubscriptionGroup: 'seine-controllers' };
    controllers = await startControllers(dir, [{ ...replica, storePath: path.join(dir, 'unused-a.db') }, { ...replica, storePath: path.join(dir, 'unused-b.db') }]);
  }
  cleanup.push(() => stopControllers(controllers));
  return {
    label: kind === 'mosquitto' ? 'mosquitto, SQLite' : 'two replicas, mosquitto, PostgreSQL', brokerUrl: mosquitto.url, controllers, boxes, rawName: 'mosquitto', brokerPid: mosquitto.pid,
    raw: () => startRawMosquitto(RAW_MOSQUITTO_TUNING),
    stop: async () => {
      await stopControllers(controllers);
      await mosquitto.stop();
      await stopStore();
    },
  };
}

/** A progress line on stderr (rows go to stdout): a 10k run takes long, and a hang must say where. */
const progress = (kind: string, what: string) => process.stderr.write(`sync-fleet [${kind}] ${new Date().toISOString().slice(11, 19)} ${what}\n`);

async function measure(kind: string): Promise<BenchRow[]> {
  const dir = await mkdtemp(`/tmp/seine-bench-fleet-${kind}-`);
  const names = Array.from({ length: BOXES }, (_, i) => `sim-${String(i).padStart(5, '0')}`);
  const cleanup: (() => Promise<unknown>)[] = [];
  let hosts: FleetHosts | undefined;
  try {
    const t0 = performance.now();
    const s = await withDeadline(setUp(kind, dir, names, cleanup), 10 * 60_000 + BOXES * 60, `${kind}: setting up the controller(s) and ${BOXES} nodes' credentials`);
    const credentialsMs = performance.now() - t0;
    progress(kind, `controller(s) up, ${BOXES} nodes registered in ${Math.round(credentialsMs)} ms; starting the boxes`);
    const [server] = s.controllers.servers as [string];
    const started = await FleetHosts.start({ url: s.brokerUrl, dir, boxes: s.boxes, batch: BATCH, deadlineMs: 10 * 60_000 + BOXES * 60 });
    hosts = started.hosts;
    progress(kind, `${BOXES} boxes connected in ${Math.round(started.ms)} ms`);
    const status = async (name: string) => (await getJson<{ status?: { phase: string; observedGeneration: number; currentNodesRealized: number; desiredNodesRealized: number } }>(`${server}${ACNPS}/${name}`)).status;
    let last: unknown;
    const realizedOn = (name: string, generation: number | undefined, n: number) => async () => {
      const st = await status(name);
      last = st;
      return st?.phase === 'Realized' && (generation === undefined || st.observedGeneration === generation) && st.currentNodesRealized === n && st.desiredNodesRealized === n;
    };
    const post = async (body: unknown) => (await getJson<{ items: { generation: number }[] }>(`${server}${ACNPS}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).items[0]!.generation;

    // The demo policy: a tenth of the fleet; then pods added and taken away on boxes without one.
    const demoSpan = Math.ceil(BOXES / 10);
    await post(policy('demo', 80));
    await pollUntil(`demo Realized on its ${demoSpan} boxes`, ROUND_MS, realizedOn('demo', undefined, demoSpan), { intervalMs: 50, describe: () => JSON.stringify(last) });
    progress(kind, 'demo policy realized; pod changes');
    const podMs: number[] = [];
    const counters = ['built', 'changed', 'published'].map((m) => `seine_controller_desired_${m}_total`);
    const before = await Promise.all(counters.map((c) => metric(s.controllers.servers, c)));
    const slots = Math.max(1, Math.floor((BOXES - 2) / 10));
    for (let k = 0; k < POD_CHANGES * 2; k++) {
      const i = Math.min(BOXES - 1, 1 + 10 * ((k >> 1) % slots)); // a box without a demo pod: k even adds one, k odd takes it away
      podMs.push(await hosts.podChange(i, k % 2 === 0, 10_000));
      await new Promise((r) => setTimeout(r, 100)); // the box's own report after it realized (it moves no span)
    }
    const after = await Promise.all(counters.map((c) => metric(s.controllers.servers, c)));
    const [built, changed, sent] = after.map((a, k) => a - before[k]!) as [number, number, number];

    // REST GET of one policy with its status.
    const get: number[] = [];
    const health: number[] = [];
    for (let k = 0; k < 200; k++) {
      let t = performance.now();
      await getJson(`${server}${ACNPS}/demo`);
      get.push(performance.now() - t);
      t = performance.now();
      await getJson(`${server}/healthz`);
      health.push(performance.now() - t);
    }

    progress(kind, 'REST GETs done; fleet-wide rounds');
    // Fleet-wide applies: apply → Realized on all; RSS after the first round and after the last.
    const seine: number[] = [];
    const rss = () => Promise.all(s.controllers.procs.map((p) => rssMiB(p.pid!))).then((v) => Math.max(...v));
    let rssFirst = NaN;
    const splits: RoundSplit[] = [];
    const memory = async () => (await Promise.all(['rss', 'heapTotal', 'heapUsed', 'external'].map(async (k) => `${k} ${Math.round((await labelled(s.controllers.servers, `seine_controller_memory_bytes{kind="${k}"}`)) / 1048576)}`))).join(', ') + ' MiB';
    const groups = { controller: s.controllers.procs.map((p) => p.pid!), ...(s.brokerPid ? { broker: [s.brokerPid] } : {}), boxes: hosts.pids };
    for (let r = 0; r < ROUNDS; r++) {
      const [cpu0, phases0] = await Promise.all([cpuOf(groups), phaseSums(s.controllers.servers)]);
      const wall0 = performance.timeOrigin + performance.now();
      const t = performance.now();
      const generation = await post(policy('fleet', 1000 + r)).catch((err: unknown) => {
        throw new Error(`round ${r}: ${err instanceof Error ? err.message : String(err)}`);
      });
      const times = await hosts.realized(generation, ROUND_MS, `round ${r}: every box realizing the fleet policy`);
      // Every box realized it; now the controller must have taken in all the reports.
      await pollUntil(`round ${r}: the controller's status Realized ${BOXES}/${BOXES} at generation ${generation}`, ROUND_MS, realizedOn('fleet', generation, BOXES), {
        intervalMs: 20, describe: () => JSON.stringify(last),
      });
      seine.push(performance.now() - t);
      const [cpu1, phases1] = await Promise.all([cpuOf(groups), phaseSums(s.controllers.servers)]);
      const phaseMs = (key: string) => ((phases1.get(key) ?? 0) - (phases0.get(key) ?? 0)) * 1000;
      // The POST (references checked, stored), then each publication phase of the round (queued: waiting for the one before).
      const publish = { apply: phaseMs('controller.apply/total'), ...Object.fromEntries(['queued', 'load', 'prepare', 'build', 'generations', 'send'].map((ph) => [ph, phaseMs(`controller.publish/${ph}`)])) };
      splits.push({
        total: seine.at(-1)!, firstRealized: times.firstRealized - wall0, lastRealized: times.lastRealized - wall0, lastReported: times.lastReported - wall0,
        publish, cpu: Object.fromEntries(Object.keys(cpu1).map((k) => [k, cpu1[k]! - cpu0[k]!])),
      });
      progress(kind, `round ${r}: ${Math.round(seine.at(-1)!)} ms: ${fmtSplit(splits.at(-1)!)}; controller memory ${await memory()}`);
      if (r === 0) rssFirst = await rss();
      if (HEAP_DIR && (r === 0 || r === ROUNDS - 1)) await heapSnapshots(s.controllers);
    }
    const rssLast = await rss();
    // With replicas: publications refused because the other replica published from a newer store revision (read and built again).
    if (s.controllers.procs.length > 1) progress(kind, `publications refused as built from an older store revision: ${await metric(s.controllers.servers, 'seine_controller_desired_refused_total')}`);
    const median = (f: (x: RoundSplit) => number) => percentile(splits.map(f), 50);
    progress(kind, `median round: ${fmtSplit({
      total: median((x) => x.total), firstRealized: median((x) => x.firstRealized), lastRealized: median((x) => x.lastRealized), lastReported: median((x) => x.lastReported),
      publish: Object.fromEntries(Object.keys(splits[0]!.publish).map((k) => [k, median((x) => x.publish[k]!)])),
      cpu: Object.fromEntries(Object.keys(splits[0]!.cpu).map((k) => [k, median((x) => x.cpu[k]!)])),
    })}`);

    await hosts.stop();
    hosts = undefined;
    await s.stop();

    progress(kind, 'raw anchor');
    // The anchor: a bare broker of the same kind, one echo client per box, the same messages.
    const raw = await s.raw();
    cleanup.push(() => raw.stop());
    const anchor = await withDeadline(rawRoundTrips(raw.url, names, (g) => ({ [FLEET]: { generation: g, spec: policy('fleet', 1000 + g).spec } }), (i) => ({ pods: boxPods(i), namespaces: { default: { 'kubernetes.io/metadata.name': 'default' } } })), 10 * 60_000, `${BOXES} raw echo clients connecting`);
    const rtt: number[] = [];
    try {
      for (let r = 0; r < ROUNDS; r++) rtt.push(await withDeadline(anchor.round(), ROUND_MS, `raw round ${r}: ${BOXES} replies through the bare ${s.rawName}`));
    } finally {
      await withDeadline(anchor.close(), 60_000, 'closing the raw echo clients').catch(() => {});
    }
    const one = await rawRoundTrips(raw.url, [names[1] ?? names[0]!], (g) => ({ [DEMO]: { generation: g, spec: policy('demo', 80).spec } }));
    const oneRtt: number[] = [];
    for (let k = 0; k < POD_CHANGES * 2; k++) oneRtt.push(await withDeadline(one.round(), 10_000, 'raw round trip of one box'));
    await one.close();

    const what = `${BOXES} simulated boxes [${s.label}]`;
    const raws = `bare ${s.rawName}`;
    return [
      { metric: `setup: ${what} connected (${started.ms >= 1000 ? Math.round(started.ms / 1000) : 0} s; node credentials ${Math.round(credentialsMs / 1000)} s before)`, unit: 'ms', seine: started.ms, anchor: anchor.connectMs, anchorLabel: `${BOXES} raw MQTT clients connecting to a ${raws}`, better: 'lower' },
      { metric: `one pod added on one of ${what} → its document republished p99`, unit: 'ms', seine: percentile(podMs, 99), anchor: percentile(oneRtt, 99), anchorLabel: `raw round trip of one box through a ${raws} (desired → reported) p99`, better: 'lower', goal: '< 100 ms' },
      { metric: `documents sent per pod change, ${what} (${POD_CHANGES * 2} changes, ${built} built)`, unit: 'docs', seine: sent / (POD_CHANGES * 2), anchor: changed / (POD_CHANGES * 2), anchorLabel: 'documents whose content changed', better: 'lower', goal: 'sent = changed = 1' },
      ...[50, 99].map((p): BenchRow => ({
        metric: `apply → Realized on all ${what} p${p}`, unit: 'ms', seine: percentile(seine, p), anchor: percentile(rtt, p),
        anchorLabel: `raw round trip through a ${raws}, same messages (desired ×${BOXES} → reported ×${BOXES}, same inventory)`, better: 'lower', ...(p === 99 ? { goal: 'p99 < 5 s, ≤ 3× raw' } : {}),
      })),
      { metric: `controller RSS after ${ROUNDS} rounds, ${what}${s.controllers.procs.length > 1 ? ' (larger replica)' : ''}`, unit: 'MiB', seine: rssLast, anchor: rssFirst, anchorLabel: 'the same controller after the first round', better: 'lower', goal: 'growth < 5%, < 500 MiB' },
      { metric: `REST GET of one policy with status, ${what} p99`, unit: 'ms', seine: percentile(get, 99), anchor: percentile(health, 99), anchorLabel: 'GET /healthz on the same server p99', better: 'lower', goal: 'p99 < 20 ms' },
    ];
  } finally {
    // Cleanup is bounded too: a stuck stop must not hang the run (the runner goes on regardless).
    await hosts?.stop();
    for (const c of cleanup.reverse()) await withDeadline(c(), 60_000, `${kind}: cleanup`).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}

export const bench: Bench = {
  name: 'sync-fleet',
  deadlineMs: (20 + KINDS.length * Math.ceil(BOXES / 1000) * 4) * 60_000,
  async run(): Promise<BenchRow[]> {
    // A set-up that fails is one row saying why; the others' rows are kept.
    const rows: BenchRow[] = [];
    for (const kind of KINDS) {
      rows.push(...(await measure(kind).catch((err: unknown): BenchRow[] => [{
        metric: `${kind}: FAILED: ${err instanceof Error ? err.message : String(err)}`, unit: '', seine: NaN, anchor: NaN, anchorLabel: '', better: 'lower',
      }])));
    }
    if (rows.every((r) => Number.isNaN(r.seine))) throw new Error(rows.map((r) => r.metric).join('; '));
    return rows;
  },
};
