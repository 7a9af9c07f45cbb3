// Apply → Realized on all boxes in a 3-box lab: an ACNP changed through the REST API (each
// round a new generation and new flows), timed until the controller reports it Realized on 3/3
// (status polled every 5 ms), against the raw broker round trip of the same messages (desired
// to 3 nodes, reported back) through a bare aedes in the same run. With SEINE_PHASE_LOG=1 it also
// prints where the rounds' time went (phase-log.ts).
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { SeinectlConfigSchema } from '../../src/api/config.js';
import { RestClient } from '../../src/controller/client/rest-client.js';
import { Lab } from '../../src/lab/lab.js';
import type { LabState } from '../../src/lab/state.js';
import { specFromFlags } from '../../src/lab/spec.js';
import { sleep } from '../../src/lib/process.js';
import { percentile, withDeadline, type Bench, type BenchRow } from './harness.js';
import { rawRoundTrips, startRawBroker } from './sync-anchor.js';
import { after, latest, phaseLogOn, phaseTable, readSpans, timelineTable, type Round, type SpanLine } from './phase-log.js';

const ROUNDS = 60;
const ACNPS = '/apis/crd.antrea.io/v1beta1/clusternetworkpolicies';
const KEY = 'ClusterNetworkPolicy.crd.antrea.io//bench';

const acnp = (port: number) => ({
  apiVersion: 'crd.antrea.io/v1beta1', kind: 'ClusterNetworkPolicy', metadata: { name: 'bench' },
  spec: {
    priority: 5, tier: 'securityops', appliedTo: [{ podSelector: { matchLabels: { app: 'demo' } } }],
    ingress: [{ action: 'Allow', from: [{ podSelector: { matchLabels: { role: 'client' } } }], ports: [{ protocol: 'TCP', port }] }],
  },
});

interface Status { phase: string; observedGeneration: number; currentNodesRealized: number; desiredNodesRealized: number }

/** Applies a new generation; resolves with the ms until the controller says Realized on every box. */
/** A REST client of the lab's controller: HTTPS with its CA and the admin token of its admin file. */
export function labClient(state: LabState): RestClient {
  const admin = SeinectlConfigSchema.parse(parse(readFileSync(state.controller!.adminFile!, 'utf8')));
  return new RestClient(state.controller!.url, { token: admin.token, ca: readFileSync(admin.certificateAuthority!) });
}

export async function applyUntilRealized(c: RestClient, body: unknown, nodes: number, pollMs: number, round?: Round): Promise<number> {
  const t0 = performance.now();
  if (round) round.t0 = performance.timeOrigin + t0;
  const res = await withDeadline(c.request<{ items: { generation: number }[] }>('POST', ACNPS, JSON.stringify(body), { 'content-type': 'application/json' }), 30_000, 'POST of the bench ACNP');
  const generation = res.items[0]!.generation;
  for (;;) {
    const s = (await withDeadline(c.request<{ status?: Status }>('GET', `${ACNPS}/bench`), 30_000, 'GET of the bench ACNP\'s status')).status;
    if (s?.observedGeneration === generation && s.phase === 'Realized' && s.currentNodesRealized === nodes) {
      const t1 = performance.now();
      if (round) round.t1 = performance.timeOrigin + t1;
      return t1 - t0;
    }
    if (performance.now() - t0 > 30_000) throw new Error(`generation ${generation} not Realized on ${nodes} nodes in 30 s: ${JSON.stringify(s)}`);
    await sleep(pollMs);
  }
}

