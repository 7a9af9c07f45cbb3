// 500 simulated agents: the real agent sync code (AgentSync: SQLite desired store and outbox,
// MQTT session, reports) over a NO-OP DATAPATH (a realizer that installs nothing), against a
// real `seine controller` process with its embedded broker. Measures apply → Realized on all
// 500 (p50, p99) against the raw broker round trip of the same messages (a bare aedes process,
// 500 echo clients), and the controller's RSS at 500 agents against the bare broker's RSS with
// the same 500 clients connected.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import type { DesiredObject } from '../../src/api/node-state.js';
import { AgentSync } from '../../src/agent/sync/agent-sync.js';
import { RealizerRegistry, type RealizeOutcome, type Realizer } from '../../src/agent/sync/realizers.js';
import { Backoff } from '../../src/lib/backoff.js';
import { distProgram } from '../../src/lib/paths.js';
import { sleep } from '../../src/lib/process.js';
import { Database } from '../../src/lib/sqlite.js';
import { percentile, type Bench, type BenchRow } from './harness.js';
import { rawRoundTrips, rssMiB, startRawBroker } from './sync-anchor.js';
import { freePort } from '../../src/lib/free-port.js';

const AGENTS = Number(process.env.SEINE_BENCH_AGENTS ?? 500);
const ROUNDS = 20;
const ACNPS = '/apis/crd.antrea.io/v1beta1/clusternetworkpolicies';
const KEY = 'ClusterNetworkPolicy.crd.antrea.io//fleet';

const acnp = (port: number) => ({
  apiVersion: 'crd.antrea.io/v1beta1', kind: 'ClusterNetworkPolicy', metadata: { name: 'fleet' },
  spec: {
    priority: 5, appliedTo: [{ podSelector: { matchLabels: { app: 'demo' } } }],
    ingress: [{ action: 'Allow', from: [{ podSelector: { matchLabels: { role: 'client' } } }], ports: [{ protocol: 'TCP', port }] }],
  },
});

/** The no-op datapath: accepts everything, installs nothing, remembers the generation it saw. */
class NoopRealizer implements Realizer {
  generation = 0;
  constructor(private readonly onGeneration: () => void) {}
  async realize(objects: ReadonlyMap<string, DesiredObject>): Promise<ReadonlyMap<string, RealizeOutcome>> {
    this.generation = objects.get(KEY)?.generation ?? 0;
    queueMicrotask(this.onGeneration);
    return new Map([...objects.keys()].map((k) => [k, { ok: true } as RealizeOutcome]));
  }
}

async function inBatches<T>(n: number, size: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i += size) out.push(...(await Promise.all(Array.from({ length: Math.min(size, n - i) }, (_, k) => fn(i + k)))));
  return out;
}

