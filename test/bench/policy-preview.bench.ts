// Impact preview and recommendation over a box's week of history, each against a raw anchor
// measured in the same run:
//   impact preview   the box's flows.impact method end to end as the agent's rpc registry runs it
//                    (params checked by the schema, the grouped scan of 7 days of records into
//                    10k distinct connections, two worlds computed, 20k evaluations)
//   recommendation   the box's flows.connections method plus the controller's recommender over
//                    the 10k connections, YAML-ready objects out
//   anchor           better-sqlite3 reading every raw record of the window (SELECT *), no grouping
//
// World: 100 pods in 5 namespaces (20 workloads by `app`), 10k distinct connections between them
// (3 records each, spread over 7 days: 30k rows), 40 policies (ACNP and K8s NetworkPolicy); the
// change is one more ACNP dropping ingress to one workload. Every connection started on this box
// (it speaks for all of them). PREVIEW_PHASES=1 prints the preview's phases (scan, worlds, evaluations).
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { FlowStore, type StoredRecord } from '../../src/agent/flows/store.js';
import { registerImpactMethods } from '../../src/agent/flows/impact-rpc.js';
import { RpcHandlers } from '../../src/agent/sync/rpc-handlers.js';
import { ENVELOPE_VERSION, rpcTopic } from '../../src/api/mqtt.js';
import { IMPACT_RPC, ConnectionsRpcResultSchema, ImpactNodeResultSchema } from '../../src/api/impact.js';
import type { ManifestObject } from '../../src/api/kinds.js';
import { evaluatorFor } from '../../src/policy/impact.js';
import { recommend } from '../../src/policy/recommend.js';
import { syntheticRecord } from '../helpers/flow-records.js';
import { acnp, inventory, knp, pod } from '../unit/policy/fixtures.js';
import { timeMs, type Bench, type BenchRow } from './harness.js';

const PODS = 100;
const CONNECTIONS = 10_000;
const RECORDS_PER = 3;
const WEEK = 7 * 86_400;
const NOW = 1_800_000_000;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const nsOf = (i: number) => `ns${i % 5}`;
const appOf = (i: number) => `app${i % 20}`;
const ipOf = (i: number) => `10.42.${Math.floor(i / 50)}.${10 + (i % 50)}`;
const pods = Array.from({ length: PODS }, (_, i) => pod(nsOf(i), `pod${i}`, { app: appOf(i) }, ipOf(i), i % 2 ? 'box1' : 'box2'));
const inv = inventory(pods, {}, ['box1', 'box2']);

function records(): StoredRecord[][] {
  const batches: StoredRecord[][] = [];
  let batch: StoredRecord[] = [];
  for (let r = 0; r < RECORDS_PER; r++) {
    for (let k = 0; k < CONNECTIONS; k++) {
      const src = k % PODS;
      const m = Math.floor(k / PODS);
      const dst = (src + 1 + m) % PODS;
      const end = NOW - WEEK + Math.floor(((k * RECORDS_PER + r) / (CONNECTIONS * RECORDS_PER)) * (WEEK - 60));
      const rec = syntheticRecord(k, end, {
        sourceIPv4Address: ipOf(src), sourcePodNamespace: nsOf(src), sourcePodName: `pod${src}`, sourceNodeName: 'box1',
        destinationIPv4Address: ipOf(dst), destinationPodNamespace: nsOf(dst), destinationPodName: `pod${dst}`, destinationNodeName: dst % 2 ? 'box1' : 'box2',
        destinationTransportPort: 8000 + m, sourceTransportPort: 30000 + r,
      });
      batch.push({ connKey: `c${k}-${r}`, record: rec.record });
      if (batch.length === 5000) (batches.push(batch), (batch = []));
    }
  }
  if (batch.length) batches.push(batch);
  return batches;
}

