// Pod-to-pod TCP throughput across two lab boxes (geneve) through Seine's pipeline, against
// the raw OVS tunnel between the same namespaces without the pipeline (three kinds of plain
// flows: ARP → NORMAL, local pod IP → its port, peer pod CIDR → tunnel; the ovs-lab.md recipe).
// Fair by construction: once the agents have installed the pipeline they are stopped (the
// flows stay: fail_mode secure), each box's table is snapshotted (`dump-flows --no-stats`
// prints exactly what replace-flows reads back), and rounds alternate on the same boxes,
// pods and tunnel: replace-flows(Seine's snapshot) → transfer, replace-flows(raw) → transfer.
// Medians of ROUNDS each; the first side alternates so neither always runs warm or cold.
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { run } from '../../src/lib/exec.js';
import { sleep, stopProcesses } from '../../src/lib/process.js';
import { Lab } from '../../src/lab/lab.js';
import { specFromFlags } from '../../src/lab/spec.js';
import type { BoxState, LabState, PodState } from '../../src/lab/state.js';
import { percentile, withDeadline, type Bench, type BenchRow } from './harness.js';

const MB = Number(process.env.BENCH_DP_MB ?? 50);
const ROUNDS = Number(process.env.BENCH_DP_ROUNDS ?? 7);
const PORT = 5201;

/** Seconds to move MB megabytes over TCP from one pod to another (nc, like ovs-lab.md). */
async function transferSeconds(from: PodState, to: PodState): Promise<number> {
  const script = `nc -l -p ${PORT} >/dev/null & L=$!; sleep 0.2; echo ready; wait $L`;
  const server = run('ip', ['netns', 'exec', to.netns, 'sh', '-c', script], { timeoutMs: 60_000 });
  // Start the clock once the listener is up (a fixed sleep was too short on a busy machine).
  for (let i = 0; ; i++) {
    const { stdout } = await run('ip', ['netns', 'exec', to.netns, 'ss', '-Hltn', `sport = :${PORT}`], { allowFailure: true, timeoutMs: 10_000 });
    if (stdout.trim()) break;
    if (i > 100) throw new Error(`nc did not listen on ${to.ip}:${PORT}`);
    await sleep(50);
  }
  const t0 = process.hrtime.bigint();
  await run('ip', ['netns', 'exec', from.netns, 'sh', '-c', `head -c ${MB * 1024 * 1024} /dev/zero | nc -N -w 5 ${to.ip} ${PORT}`], { timeoutMs: 60_000 });
  await server;
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

const mgmtOf = (box: BoxState) => `unix:${path.join(box.ovsDir, 'br-int.mgmt')}`;
const envOf = (box: BoxState) => ({ ...process.env, OVS_RUNDIR: box.ovsDir });

/** Makes br-int hold exactly these flows (dump-flows --no-stats text), atomically. */
async function replaceFlows(box: BoxState, flows: string): Promise<void> {
  await run('ovs-ofctl', ['-O', 'OpenFlow15', '--bundle', 'replace-flows', mgmtOf(box), '-'], { env: envOf(box), input: flows, timeoutMs: 120_000 });
}

async function snapshot(box: BoxState): Promise<string> {
  return (await run('ovs-ofctl', ['-O', 'OpenFlow15', 'dump-flows', '--no-stats', mgmtOf(box)], { env: envOf(box), timeoutMs: 120_000 })).stdout;
}

async function rawFlows(box: BoxState, state: LabState): Promise<string> {
  const env = envOf(box);
  const { stdout } = await run('ovs-vsctl', [`--db=unix:${box.ovsDir}/db.sock`, '-f', 'csv', '--no-headings', '--columns=name,ofport', 'list', 'Interface'], { env, timeoutMs: 60_000 });
  const ofport = new Map(stdout.trim().split('\n').map((l) => l.split(',') as [string, string]));
  const flows = ['priority=10,arp actions=NORMAL'];
  for (const p of state.pods.filter((x) => x.box === box.name)) flows.push(`priority=10,ip,nw_dst=${p.ip} actions=mod_dl_dst:${p.mac},output:${ofport.get(p.hostIfname!)}`);
  for (const peer of state.boxes.filter((b) => b !== box)) flows.push(`priority=10,ip,nw_dst=${peer.podCIDR} actions=set_field:${peer.underlayIP}->tun_dst,output:1`);
  return flows.join('\n') + '\n';
}

export const bench: Bench = {
  name: 'datapath',
  async run(): Promise<BenchRow[]> {
    const dir = await mkdtemp('/tmp/sl-bench-dp-');
    const lab = new Lab(dir);
    try {
      const state = await withDeadline(lab.up(specFromFlags(2, 1)), 5 * 60_000, 'lab up of 2 boxes');
      const [a, b] = state.pods;
      await run('ip', ['netns', 'exec', a.netns, 'ping', '-c3', '-i', '0.3', b.ip!], { allowFailure: true, timeoutMs: 30_000 }); // tunnel ARP warm-up
      await withDeadline(stopProcesses(state.boxes.flatMap((x) => x.processes.filter((p) => p.role === 'agent'))), 60_000, 'stopping the agents');
      const tables = await Promise.all(state.boxes.map(async (box) => ({ box, seine: await snapshot(box), raw: await rawFlows(box, state) })));
      const use = (side: 'seine' | 'raw') => Promise.all(tables.map((t) => replaceFlows(t.box, t[side])));
      const seine: number[] = [];
      const raw: number[] = [];
      for (const side of ['raw', 'seine'] as const) await use(side).then(() => transferSeconds(a, b)); // warm-up, untimed: the lab has just come up
      for (let i = 0; i < ROUNDS; i++) {
        for (const side of i % 2 ? (['raw', 'seine'] as const) : (['seine', 'raw'] as const)) {
          await use(side);
          (side === 'seine' ? seine : raw).push(await transferSeconds(a, b));
        }
      }
      await use('seine');
      for (const t of tables) if ((await snapshot(t.box)) !== t.seine) throw new Error(`${t.box.name}: Seine's flow table did not come back byte-identical`);
      const paired = percentile(seine.map((x, i) => raw[i] / x), 50);
      process.stderr.write(`datapath bench: seine ${seine.map((x) => x.toFixed(2)).join(' ')} s; raw ${raw.map((x) => x.toFixed(2)).join(' ')} s; median per-round ratio ${paired.toFixed(2)}\n`);
      const mbps = (s: number) => (MB * 8) / s;
      return [{
        metric: `pod-to-pod TCP across boxes (geneve, ${MB} MB, median of ${ROUNDS})`,
        unit: 'Mbit/s',
        seine: mbps(percentile(seine, 50)),
        anchor: mbps(percentile(raw, 50)),
        anchorLabel: 'raw OVS tunnel flows, same namespaces, no pipeline',
        better: 'higher',
        goal: '>= 0.9',
      }];
    } finally {
      await lab.down();
      await rm(dir, { recursive: true, force: true });
    }
  },
};