export const bench: Bench = {
  name: 'sync-fleet',
  async run(): Promise<BenchRow[]> {
    const dir = await mkdtemp('/tmp/seine-bench-fleet-');
    const [restPort, mqttPort] = [await freePort(), await freePort()];
    const config = path.join(dir, 'controller.yaml');
    // Plain on purpose: 500 simulated agents with passwords, measured against a bare (plain) aedes round trip.
    await writeFile(config, stringify({ listen: `127.0.0.1:${restPort}`, brokerListen: `127.0.0.1:${mqttPort}`, storePath: path.join(dir, 'controller.db'), insecure: true }));
    const proc = spawn(process.execPath, [distProgram('cli/seine.js'), 'controller', '--config', config], { stdio: 'ignore', env: { ...process.env, SEINE_LOG_LEVEL: 'warn' } });
    const server = `http://127.0.0.1:${restPort}`;
    const agents: { sync: AgentSync; db: Database; realizer: NoopRealizer }[] = [];
    const raw = await startRawBroker();
    try {
      for (let i = 0; !(await fetch(`${server}/healthz`).then((r) => r.ok, () => false)); i++) {
        if (i > 400) throw new Error('the controller did not start');
        await sleep(50);
      }
      const names = Array.from({ length: AGENTS }, (_, i) => `sim-${String(i).padStart(4, '0')}`);
      const passwords = await inBatches(AGENTS, 25, async (i) => {
        const res = await fetch(`${server}/api/v1/nodes/${names[i]}/credentials`, { method: 'POST' });
        return ((await res.json()) as { password: string }).password;
      });
      let waiter: { generation: number; done: () => void } | undefined;
      const check = () => {
        if (waiter && agents.length === AGENTS && agents.every((a) => a.realizer.generation >= waiter!.generation)) waiter.done();
      };
      await inBatches(AGENTS, 50, async (i) => {
        const db = await Database.open(path.join(dir, `${names[i]}.db`));
        const realizers = new RealizerRegistry();
        const realizer = new NoopRealizer(check);
        realizers.registerRealizer({ kind: 'ClusterNetworkPolicy', group: 'crd.antrea.io' }, realizer);
        const sync = await AgentSync.open({
          node: names[i]!, url: `mqtt://127.0.0.1:${mqttPort}`, username: names[i]!, password: passwords[i]!, db, realizers,
          agentVersion: '0.1.0-sim', backoff: new Backoff({ initialMs: 200, maxMs: 2000 }),
        });
        await sync.start();
        agents.push({ sync, db, realizer });
      });
      for (let i = 0; agents.some((a) => !a.sync.connected); i++) {
        if (i > 1200) throw new Error(`${agents.filter((a) => !a.sync.connected).length} simulated agents never connected`);
        await sleep(50);
      }

      const seine: number[] = [];
      for (let r = 0; r < ROUNDS + 2; r++) {
        const t0 = performance.now();
        const res = await fetch(`${server}${ACNPS}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(acnp(1000 + r)) });
        const generation = ((await res.json()) as { items: { generation: number }[] }).items[0]!.generation;
        await new Promise<void>((done) => {
          waiter = { generation, done };
          check();
        });
        // Every agent realized it; now the controller must have taken in all 500 reports.
        for (let i = 0; ; i++) {
          const s = ((await (await fetch(`${server}${ACNPS}/fleet`)).json()) as { status?: { phase: string; observedGeneration: number; currentNodesRealized: number } }).status;
          if (s?.phase === 'Realized' && s.observedGeneration === generation && s.currentNodesRealized === AGENTS) break;
          if (i > 3000) throw new Error(`not Realized on ${AGENTS}: ${JSON.stringify(s)}`);
          await sleep(10);
        }
        if (r >= 2) seine.push(performance.now() - t0);
      }
      const controllerRss = await rssMiB(proc.pid!);

      const anchor = await rawRoundTrips(raw.url, names, (g) => ({ [KEY]: { generation: g, spec: acnp(1000 + g).spec } }));
      const rtt: number[] = [];
      for (let r = 0; r < ROUNDS + 2; r++) {
        const ms = await anchor.round();
        if (r >= 2) rtt.push(ms);
      }
      const rawRss = await rssMiB(raw.pid);
      await anchor.close();
      const label = `raw aedes round trip, same messages (desired ×${AGENTS} → reported ×${AGENTS})`;
      const what = `${AGENTS} simulated agents (real AgentSync, no-op datapath)`;
      return [
        ...[50, 99].map((p): BenchRow => ({
          metric: `apply → Realized ${what} p${p}`, unit: 'ms', seine: percentile(seine, p), anchor: percentile(rtt, p),
          anchorLabel: label, better: 'lower', ...(p === 99 ? { goal: 'p99 < 1 s' } : {}),
        })),
        { metric: `controller RSS at ${AGENTS} agents`, unit: 'MiB', seine: controllerRss, anchor: rawRss, anchorLabel: `bare aedes process with ${AGENTS} clients`, better: 'lower' },
      ];
    } finally {
      await Promise.all(agents.map(async (a) => {
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