function policies(): ManifestObject[] {
  const out: ManifestObject[] = [];
  for (let i = 0; i < 20; i++) {
    out.push(acnp(`allow-${i}`, {
      priority: 10 + i, appliedTo: [{ podSelector: { matchLabels: { app: appOf(i) } } }],
      ingress: [{ action: 'Allow', from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': nsOf(i + 1) } } }], ports: [{ protocol: 'TCP', port: 8000, endPort: 8050 }] }],
    }));
    out.push(knp(nsOf(i), `np-${i}`, {
      podSelector: { matchLabels: { app: appOf(i) } }, policyTypes: ['Ingress'],
      ingress: [{ from: [{ namespaceSelector: {} }], ports: [{ protocol: 'TCP', port: 8000, endPort: 8099 }] }],
    }));
  }
  return out;
}

const CHANGE = acnp('drop-app3', { priority: 1, appliedTo: [{ podSelector: { matchLabels: { app: 'app3' } } }], ingress: [{ action: 'Drop', from: [{ namespaceSelector: {} }] }] });

async function call(rpc: RpcHandlers, method: string, params: unknown): Promise<unknown> {
  const reply = await rpc.handle(rpcTopic('box1', 'bench'), { v: ENVELOPE_VERSION, node: 'box1', ts: Date.now(), kind: 'rpc-request', payload: { method, params } });
  const p = reply!.envelope.payload;
  if (!p.ok) throw new Error(`${method}: ${p.error.code}: ${p.error.message}`);
  return p.result;
}

export const bench: Bench = {
  name: 'policy-preview',
  async run(): Promise<BenchRow[]> {
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'seine-preview-bench-'));
    const file = path.join(tmp, 'flows.db');
    try {
      const store = await FlowStore.open(file, { maxAgeS: 8 * 86_400 });
      for (const b of records()) await store.insert(b);
      const rpc = new RpcHandlers('box1');
      registerImpactMethods(rpc, { node: 'box1', store, inventory: () => inv, evaluator: evaluatorFor });
      const current = policies();
      const window = { since: NOW - WEEK, until: NOW };
      const raw = new Database(file, { readonly: true });
      const scan = raw.prepare('SELECT * FROM flow_records WHERE flowEndSeconds >= ? AND flowEndSeconds <= ?');

      const preview: number[] = [];
      const recommendation: number[] = [];
      const anchor: number[] = [];
      let denied = 0;
      let connections = 0;
      let written = 0;
      for (let round = 0; round < 3; round++) {
        const [ms, res] = await timeMs(() => call(rpc, IMPACT_RPC.impact, { current, apply: [CHANGE], ...window, limit: 1000 }));
        const r = ImpactNodeResultSchema.parse(res);
        denied = r.counts.newlyDenied;
        connections = r.counts.connections;
        preview.push(ms);
        const [msRec, out] = await timeMs(async () => {
          const c = ConnectionsRpcResultSchema.parse(await call(rpc, IMPACT_RPC.connections, { ...window, allowedOnly: true, limit: 50_000 }));
          return recommend({ namespace: 'ns0', kind: 'netpol', connections: c.connections, podsOf: (ns) => pods.filter((p) => p.namespace === ns) });
        });
        written = out.items.length;
        recommendation.push(msRec);
        if (process.env.PREVIEW_PHASES) {
          const { recordedConnections } = await import('../../src/agent/flows/connections.js');
          const { previewImpact, worldAfter } = await import('../../src/policy/impact.js');
          const [a, rows] = await timeMs(() => recordedConnections(store.db, { ...window, limit: 1e6 }));
          const [b, evs] = await timeMs(async () => [evaluatorFor(current, inv), evaluatorFor(worldAfter(current, [CHANGE]), inv)] as const);
          const [c] = await timeMs(async () => previewImpact(rows.connections.map((x) => ({ connection: x.connection, owned: true })), evs[0], evs[1], 1000));
          process.stderr.write(`phases: scan ${a.toFixed(0)} ms, worlds ${b.toFixed(0)} ms, evaluations ${c.toFixed(0)} ms\n`);
        }
        const [msRaw] = await timeMs(async () => scan.all(window.since, window.until));
        anchor.push(msRaw);
      }
      raw.close();
      await store.close();
      if (connections !== CONNECTIONS) throw new Error(`the preview evaluated ${connections} connections, expected ${CONNECTIONS}`);
      if (!denied || !written) throw new Error(`nothing measured: ${denied} newly denied, ${written} policies written`);
      const label = `better-sqlite3 SELECT * of the ${CONNECTIONS * RECORDS_PER} raw records`;
      return [
        { metric: `impact preview, 7 d of ${CONNECTIONS / 1000}k connections on a box (${denied} newly denied)`, unit: 'ms', seine: median(preview), anchor: median(anchor), anchorLabel: label, better: 'lower', goal: '< 1000 ms per box' },
        { metric: `recommendation over the same (${written} policies for ns0)`, unit: 'ms', seine: median(recommendation), anchor: median(anchor), anchorLabel: label, better: 'lower', goal: '< 5000 ms' },
      ];
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  },
};
