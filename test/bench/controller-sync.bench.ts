// Apply → Realized in one process: a controller (real SQLite, real embedded aedes, REST on
// 127.0.0.1, plain as the anchor is) and two agents' sync modules (real MQTT clients, real SQLite,
// a recording realizer), the setup of test/integration/controller-sync.test.ts. Each round
// creates a new ACNP and is timed until the controller has taken in both agents' reports saying
// Realized (its own report hook, no REST polling). Anchor, same run: the raw broker round trip
// of the same messages (desired ×2 → reported ×2, same inventory) through a bare aedes process.
// Also the process's RSS with the controller and agents running against the same process before
// they started. (This used to be a test case that printed these numbers and asserted nothing.)
import { percentile, withDeadline, type Bench, type BenchRow } from './harness.js';
import { rawRoundTrips, startRawBroker } from './sync-anchor.js';
import { acnp, api, startAgent, startController, tempDir, testInventory, waitFor, type TestAgent } from '../integration/controller-fixture.js';
import type { Controller } from '../../src/controller/main.js';

const ROUNDS = Number(process.env.SEINE_BENCH_ROUNDS ?? 30);
const NODES = ['box1', 'box2'];
const ACNPS = '/apis/crd.antrea.io/v1beta1/clusternetworkpolicies';
const keyOf = (name: string) => `ClusterNetworkPolicy.crd.antrea.io//${name}`;

/** Resolves once every node's last report says `key` is Realized (watched through the controller's report hook). */
function realizedOnAll(controller: Controller, key: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const seen = new Set<string>();
    const off = controller.nodes.onChange((node, what) => {
      if (what !== 'report') return;
      controller.nodes.reports().then((reports) => {
        if (reports.get(node)?.objects[key]?.phase === 'Realized') seen.add(node);
        if (seen.size === NODES.length) {
          off();
          resolve();
        }
      }, (err: unknown) => {
        off();
        reject(err instanceof Error ? err : new Error(String(err)));
      });
    });
  });
}

export const bench: Bench = {
  name: 'controller-sync',
  deadlineMs: 10 * 60_000,
  async run(): Promise<BenchRow[]> {
    const tmp = await tempDir('seine-bench-csync-');
    const agents: TestAgent[] = [];
    let controller: Controller | undefined;
    const raw = await startRawBroker();
    try {
      global.gc?.();
      const baseRss = process.memoryUsage().rss / 2 ** 20;
      controller = await withDeadline(startController(tmp.dir, { insecure: true }), 60_000, 'the in-process controller starting', { onLate: (c) => c.stop().then(() => tmp.remove()) });
      for (const node of NODES) {
        const password = await controller.nodes.createCredentials(node, 'bench');
        agents.push(await withDeadline(startAgent({ node, url: controller.brokerUrl, password, dir: tmp.dir }), 60_000, `agent ${node} starting`, { onLate: (a) => a.stop() }));
      }
      const c = controller;
      await waitFor('both simulated agents online', async () => (await c.nodes.list()).every((n) => n.online), 60_000);

      const seine: number[] = [];
      for (let i = 0; i < ROUNDS + 2; i++) {
        const name = `lat-${i}`;
        const t0 = performance.now();
        const done = realizedOnAll(c, keyOf(name));
        const res = await api(c.restUrl, 'POST', ACNPS, acnp(name));
        if (res.status !== 200) throw new Error(`POST ${name}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
        await withDeadline(done, 30_000, `round ${i}: ${name} reported Realized by both agents`);
        if (i >= 2) seine.push(performance.now() - t0); // the first rounds warm up SQLite and the sessions
      }
      global.gc?.();
      const rss = process.memoryUsage().rss / 2 ** 20;

      const anchor = await withDeadline(rawRoundTrips(raw.url, NODES, (g) => ({ [keyOf(`lat-${g}`)]: { generation: 1, spec: acnp(`lat-${g}`).spec } }), (k) => testInventory(NODES[k]!)), 60_000, 'the raw echo clients connecting');
      const rtt: number[] = [];
      try {
        for (let i = 0; i < ROUNDS + 2; i++) {
          const ms = await withDeadline(anchor.round(), 30_000, `raw round ${i}`);
          if (i >= 2) rtt.push(ms);
        }
      } finally {
        await withDeadline(anchor.close(), 10_000, 'closing the raw echo clients').catch(() => {});
      }
      const label = 'raw aedes round trip, same messages (desired ×2 → reported ×2, same inventory)';
      const what = 'in-process controller + 2 agents (real sync, recording realizer)';
      return [
        ...[50, 99].map((p): BenchRow => ({
          metric: `apply → Realized ${what} p${p} (n=${ROUNDS})`, unit: 'ms', seine: percentile(seine, p), anchor: percentile(rtt, p), anchorLabel: label, better: 'lower',
        })),
        { metric: `process RSS with ${what}`, unit: 'MiB', seine: rss, anchor: baseRss, anchorLabel: 'the same process before the controller and agents started', better: 'lower' },
      ];
    } finally {
      for (const a of agents) await withDeadline(a.stop(), 10_000, `stopping agent ${a.node}`).catch(() => {});
      await withDeadline(controller?.stop() ?? Promise.resolve(), 30_000, 'stopping the controller').catch(() => {});
      await raw.stop();
      await tmp.remove();
    }
  },
};
