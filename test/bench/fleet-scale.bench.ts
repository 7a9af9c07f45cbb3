// The controller's cost with a large fleet (issue #22): SEINE_BENCH_BOXES simulated boxes
// (default 1000; the real agent sync code — AgentSync with its SQLite store and MQTT session —
// over a NO-OP DATAPATH, each reporting one pod) against a real `seine controller` process
// (SQLite store, embedded broker). Every tenth box hosts an app=demo pod; every box an app=edge one.
//  - one pod added on one box → its policy's span updated and only that box's document rebuilt
//    and republished (time until the box has it; documents built/changed/sent from /metrics);
//  - apply of a fleet-wide policy → Realized on all, SEINE_BENCH_ROUNDS rounds, against the raw
//    aedes round trip of the same messages; controller RSS after the first and the last round;
//  - REST GET of one policy with its status, against GET /healthz on the same server.
import { spawn } from 'node:child_process';
import { openSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import type { DesiredObject, NodeReported } from '../../src/api/node-state.js';
import { AgentSync } from '../../src/agent/sync/agent-sync.js';
import { RealizerRegistry, type RealizeOutcome, type Realizer } from '../../src/agent/sync/realizers.js';
import { Backoff } from '../../src/lib/backoff.js';
import { freePort } from '../../src/lib/free-port.js';
import { distProgram } from '../../src/lib/paths.js';
import { sleep } from '../../src/lib/process.js';
import { Database } from '../../src/lib/sqlite.js';
import { percentile, type Bench, type BenchRow } from './harness.js';
import { rawRoundTrips, rssMiB, startRawBroker } from './sync-anchor.js';

const BOXES = Number(process.env.SEINE_BENCH_BOXES ?? 1000);
const ROUNDS = Number(process.env.SEINE_BENCH_ROUNDS ?? 20);
const POD_CHANGES = 10;
const ACNPS = '/apis/crd.antrea.io/v1beta1/clusternetworkpolicies';
const FLEET = 'ClusterNetworkPolicy.crd.antrea.io//fleet';
const DEMO = 'ClusterNetworkPolicy.crd.antrea.io//demo';

const policy = (name: string, app: string, port: number) => ({
  apiVersion: 'crd.antrea.io/v1beta1', kind: 'ClusterNetworkPolicy', metadata: { name },
  spec: { priority: name === 'demo' ? 4 : 5, appliedTo: [{ podSelector: { matchLabels: { app } } }], ingress: [{ action: 'Allow', from: [{ podSelector: { matchLabels: { role: 'client' } } }], ports: [{ protocol: 'TCP', port }] }] },
});

/** The no-op datapath: accepts everything, installs nothing, remembers what it was given. */
class NoopRealizer implements Realizer {
  fleet = 0;
  demo = false;
  constructor(private readonly onChange: () => void) {}
  async realize(objects: ReadonlyMap<string, DesiredObject>): Promise<ReadonlyMap<string, RealizeOutcome>> {
    this.fleet = objects.get(FLEET)?.generation ?? 0;
    this.demo = objects.has(DEMO);
    queueMicrotask(this.onChange);
    return new Map([...objects.keys()].map((k) => [k, { ok: true } as RealizeOutcome]));
  }
}

async function until(what: string, fn: () => boolean | Promise<boolean>, ms: number, every = 10): Promise<void> {
  for (const t0 = performance.now(); !(await fn());) {
    if (performance.now() - t0 > ms) throw new Error(`deadline: ${what} not within ${ms} ms`);
    await sleep(every);
  }
}

async function inBatches<T>(n: number, size: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i += size) out.push(...(await Promise.all(Array.from({ length: Math.min(size, n - i) }, (_, k) => fn(i + k)))));
  return out;
}

