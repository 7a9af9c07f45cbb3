// Simulated agents (500 by default): the real agent sync code (AgentSync: SQLite desired store
// and outbox, MQTT session, reports) over a NO-OP DATAPATH (a realizer that installs nothing),
// against a real `seine controller` process with its embedded broker. Each simulated agent
// reports one pod labelled app=demo (as a real box reports its pods), so the fleet ACNP, which
// applies to app=demo, spans every agent: the controller sends a policy only to boxes hosting a
// selected pod. Measures apply → Realized on all (p50, p99) against the raw broker round trip of
// the same messages (a bare aedes process, one echo client per agent, reporting the same
// inventory), and the controller's RSS against the bare broker's RSS with the same clients.
// SEINE_BENCH_AGENTS=N and SEINE_BENCH_ROUNDS=N change the fleet size and the timed rounds.
// Every wait has a deadline (a failed round names how far the fleet got).
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import type { DesiredObject, NodeReported } from '../../src/api/node-state.js';
import { AgentSync } from '../../src/agent/sync/agent-sync.js';
import { RealizerRegistry, type RealizeOutcome, type Realizer } from '../../src/agent/sync/realizers.js';
import { Backoff } from '../../src/lib/backoff.js';
import { distProgram } from '../../src/lib/paths.js';
import { Database } from '../../src/lib/sqlite.js';
import { childExit, percentile, pollUntil, withDeadline, type Bench, type BenchRow } from './harness.js';
import { rawRoundTrips, rssMiB, startRawBroker } from './sync-anchor.js';
import { freePort } from '../../src/lib/free-port.js';

const AGENTS = Number(process.env.SEINE_BENCH_AGENTS ?? 500);
const ROUNDS = Number(process.env.SEINE_BENCH_ROUNDS ?? 20);
if (!(AGENTS >= 1) || !(ROUNDS >= 1)) throw new Error('SEINE_BENCH_AGENTS and SEINE_BENCH_ROUNDS must be positive numbers');
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

/** What a simulated agent reports: one app=demo pod in `default`, as a box hosting the fleet's workload would. */
export function simulatedInventory(index: number): NodeReported['inventory'] {
  return {
    pods: [{ namespace: 'default', name: `demo-${index}`, ips: [`10.${64 + (index >> 16)}.${(index >> 8) & 255}.${index & 255 || 1}`], labels: { app: 'demo' } }],
    namespaces: { default: { 'kubernetes.io/metadata.name': 'default' } },
  };
}

