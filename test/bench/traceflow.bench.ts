// Traceflow latency on a 2-box lab: from the REST request that creates a Traceflow to the
// status reading Succeeded (polled every 5 ms), intra-box and inter-box, p50 and p99. The
// anchor, measured in the same run between the same pods: a raw `ip netns exec … ping -c1`
// (process start and one ICMP round trip), the cheapest way to ask "can A reach B?" by hand.
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

const N = 30;

async function traceOnce(c: RestClient, src: PodState, dst: PodState, i: number): Promise<number> {
  const name = `bench-${dst.name}-${i}`;
  const manifest = { apiVersion: 'crd.antrea.io/v1beta1', kind: 'Traceflow', metadata: { name }, spec: { source: { namespace: src.namespace, pod: src.name }, destination: { namespace: dst.namespace, pod: dst.name } } };
  const [ms, status] = await timeMs(async () => {
    await withDeadline(c.request('POST', '/api/v1/apply', JSON.stringify(manifest)), 30_000, `creating traceflow ${name}`);
    // A Traceflow times out by itself (Failed) well within this; past it the trace is stuck Running.
    return pollUntil(`traceflow ${name} leaving Running`, 60_000, async () => {
      const o = await c.request<StoredObject>('GET', `/apis/crd.antrea.io/v1beta1/traceflows/${name}`);
      const st = o.status as TraceflowStatus | undefined;
      return st?.phase !== 'Running' ? { st } : undefined;
    }, { intervalMs: 5 }).then((r) => r.st);
  });
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
      for (const [label, dst, goal] of [['intra-box', pod('box1-pod2'), 200], ['inter-box', pod('box2-pod1'), 500]] as const) {
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
        for (let i = 0; i < N; i++) {
          tf.push(await traceOnce(c, src, dst, i));
          raw.push(await rawPing(src, dst));
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