async function metric(server: string, name: string): Promise<number> {
  const text = await (await fetch(`${server}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
}

export const bench: Bench = {
  name: 'fleet-scale',
  async run(): Promise<BenchRow[]> {
    const dir = await mkdtemp('/tmp/seine-bench-scale-');
    const [restPort, mqttPort] = [await freePort(), await freePort()];
    const config = path.join(dir, 'controller.yaml');
    await writeFile(config, stringify({ listen: `127.0.0.1:${restPort}`, brokerListen: `127.0.0.1:${mqttPort}`, storePath: path.join(dir, 'controller.db'), insecure: true }));
    // SEINE_BENCH_CONTROLLER_LOG=<file>: the controller's warnings and errors go there (a failed row's why).
    const logFile = process.env.SEINE_BENCH_CONTROLLER_LOG ? openSync(process.env.SEINE_BENCH_CONTROLLER_LOG, 'a') : 'ignore';
    const proc = spawn(process.execPath, [distProgram('cli/seine.js'), 'controller', '--config', config], { stdio: ['ignore', logFile, logFile], env: { ...process.env, SEINE_LOG_LEVEL: 'warn' } });
    const server = `http://127.0.0.1:${restPort}`;
    const agents: { sync: AgentSync; db: Database; realizer: NoopRealizer }[] = [];
    const raw = await startRawBroker();
    try {
      await until('the controller answers', () => fetch(`${server}/healthz`).then((r) => r.ok, () => false), 20_000, 50);
      const names = Array.from({ length: BOXES }, (_, i) => `sim-${String(i).padStart(5, '0')}`);
      const pods = names.map((_, i): NodeReported['inventory']['pods'] => [
        { namespace: 'default', name: 'edge', ips: [`10.${42 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`], labels: { app: i % 10 === 0 ? 'demo' : 'edge' } },
      ]);
      const passwords = await inBatches(BOXES, 25, async (i) => ((await (await fetch(`${server}/api/v1/nodes/${names[i]}/credentials`, { method: 'POST' })).json()) as { password: string }).password);
      await inBatches(BOXES, 50, async (i) => {
        const db = await Database.open(path.join(dir, `${names[i]}.db`));
        const realizers = new RealizerRegistry();
        const realizer = new NoopRealizer(() => undefined);
        realizers.registerRealizer({ kind: 'ClusterNetworkPolicy', group: 'crd.antrea.io' }, realizer);
        const sync = await AgentSync.open({
          node: names[i]!, url: `mqtt://127.0.0.1:${mqttPort}`, username: names[i]!, password: passwords[i]!, db, realizers,
          agentVersion: '0.1.0-sim', backoff: new Backoff({ initialMs: 200, maxMs: 2000 }),
          inventory: () => ({ pods: pods[i]!, namespaces: { default: { 'kubernetes.io/metadata.name': 'default' } } }),
        });
        await sync.start();
        agents[i] = { sync, db, realizer }; // by index: box i is names[i] (batches finish in any order)
      });
      await until(`${BOXES} simulated boxes connected`, () => agents.filter((a) => a.sync.connected).length === BOXES, 120_000, 50);
      await until('every box reported', async () => ((await (await fetch(`${server}/api/v1/nodes`)).json()) as { realizedGeneration: number | null }[]).every((n) => n.realizedGeneration !== null), 120_000, 200);

      const status = async (name: string) => ((await (await fetch(`${server}${ACNPS}/${name}`)).json()) as { status?: { phase: string; observedGeneration: number; currentNodesRealized: number; desiredNodesRealized: number } }).status;
      // The demo policy: a tenth of the fleet.
      await fetch(`${server}${ACNPS}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(policy('demo', 'demo', 80)) });
      await until('demo Realized on its span', async () => (await status('demo'))?.phase === 'Realized' && (await status('demo'))!.desiredNodesRealized === Math.ceil(BOXES / 10), 60_000);

      // One pod added (or removed) on one box: until that box has (or lost) the demo policy.
      const podMs: number[] = [];
      let built = 0;
      let changed = 0;
      let sent = 0;
      for (let k = 0; k < POD_CHANGES * 2; k++) {
        const i = 1 + 10 * (k >> 1); // a box without a demo pod: k even adds one, k odd takes it away
        const before = await Promise.all(['built', 'changed', 'published'].map((m) => metric(server, `seine_controller_desired_${m}_total`)));
        const adding = k % 2 === 0;
        pods[i] = adding ? [...pods[i]!, { namespace: 'default', name: 'demo-extra', ips: [`10.99.${k}.2`], labels: { app: 'demo' } }] : pods[i]!.slice(0, 1);
        const t0 = performance.now();
        await agents[i]!.sync.inventoryChanged();
        await until(`box ${i} ${adding ? 'gets' : 'loses'} the demo policy`, () => agents[i]!.realizer.demo === adding, 10_000, 1);
        podMs.push(performance.now() - t0);
        await sleep(100); // let the box's own report settle (it moves no span)
        const after = await Promise.all(['built', 'changed', 'published'].map((m) => metric(server, `seine_controller_desired_${m}_total`)));
        built += after[0]! - before[0]!;
        changed += after[1]! - before[1]!;
        sent += after[2]! - before[2]!;
      }

      // REST GET of one policy with its status.
      const get: number[] = [];
      const health: number[] = [];
      for (let k = 0; k < 200; k++) {
        let t0 = performance.now();
        await (await fetch(`${server}${ACNPS}/demo`)).json();
        get.push(performance.now() - t0);
        t0 = performance.now();
        await (await fetch(`${server}/healthz`)).json();
        health.push(performance.now() - t0);
      }

      // Fleet-wide applies, ROUNDS of them: apply → Realized on all; RSS after the first and the last.
      const seine: number[] = [];
      let rssFirst = NaN;
      for (let r = 0; r < ROUNDS; r++) {
        const t0 = performance.now();
        const res = await fetch(`${server}${ACNPS}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(policy('fleet', 'edge', 1000 + r)) });
        const generation = ((await res.json()) as { items: { generation: number }[] }).items[0]!.generation;
        const span = BOXES - Math.ceil(BOXES / 10);
        await until(`round ${r}: fleet Realized on ${span}`, async () => {
          const s = await status('fleet');
          return s?.phase === 'Realized' && s.observedGeneration === generation && s.currentNodesRealized === span;
        }, 60_000);
        seine.push(performance.now() - t0);
        if (r === 0) rssFirst = await rssMiB(proc.pid!);
      }
      const rssLast = await rssMiB(proc.pid!);

      const spanNames = names.filter((_, i) => i % 10 !== 0);
      const anchor = await rawRoundTrips(raw.url, spanNames, (g) => ({ [FLEET]: { generation: g, spec: policy('fleet', 'edge', 1000 + g).spec } }));
      const rtt: number[] = [];
      for (let r = 0; r < Math.min(ROUNDS, 10); r++) rtt.push(await anchor.round());
      await anchor.close();
      // The pod change's anchor: one box's message each way on the raw broker (desired → reported).
      const one = await rawRoundTrips(raw.url, [names[1]!], (g) => ({ [DEMO]: { generation: g, spec: policy('demo', 'demo', 80).spec } }));
      const oneRtt: number[] = [];
      for (let k = 0; k < POD_CHANGES * 2; k++) oneRtt.push(await one.round());
      await one.close();
      const what = `${BOXES} simulated boxes (real AgentSync, no-op datapath, embedded broker, SQLite)`;
      return [
        { metric: `one pod added on one of ${what} → its document republished p99`, unit: 'ms', seine: percentile(podMs, 99), anchor: percentile(oneRtt, 99), anchorLabel: 'raw aedes round trip of one box (desired → reported) p99', better: 'lower', goal: '< 100 ms' },
        { metric: `documents sent per pod change (${POD_CHANGES * 2} changes, ${built} built)`, unit: 'docs', seine: sent / (POD_CHANGES * 2), anchor: changed / (POD_CHANGES * 2), anchorLabel: 'documents whose content changed', better: 'lower', goal: 'sent = changed = 1' },
        ...[50, 99].map((p): BenchRow => ({
          metric: `apply → Realized on ${spanNames.length} of ${what} p${p}`, unit: 'ms', seine: percentile(seine, p), anchor: percentile(rtt, p),
          anchorLabel: `raw aedes round trip, same messages (desired ×${spanNames.length} → reported ×${spanNames.length})`, better: 'lower', ...(p === 99 ? { goal: 'p99 < 5 s, ≤ 3× raw' } : {}),
        })),
        { metric: `controller RSS after ${ROUNDS} rounds (${BOXES} boxes)`, unit: 'MiB', seine: rssLast, anchor: rssFirst, anchorLabel: 'the same controller after the first round', better: 'lower', goal: 'growth < 5%, < 500 MiB' },
        { metric: `REST GET of one policy with status, ${BOXES} boxes p99`, unit: 'ms', seine: percentile(get, 99), anchor: percentile(health, 99), anchorLabel: 'GET /healthz on the same server p99', better: 'lower', goal: 'p99 < 20 ms' },
      ];
    } finally {
      await Promise.all(agents.filter(Boolean).map(async (a) => {
        await a.sync.stop();
        await a.db.close();
      }));
      await raw.stop();
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        await new Promise((r) => proc.once('exit', r));
      }
      await rm(dir, { recursive: true, force: true });
    }
  },
};