export const bench: Bench = {
  name: 'sync-lab',
  async run(): Promise<BenchRow[]> {
    const lab = new Lab(await mkdtemp('/tmp/sl-bench-sync-'));
    const raw = await startRawBroker(path.join(lab.dir, 'raw.sock'));
    try {
      await withDeadline(lab.up(specFromFlags(3, 1)), 5 * 60_000, 'lab up of 3 boxes');
      // The policy applies to a pod on every box (the controller's span is then all three), and a
      // client pod makes every round's rule a real flow change on every box.
      for (const b of ['box1', 'box2', 'box3']) await withDeadline(lab.labelPod({ namespace: 'default', name: `${b}-pod1` }, [{ key: 'app', value: 'demo' }]), 60_000, `labelling ${b}-pod1`);
      await withDeadline(lab.labelPod({ namespace: 'default', name: 'box3-pod1' }, [{ key: 'role', value: 'client' }]), 60_000, 'labelling box3-pod1');
      const state = await lab.current();
      const server = labClient(state);
      const seine: number[] = [];
      const rounds: Round[] = [];
      for (let i = 0; i < ROUNDS + 3; i++) {
        const round = { t0: 0, t1: 0 };
        const ms = await applyUntilRealized(server, acnp(1000 + i), 3, 5, round);
        if (i >= 3) seine.push(ms); // the first rounds warm up the agents' computation and OVS
        if (i >= 3) rounds.push(round);
      }
      if (phaseLogOn) {
        const spans = await readSpans(state, lab.dir);
        process.stderr.write(`sync-lab phases:\n${phaseTable(spans, rounds)}\n${timelineTable(spans, rounds, syncMarks)}\n`);
      }
      const anchor = await withDeadline(rawRoundTrips(raw.socketUrl!, state.boxes.map((b) => b.name), (g) => ({ [KEY]: { generation: g, spec: acnp(1000 + g).spec } })), 60_000, 'the raw echo clients connecting');
      const rtt: number[] = [];
      for (let i = 0; i < ROUNDS + 3; i++) {
        const ms = await withDeadline(anchor.round(), 30_000, `raw round ${i}: 3 replies through the bare aedes`);
        if (i >= 3) rtt.push(ms);
      }
      await withDeadline(anchor.close(), 10_000, 'closing the raw echo clients').catch(() => {});
      const label = 'raw aedes round trip, same messages (desired ×3 → reported ×3)';
      return [50, 99].map((p): BenchRow => ({
        metric: `apply → Realized 3/3 lab boxes p${p}`, unit: 'ms', seine: percentile(seine, p), anchor: percentile(rtt, p),
        anchorLabel: label, better: 'lower', ...(p === 99 ? { goal: 'p99 < 40 ms' } : {}),
      }));
    } finally {
      await raw.stop();
      await lab.down();
      await rm(lab.dir, { recursive: true, force: true });
    }
  },
};

/** One apply round's steps, controller → boxes → controller, the slowest box where there are three. */
function syncMarks(_r: Round, spans: SpanLine[]): [string, number | undefined][] {
  const ctl = (p: string) => spans.filter((s) => s.source === 'controller' && s.path === p);
  const boxes = spans.filter((s) => s.source !== 'controller' && s.path === 'agent.desired');
  // The reports that carry these documents' outcome (not a stats or inventory report that happened to come in).
  const reports = ctl('controller.report').filter((r) => boxes.some((b) => b.source === r.node && b.generation === r.generation));
  const publication = ctl('controller.publish').find((s) => Number(s.changed) > 0);
  return [
    ['controller: POST in', ctl('controller.rest').find((s) => s.method === 'POST')?.at],
    ['controller: stored', ctl('controller.apply')[0]?.end],
    ['controller: publication starts', after(publication, 'queued')],
    ['controller: documents built', after(publication, 'build')],
    ['controller: documents sent (PUBACKs)', publication?.end],
    ['first box: document in', boxes.length ? Math.min(...boxes.map((b) => b.at)) : undefined],
    ['last box: document in', latest(boxes.map((b) => b.at))],
    ['last box: persisted', latest(boxes.map((b) => after(b, 'persist')))],
    ['last box: realized (flows in)', latest(boxes.map((b) => after(b, 'realize')))],
    ['last box: report out (PUBACK)', latest(boxes.map((b) => b.end))],
    ['controller: last report in', latest(reports.map((r) => r.at))],
    ['controller: last report written', latest(reports.map((r) => after(r, 'write')))],
  ];
}