/** Time for one HTTP request to the local controller before the wait fails. */
const HTTP_MS = 30_000;
const getJson = async <T>(url: string, init?: RequestInit): Promise<T> => {
  const what = `${init?.method ?? 'GET'} ${new URL(url).pathname}`;
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(HTTP_MS) }).catch((err: unknown) => {
    throw new Error(`${what}: ${err instanceof Error && err.name === 'TimeoutError' ? `no answer within ${HTTP_MS} ms` : String(err)}`);
  });
  if (!res.ok) throw new Error(`${what}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
};

async function inBatches<T>(n: number, size: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i += size) out.push(...(await Promise.all(Array.from({ length: Math.min(size, n - i) }, (_, k) => fn(i + k)))));
  return out;
}

export const bench: Bench = {
  name: 'sync-fleet',
  deadlineMs: 30 * 60_000,
  async run(): Promise<BenchRow[]> {
    const dir = await mkdtemp('/tmp/seine-bench-fleet-');
    const [restPort, mqttPort] = [await freePort(), await freePort()];
    const config = path.join(dir, 'controller.yaml');
    // Plain on purpose: 500 simulated agents with passwords, measured against a bare (plain) aedes round trip.
    await writeFile(config, stringify({ listen: `127.0.0.1:${restPort}`, brokerListen: `127.0.0.1:${mqttPort}`, storePath: path.join(dir, 'controller.db'), insecure: true }));
    const proc = spawn(process.execPath, [distProgram('cli/seine.js'), 'controller', '--config', config], { stdio: 'ignore', env: { ...process.env, SEINE_LOG_LEVEL: 'warn' } });
    const server = `http://127.0.0.1:${restPort}`;
    const agents: { sync: AgentSync; db: Database; realizer: NoopRealizer }[] = [];
    let starting: Promise<unknown> = Promise.resolve();
    const raw = await startRawBroker();
    try {
      await pollUntil('the controller answering /healthz', 20_000, () => fetch(`${server}/healthz`, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false), { intervalMs: 50 });
      const names = Array.from({ length: AGENTS }, (_, i) => `sim-${String(i).padStart(4, '0')}`);
      const passwords = await inBatches(AGENTS, 25, async (i) => (await getJson<{ password: string }>(`${server}/api/v1/nodes/${names[i]}/credentials`, { method: 'POST' })).password);
      let waiter: { generation: number; done: () => void } | undefined;
      const check = () => {
        if (waiter && agents.length === AGENTS && agents.every((a) => a.realizer.generation >= waiter!.generation)) waiter.done();
      };
      starting = inBatches(AGENTS, 50, async (i) => {
        const db = await Database.open(path.join(dir, `${names[i]}.db`));
        const realizers = new RealizerRegistry();
        const realizer = new NoopRealizer(check);
        realizers.registerRealizer({ kind: 'ClusterNetworkPolicy', group: 'crd.antrea.io' }, realizer);
        const inventory = simulatedInventory(i);
        const sync = await AgentSync.open({
          node: names[i]!, url: `mqtt://127.0.0.1:${mqttPort}`, username: names[i]!, password: passwords[i]!, db, realizers,
          agentVersion: '0.1.0-sim', backoff: new Backoff({ initialMs: 200, maxMs: 2000 }), inventory: () => inventory,
        });
        agents.push({ sync, db, realizer });
        await sync.start();
      });
      await withDeadline(starting, 10 * 60_000, `starting ${AGENTS} simulated agents`);
      await pollUntil(`${AGENTS} simulated agents connected`, 120_000, () => agents.every((a) => a.sync.connected), {
        intervalMs: 50, describe: () => `${agents.filter((a) => !a.sync.connected).length} not connected`,
      });

      const seine: number[] = [];
      for (let r = 0; r < ROUNDS + 2; r++) {
        const t0 = performance.now();
        const res = await getJson<{ items: { generation: number }[] }>(`${server}${ACNPS}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(acnp(1000 + r)) })
          .catch((err: unknown) => {
            throw new Error(`round ${r}: ${err instanceof Error ? err.message : String(err)} (${agents.filter((a) => a.sync.connected).length}/${AGENTS} simulated agents connected)`);
          });
        const generation = res.items[0]!.generation;
        await withDeadline(new Promise<void>((done) => {
          waiter = { generation, done };
          check();
        }), 60_000, `round ${r}: generation ${generation} realized by all ${AGENTS} simulated agents (${agents.filter((a) => a.realizer.generation >= generation).length} had it at the deadline)`).finally(() => (waiter = undefined));
        // Every agent realized it; now the controller must have taken in all the reports.
        let last: unknown;
        await pollUntil(`round ${r}: the controller's status Realized ${AGENTS}/${AGENTS} at generation ${generation}`, 60_000, async () => {
          const s = (await getJson<{ status?: { phase: string; observedGeneration: number; currentNodesRealized: number } }>(`${server}${ACNPS}/fleet`)).status;
          last = s;
          return s?.phase === 'Realized' && s.observedGeneration === generation && s.currentNodesRealized === AGENTS;
        }, { intervalMs: 10, describe: () => JSON.stringify(last) });
        if (r >= 2) seine.push(performance.now() - t0);
      }
      const controllerRss = await rssMiB(proc.pid!);

      const anchor = await withDeadline(rawRoundTrips(raw.url, names, (g) => ({ [KEY]: { generation: g, spec: acnp(1000 + g).spec } }), (i) => simulatedInventory(i)), 5 * 60_000, `${AGENTS} raw echo clients connecting`);
      const rtt: number[] = [];
      for (let r = 0; r < ROUNDS + 2; r++) {
        const ms = await withDeadline(anchor.round(), 60_000, `raw round ${r}: ${AGENTS} replies through the bare aedes`);
        if (r >= 2) rtt.push(ms);
      }
      const rawRss = await rssMiB(raw.pid);
      await withDeadline(anchor.close(), 30_000, 'closing the raw echo clients').catch(() => {});
      const label = `raw aedes round trip, same messages (desired ×${AGENTS} → reported ×${AGENTS}, same inventory)`;
      const what = `${AGENTS} simulated agents (real AgentSync, no-op datapath)`;
      return [
        ...[50, 99].map((p): BenchRow => ({
          metric: `apply → Realized ${what} p${p}`, unit: 'ms', seine: percentile(seine, p), anchor: percentile(rtt, p),
          anchorLabel: label, better: 'lower', ...(p === 99 ? { goal: 'p99 < 1 s' } : {}),
        })),
        { metric: `controller RSS at ${AGENTS} agents`, unit: 'MiB', seine: controllerRss, anchor: rawRss, anchorLabel: `bare aedes process with ${AGENTS} clients`, better: 'lower' },
      ];
    } finally {
      // Cleanup is bounded too: a stuck stop must not hang the run (the runner goes on regardless).
      // Agents still opening when a deadline passed are let finish (30 s at most), so they are stopped too.
      await Promise.race([starting.catch(() => {}), new Promise((r) => setTimeout(r, 30_000).unref())]);
      await withDeadline(Promise.all(agents.map(async (a) => {
        await a.sync.stop();
        await a.db.close();
      })), 60_000, 'stopping the simulated agents').catch(() => {});
      await raw.stop();
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        await childExit(proc, 10_000, 'the controller exiting on SIGTERM').catch(() => proc.kill('SIGKILL'));
      }
      await rm(dir, { recursive: true, force: true });
    }
  },
};
