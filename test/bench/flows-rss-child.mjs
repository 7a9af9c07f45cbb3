// The flows bench's memory child: the agent's own flow exporter (startFlowVisibility, as
// Agent.start calls it) on the bench's private OVS holding 10k live connections, run by plain
// node from dist/ with the box's Node settings (the bench passes src/lib/small-box.ts's flags),
// as a box runs it. Not through tsx: its module loader is a second V8 isolate in the process
// (about 45 MB more RSS than the agent has). Polls every second with 1 s timeouts, so the first
// poll stores 10k records and the next 10k idle records. Prints one JSON line: VmRSS after a
// full GC with 10k connections tracked (after 2 polls), and again after `polls` polls.
//   node <flags> --expose-gc flows-rss-child.mjs <ovs dir> <state dir> <polls>
// Type-checked (test/tsconfig.json, checkJs): each dist module is cast to its source's type, so a
// renamed option or export fails `tsc`, not the bench an hour in.
// @ts-check
import { mkdirSync, readFileSync } from 'node:fs';

const dist = new URL('../../dist/', import.meta.url);
/** @type {typeof import('../../src/api/config.js')} */
const { AgentConfigSchema } = await import(new URL('api/config.js', dist).href);
/** @type {typeof import('../../src/agent/ovs/pipeline.js')} */
const { Pipeline } = await import(new URL('agent/ovs/pipeline.js', dist).href);
/** @type {typeof import('../../src/agent/ovs/flow-stats.js')} */
const { BridgeStats } = await import(new URL('agent/ovs/flow-stats.js', dist).href);
/** @type {typeof import('../../src/agent/flows/index.js')} */
const { startFlowVisibility } = await import(new URL('agent/flows/index.js', dist).href);

const [dir, stateDir, pollsArg] = process.argv.slice(2);
const polls = Number(pollsArg);
const CONNECTIONS = 10_000;
const rssMiB = () => {
  if (!globalThis.gc) throw new Error('run with --expose-gc');
  globalThis.gc();
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]) / 1024;
};

mkdirSync(stateDir, { recursive: true });
const cfg = AgentConfigSchema.parse({
  nodeName: 'bench', datapathType: 'netdev', podCIDR: '10.99.0.0/16', stateDir, ovsRunDir: dir,
  inventory: { source: 'file', path: `${stateDir}/inventory.json` },
  flowExporter: { pollIntervalSeconds: 1, activeFlowExportTimeoutSeconds: 1, idleFlowExportTimeoutSeconds: 1 },
});
const pipeline = Pipeline.build();
const stats = new BridgeStats(`unix:${dir}/br-int.mgmt`);
// The exporter only reads snapshots (pod names for the records); an empty inventory names none.
const inventory = { snapshot: () => ({ nodes: new Map(), namespaces: new Map(), pods: new Map() }) };
const baseMiB = rssMiB();
const fv = await startFlowVisibility({ cfg, stats, pipeline, inventory, rule: () => undefined });
// Polls every second: a poll that keeps failing (the log says why) ends the child, not the bench.
const until = async (/** @type {number} */ n) => {
  const deadline = Date.now() + (n + 60) * 1000;
  while (fv.exporter.stats.polls < n) {
    if (Date.now() > deadline) throw new Error(`only ${fv.exporter.stats.polls} of ${n} polls done in ${n + 60} s (${fv.exporter.stats.errors} failed)`);
    await new Promise((r) => setTimeout(r, 20));
  }
};
const tracked = () => {
  const n = fv.exporter.tracker.size;
  if (n < CONNECTIONS * 0.99) throw new Error(`tracking ${n} connections, not ${CONNECTIONS} (entries expired? errors: ${fv.exporter.stats.errors})`);
  return n;
};
await until(2);
const liveMiB = rssMiB();
const liveTracked = tracked();
await until(polls);
const laterMiB = rssMiB();
const laterTracked = tracked();
const records = fv.exporter.stats.records;
await fv.stop();
await stats.close();
process.stdout.write(`${JSON.stringify({ baseMiB, liveMiB, liveTracked, laterMiB, laterTracked, polls, records })}\n`);
