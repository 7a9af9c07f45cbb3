// The flows bench's exporter process: polls a private OVS holding 10k connections twice
// (first poll records them all, the second is steady state) and reports times and RSS as JSON.
import { FlowExporter } from '../../src/agent/flows/exporter.js';
import { FlowStore } from '../../src/agent/flows/store.js';
import { ovsEnv } from '../../src/lab/ovs-instance.js';
import { CONNECTIONS, sourceFor } from './flows-conntrack.js';

const [dir, ctl, table, db] = process.argv.slice(2) as [string, string, string, string];
const gc = (globalThis as { gc?: () => void }).gc;
gc?.();
const baseRss = process.memoryUsage().rss;
const store = await FlowStore.open(db);
const { source, stats } = sourceFor({ dir, vswitchdCtl: ctl, env: ovsEnv(dir) }, Number(table));
const exporter = new FlowExporter({
  source, zone: 65520,
  inventory: { snapshot: () => ({ nodes: new Map(), namespaces: new Map(), pods: new Map() }) },
  rule: () => undefined, sinks: [(b) => store.insert(b)],
});
let t0 = performance.now();
const first = await exporter.pollOnce();
const firstPollMs = performance.now() - t0;
const firstPhases = exporter.stats.lastPhasesMs;
if (first.length < CONNECTIONS * 0.99) throw new Error(`first poll recorded ${first.length}`);
t0 = performance.now();
await exporter.pollOnce();
const steadyPollMs = performance.now() - t0;
const steadyPhases = exporter.stats.lastPhasesMs;
gc?.();
const rss = process.memoryUsage().rss;
if (exporter.tracker.size < CONNECTIONS * 0.99) throw new Error(`tracking ${exporter.tracker.size}`);
await store.close();
await stats.close();
process.stdout.write(`${JSON.stringify({ firstPollMs, steadyPollMs, firstPhases, steadyPhases, rssMB: rss / 2 ** 20, baseRssMB: baseRss / 2 ** 20 })}\n`);
