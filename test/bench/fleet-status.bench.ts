// The controller's own cost per REST read and per pod change with a large fleet (issue #22), in
// one process and without the simulated boxes' load: a real controller (SQLite store, embedded
// aedes, REST on 127.0.0.1) whose registry holds SEINE_BENCH_BOXES nodes (default 10,000), each
// with a stored report (one pod labelled fleet=yes, app=demo on every tenth box, as sync-fleet's
// boxes report) realizing a fleet-wide policy and, on every tenth box, the demo policy. The
// cheap stand-in for sync-fleet's 10k rows (which need ten thousand MQTT sessions); reports go
// in through the controller's own intake (ReportReceiver.handle: schema, store, spans), not MQTT.
// Rows, each against an anchor measured in the same run:
//  - REST GET of the demo policy (span: a tenth of the fleet) and of the fleet policy (span:
//    every box) with status, p99, against GET /healthz on the same server;
//  - one pod added on one box (then taken away) → its policies' spans updated and its document
//    republished, p99, against a report from that box that moves no span (same intake path);
//  - documents sent per pod change, against those whose content changed;
//  - the process's RSS with the controller running, against the same process before it started.
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { ControllerConfigSchema } from '../../src/api/config.js';
import { ENVELOPE_VERSION, nodeTopic } from '../../src/api/mqtt.js';
import type { NodeReported } from '../../src/api/node-state.js';
import { Controller } from '../../src/controller/main.js';
import { NodeRegistry } from '../../src/controller/store/nodes.js';
import { ObjectStore } from '../../src/controller/store/objects.js';
import { Database } from '../../src/lib/sqlite.js';
import { DEMO, FLEET, boxPods } from './fleet-agents.js';
import { percentile, withDeadline, type Bench, type BenchRow } from './harness.js';

const BOXES = Number(process.env.SEINE_BENCH_BOXES ?? 10_000);
const GETS = 200;
const POD_CHANGES = 20;
if (!(BOXES >= 20)) throw new Error('SEINE_BENCH_BOXES must be a number ≥ 20');
const ACNPS = '/apis/crd.antrea.io/v1beta1/clusternetworkpolicies';
const NAMESPACES = { default: { 'kubernetes.io/metadata.name': 'default' } };

const policy = (name: 'fleet' | 'demo') => ({
  apiVersion: 'crd.antrea.io/v1beta1', kind: 'ClusterNetworkPolicy', metadata: { name },
  spec: {
    priority: name === 'demo' ? 4 : 5, appliedTo: [{ podSelector: { matchLabels: name === 'demo' ? { app: 'demo' } : { fleet: 'yes' } } }],
    ingress: [{ action: 'Allow', from: [{ podSelector: { matchLabels: { role: 'client' } } }], ports: [{ protocol: 'TCP', port: 80 }] }],
  },
});

/** Box `index`'s report: both policies realized at generation 1 where they apply to its pods. */
function report(node: string, index: number, extraDemo = false): NodeReported {
  const objects: NodeReported['objects'] = { [FLEET]: { generation: 1, phase: 'Realized' } };
  if (index % 10 === 0 || extraDemo) objects[DEMO] = { generation: 1, phase: 'Realized' };
  return { node, observedGeneration: 1, objects, errors: [], inventory: { pods: boxPods(index, extraDemo), namespaces: NAMESPACES }, agentVersion: 'bench', uptimeSeconds: 1 };
}

async function get(url: string): Promise<{ ms: number; body: unknown }> {
  const t = performance.now();
  const res = await fetch(url, { signal: AbortSignal.timeout(30_000) });
  if (!res.ok) throw new Error(`GET ${new URL(url).pathname}: HTTP ${res.status} ${await res.text()}`);
  const body: unknown = await res.json();
  return { ms: performance.now() - t, body };
}

type Status = { phase: string; currentNodesRealized: number; desiredNodesRealized: number };

/** GET of `name` and of /healthz, alternating; the policy's status must read `expect` every time. */
async function timeGets(server: string, name: string, expect: number): Promise<{ seine: number[]; health: number[] }> {
  const seine: number[] = [];
  const health: number[] = [];
  for (let k = 0; k < GETS; k++) {
    const g = await get(`${server}${ACNPS}/${name}`);
    const st = (g.body as { status?: Status }).status;
    if (st?.phase !== 'Realized' || st.currentNodesRealized !== expect || st.desiredNodesRealized !== expect) throw new Error(`${name}: status ${JSON.stringify(st)}, expected Realized ${expect}/${expect}`);
    seine.push(g.ms);
    health.push((await get(`${server}/healthz`)).ms);
  }
  return { seine, health };
}

