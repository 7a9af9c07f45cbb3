// Traceflow latency on a 2-box lab: from the REST request that creates a Traceflow to the
// status reading Succeeded (polled every 5 ms), intra-box and inter-box, p50 and p99. The
// anchor, measured in the same run between the same pods: a raw `ip netns exec … ping -c1`
// (process start and one ICMP round trip), the cheapest way to ask "can A reach B?" by hand.
// With SEINE_PHASE_LOG=1 it also prints where the traces' time went (phase-log.ts).
import { mkdtemp, rm } from 'node:fs/promises';
import { Lab } from '../../src/lab/lab.js';
import { specFromFlags } from '../../src/lab/spec.js';
import type { PodState } from '../../src/lab/state.js';
import { run } from '../../src/lib/exec.js';
import { RestClient } from '../../src/controller/client/rest-client.js';
import type { StoredObject } from '../../src/api/controller-api.js';
import type { TraceflowStatus } from '../../src/api/traceflow.js';
import { percentile, pollUntil, timeMs, withDeadline, type Bench, type BenchRow } from './harness.js';
import { labClient } from './sync-lab.bench.js';
import { after, phaseLogOn, phaseTable, readSpans, timelineTable, type Round, type SpanLine } from './phase-log.js';

const N = 30;

async function traceOnce(c: RestClient, src: PodState, dst: PodState, i: number, round?: Round): Promise<number> {
  const name = `bench-${dst.name}-${i}`;
  const manifest = { apiVersion: 'crd.antrea.io/v1beta1', kind: 'Traceflow', metadata: { name }, spec: { source: { namespace: src.namespace, pod: src.name }, destination: { namespace: dst.namespace, pod: dst.name } } };
  const [ms, status] = await timeMs(async () => {
    if (round) round.t0 = performance.timeOrigin + performance.now();
    await withDeadline(c.request('POST', '/api/v1/apply', JSON.stringify(manifest)), 30_000, `creating traceflow ${name}`);
    // A Traceflow times out by itself (Failed) well within this; past it the trace is stuck Running.
    return pollUntil(`traceflow ${name} leaving Running`, 60_000, async () => {
      const o = await c.request<StoredObject>('GET', `/apis/crd.antrea.io/v1beta1/traceflows/${name}`);
      const st = o.status as TraceflowStatus | undefined;
      return st?.phase !== 'Running' ? { st } : undefined;
    }, { intervalMs: 5 }).then((r) => r.st);
  });
  if (round) round.t1 = round.t0 + ms;
  await withDeadline(c.request('DELETE', `/apis/crd.antrea.io/v1beta1/traceflows/${name}`), 30_000, `deleting traceflow ${name}`);
  if (status?.phase !== 'Succeeded') throw new Error(`traceflow ${src.name} -> ${dst.name}: ${status?.phase}: ${status?.reason}`);
  return ms;
}

async function rawPing(src: PodState, dst: PodState): Promise<number> {
  const [ms, r] = await timeMs(() => run('ip', ['netns', 'exec', src.netns, 'ping', '-c1', '-W', '2', dst.ip!], { allowFailure: true, timeoutMs: 10_000 }));
  if (r.code !== 0) throw new Error(`ping ${src.name} -> ${dst.name} failed`);
  return ms;
}

export const bench: Bench = {
  name: 'traceflow',
  async run(): Promise<BenchRow[]> {
    const dir = await mkdtemp('/tmp/sl-bench-tf-');
    const lab = new Lab(dir);
    try {
      const state = await withDeadline(lab.up(specFromFlags(2, 2)), 5 * 60_000, 'lab up of 2 boxes × 2 pods');
      const pod = (n: string) => state.pods.find((p) => p.name === n)!;
      const c = labClient(state);
      const src = pod('box1-pod1');
      const rows: BenchRow[] = [];
      for (const [label, dst, goal] of [['intra-box', pod('box1-pod2'), 200], ['inter-box', pod('box2-pod1'), 30]] as const) {
        await rawPing(src, dst).catch(() => rawPing(src, dst)); // the first tunnel packet may be lost
        // Warm-up, also until the boxes have reported their pods' IPs (lab up returns before).
        for (let w = 0; ; w++) {
          try {
            await traceOnce(c, src, dst, -1 - w);
            break;
          } catch (err) {
            if (w >= 30) throw err;
            await new Promise((r) => setTimeout(r, 500));
          }
        }
        const tf: number[] = [];
        const raw: number[] = [];
        const rounds: Round[] = [];
        for (let i = 0; i < N; i++) {
          const round = { t0: 0, t1: 0 };
          tf.push(await traceOnce(c, src, dst, i, round));
          rounds.push(round);
          raw.push(await rawPing(src, dst));
        }
        if (phaseLogOn) {
          const spans = await readSpans(state, dir);
          process.stderr.write(`traceflow ${label} phases:\n${phaseTable(spans, rounds)}\n${timelineTable(spans, rounds, traceMarks)}\n`);
        }
        for (const p of [50, 99]) {
          rows.push({
            metric: `traceflow request -> Succeeded p${p} (${label})`,
            unit: 'ms',
            seine: percentile(tf, p),
            anchor: percentile(raw, p),
            anchorLabel: 'raw ip netns exec ping -c1, same pods',
            better: 'lower',
            ...(p === 50 ? { goal: `p50 < ${goal} ms` } : {}),
          });
        }
      }
      return rows;
    } finally {
      await lab.down();
      await rm(dir, { recursive: true, force: true });
    }
  },
};

/** One trace's steps: the controller's run, each box's start (flows, cache purge, packet out). */
function traceMarks(_r: Round, spans: SpanLine[]): [string, number | undefined][] {
  const ctl = (p: string) => spans.filter((s) => s.source === 'controller' && s.path === p);
  const run = ctl('controller.traceflow')[0];
  const start = (role: string) => spans.find((s) => s.path === 'agent.traceflow' && s.role === role);
  const receiver = start('Receiver');
  const sender = start('Sender');
  return [
    ['controller: POST in', ctl('controller.rest').find((s) => s.method === 'POST')?.at],
    ['controller: stored', ctl('controller.apply')[0]?.end],
    ['controller: run starts', run?.at],
    ['controller: planned', after(run, 'plan')],
    ['receiver: start in', receiver?.at],
    ['receiver: tag flows in', after(receiver, 'sync')],
    ['receiver: cache purged', after(receiver, 'purge')],
    ['controller: receivers started', after(run, 'receiverStart')],
    ['sender: start in', sender?.at],
    ['sender: tag flows in', after(sender, 'sync')],
    ['sender: cache purged', after(sender, 'purge')],
    ['sender: packet out', after(sender, 'packetOut')],
    ['controller: sender started', after(run, 'senderStart')],
    ['controller: results collected', after(run, 'collect')],
    ['controller: status Succeeded', after(run, 'status')],
  ];
}