export const bench: Bench = {
  name: 'fleet-status',
  deadlineMs: 10 * 60_000 + BOXES * 30,
  async run(): Promise<BenchRow[]> {
    const dir = await mkdtemp('/tmp/seine-bench-fstatus-');
    const storePath = path.join(dir, 'controller.db');
    const names = Array.from({ length: BOXES }, (_, i) => `sim-${String(i).padStart(5, '0')}`);
    let controller: Controller | undefined;
    try {
      // The fleet as a controller restarted under it finds it: nodes registered, policies stored, reports in.
      const db = await Database.open(storePath);
      try {
        const store = await ObjectStore.open(db);
        await store.apply([policy('demo'), policy('fleet')] as Parameters<ObjectStore['apply']>[0], 'bench');
        const registry = await NodeRegistry.open(db);
        for (const n of names) await registry.register(n, 'bench');
        await registry.recordReports(new Map(names.map((n, i) => [n, report(n, i)])));
      } finally {
        await db.close();
      }
      global.gc?.();
      const baseRss = process.memoryUsage().rss / 2 ** 20;
      const cfg = ControllerConfigSchema.parse({ listen: '127.0.0.1:0', brokerListen: '127.0.0.1:0', storePath, insecure: true });
      controller = await withDeadline(Controller.start(cfg), 5 * 60_000, `the controller starting with ${BOXES} nodes`, { onLate: (c) => c.stop() });
      const c = controller;
      const server = c.restUrl;
      await withDeadline(c.publisher.idle(), 5 * 60_000, 'the first publication');
      const demoSpan = Math.ceil(BOXES / 10);

      const demo = await timeGets(server, 'demo', demoSpan);
      const fleet = await timeGets(server, 'fleet', BOXES);

      // One box's reports through the controller's intake: a pod added (k even) or taken away.
      let ts = Date.now();
      const send = (index: number, r: NodeReported) => c.reports.handle(nodeTopic(names[index]!, 'reported'), Buffer.from(JSON.stringify({ v: ENVELOPE_VERSION, node: names[index], ts: ++ts, kind: 'reported', payload: r })));
      const podMs: number[] = [];
      const quietMs: number[] = [];
      const [sent0, changed0] = [c.publisher.published, c.publisher.changed];
      for (let k = 0; k < POD_CHANGES; k++) {
        const index = 1 + 10 * (k >> 1); // a box without a demo pod
        const extra = k % 2 === 0;
        let t = performance.now();
        await send(index, report(names[index]!, index, extra));
        await c.publisher.idle();
        podMs.push(performance.now() - t);
        const st = (await get(`${server}${ACNPS}/demo`)).body as { status: Status };
        if (st.status.desiredNodesRealized !== demoSpan + (extra ? 1 : 0)) throw new Error(`pod change ${k}: demo span ${st.status.desiredNodesRealized}, expected ${demoSpan + (extra ? 1 : 0)}`);
        // The anchor: the same box reporting again, nothing moved (intake, store, span diff, no publication).
        t = performance.now();
        await send(index, { ...report(names[index]!, index, extra), uptimeSeconds: 2 + k });
        await c.publisher.idle();
        quietMs.push(performance.now() - t);
      }
      const sent = c.publisher.published - sent0;
      const changed = c.publisher.changed - changed0;
      global.gc?.();
      const rss = process.memoryUsage().rss / 2 ** 20;

      const what = `${BOXES} registered boxes with reports (in-process controller, SQLite, embedded broker)`;
      const gets = (name: string, span: number, t: { seine: number[]; health: number[] }) => [50, 99].map((p): BenchRow => ({
        metric: `REST GET of the ${name} policy with status (span ${span}), ${what} p${p} (n=${GETS})`, unit: 'ms', seine: percentile(t.seine, p), anchor: percentile(t.health, p),
        anchorLabel: `GET /healthz on the same server p${p}`, better: 'lower', ...(p === 99 ? { goal: 'p99 < 20 ms' } : {}),
      }));
      return [
        ...gets('demo', demoSpan, demo),
        ...gets('fleet', BOXES, fleet),
        ...[50, 99].map((p): BenchRow => ({
          metric: `one pod added/removed on one box → spans updated, its document republished, ${what} p${p} (n=${POD_CHANGES})`, unit: 'ms', seine: percentile(podMs, p), anchor: percentile(quietMs, p),
          anchorLabel: `a report from the same box that moves no span, same intake path, p${p}`, better: 'lower', ...(p === 99 ? { goal: '< 100 ms' } : {}),
        })),
        { metric: `documents sent per pod change, ${what}`, unit: 'docs', seine: sent / POD_CHANGES, anchor: changed / POD_CHANGES, anchorLabel: 'documents whose content changed', better: 'lower', goal: 'sent = changed = 1' },
        { metric: `process RSS with the controller of ${what}, after the reads and changes`, unit: 'MiB', seine: rss, anchor: baseRss, anchorLabel: 'the same process before the controller started (store written)', better: 'lower' },
      ];
    } finally {
      await withDeadline(controller?.stop() ?? Promise.resolve(), 60_000, 'stopping the controller').catch(() => {});
      await rm(dir, { recursive: true, force: true });
    }
  },
};
