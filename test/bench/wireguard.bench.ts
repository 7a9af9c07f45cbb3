// Pod-to-pod TCP throughput across two WireGuard-encrypted lab boxes (issue 21), against raw
// wireguard-go between the same box namespaces in the same run (a second wireguard-go pair with
// its own keys and addresses, no OVS, no Seine), and against the same pods unencrypted (the
// peer routes pointed at the underlay instead of the WireGuard device: Seine's noEncap path).
// As in datapath.bench.ts the agents are stopped once they have converged (flows, routes and
// the device stay), so nothing rewrites the routes between rounds; rounds alternate the order.
import { existsSync as exists, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { run } from '../../src/lib/exec.js';
import { sleep, stopProcesses, type ProcessRef } from '../../src/lib/process.js';
import { Lab } from '../../src/lab/lab.js';
import { spawnDetached } from '../../src/lab/lab-processes.js';
import { WIREGUARD_ROLE } from '../../src/lab/wireguard.js';
import { specFromFlags } from '../../src/lab/spec.js';
import { uapiSocket } from '../../src/agent/wireguard/uapi.js';
import { SEINE_ROUTE_PROTO, gatewayIP } from '../../src/agent/route/node-routes.js';
import type { BoxState } from '../../src/lab/state.js';
import { percentile, type Bench, type BenchRow } from './harness.js';

const MB = Number(process.env.BENCH_WG_MB ?? 20);
const ROUNDS = Number(process.env.BENCH_WG_ROUNDS ?? 5);
const PORT = 5201;
const RAW_PORT = 51821;

const inNs = (netns: string, cmd: string, timeoutMs = 60_000) => run('ip', ['netns', 'exec', netns, 'sh', '-ec', cmd], { timeoutMs });

/** CPU seconds (user + system, all threads) the processes have used so far: /proc/<pid>/stat fields 14 and 15. */
function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]);
    } catch {
      /* gone */
    }
  }
  return ticks / 100; // USER_HZ
}

/**
 * Packets both boxes' userspace datapaths received so far (`dpif-netdev/pmd-stats-show`, every
 * port of br-int and br-phy): how many times a packet crossed OVS, whatever its size.
 */
async function datapathPackets(boxes: BoxState[]): Promise<number> {
  let n = 0;
  for (const b of boxes) {
    const out = (await run('ovs-appctl', ['-t', path.join(b.ovsDir, 'ovs-vswitchd.ctl'), 'dpif-netdev/pmd-stats-show'])).stdout;
    for (const m of out.matchAll(/packets received: (\d+)/g)) n += Number(m[1]);
  }
  return n;
}

/** Seconds to move MB megabytes over TCP from one namespace to an address in another (nc). */
async function transferSeconds(fromNs: string, toNs: string, toIP: string): Promise<number> {
  const server = inNs(toNs, `nc -l -p ${PORT} >/dev/null`);
  for (let i = 0; ; i++) {
    const { stdout } = await run('ip', ['netns', 'exec', toNs, 'ss', '-Hltn', `sport = :${PORT}`], { allowFailure: true });
    if (stdout.trim()) break;
    if (i > 100) throw new Error(`nc did not listen in ${toNs}`);
    await sleep(50);
  }
  const t0 = process.hrtime.bigint();
  await inNs(fromNs, `head -c ${MB * 1024 * 1024} /dev/zero | nc -N -w 5 ${toIP} ${PORT}`);
  await server;
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** The anchor: a wireguard-go pair between the two box namespaces, 10.99.0.<index>/24, the pods' MTU. */
async function rawWireGuard(boxes: BoxState[], mtu: number): Promise<{ procs: ProcessRef[]; ip: (b: BoxState) => string; dev: (b: BoxState) => string }> {
  const dev = (b: BoxState) => `${b.wireGuardDevice!.slice(0, -String(b.index).length - 1)}r${b.index}`;
  const ip = (b: BoxState) => `10.99.0.${b.index}`;
  const procs: ProcessRef[] = [];
  const keys = new Map<BoxState, { priv: string; pub: string }>();
  for (const b of boxes) {
    const priv = (await run('wg', ['genkey'])).stdout.trim();
    keys.set(b, { priv, pub: (await run('wg', ['pubkey'], { input: priv + '\n' })).stdout.trim() });
    procs.push(spawnDetached({ command: 'wireguard-go', args: ['-f', dev(b)], netns: b.netns, env: process.env, logFile: path.join(b.ovsDir, 'raw-wireguard-go.log') }));
  }
  for (let i = 0; i < 100 && !boxes.every((b) => exists(uapiSocket(dev(b)))); i++) await sleep(50);
  for (const b of boxes) {
    const peer = boxes.find((x) => x !== b)!;
    await inNs(b.netns, [
      `wg set ${dev(b)} private-key /dev/stdin listen-port ${RAW_PORT} peer ${keys.get(peer)!.pub} endpoint ${peer.underlayIP}:${RAW_PORT} allowed-ips ${ip(peer)}/32 <<EOF\n${keys.get(b)!.priv}\nEOF`,
      `ip addr add ${ip(b)}/24 dev ${dev(b)}`,
      `ip link set ${dev(b)} mtu ${mtu} up`,
    ].join('\n'));
  }
  return { procs, ip, dev };
}

export const bench: Bench = {
  name: 'wireguard',
  async run(): Promise<BenchRow[]> {
    const dir = await mkdtemp('/tmp/sl-bench-wg-');
    const lab = new Lab(dir);
    let raw: Awaited<ReturnType<typeof rawWireGuard>> | undefined;
    try {
      const state = await lab.up(specFromFlags(2, 1, 'geneve', false, 'direct', 'wireguard'));
      const [a, b] = state.pods;
      const [boxA, boxB] = state.boxes;
      await run('ip', ['netns', 'exec', a.netns, 'ping', '-c3', '-i', '0.3', b.ip!], { allowFailure: true }); // handshake warm-up
      await stopProcesses(state.boxes.flatMap((x) => x.processes.filter((p) => p.role === 'agent')));
      const mtu = Number((await inNs(a.netns, 'cat /sys/class/net/eth0/mtu')).stdout.trim());
      raw = await rawWireGuard([boxA, boxB], mtu);
      await inNs(boxA.netns, `ping -c3 -i 0.3 ${raw.ip(boxB)}`);
      // Plain: the peer's pod CIDR via its underlay address (noEncap); encrypted: into the device, as the agent set it.
      const routes = (side: 'encrypted' | 'plain') => Promise.all(state.boxes.map((box) => {
        const peer = state.boxes.find((x) => x !== box)!;
        const via = side === 'plain' ? `via ${peer.underlayIP}` : `via ${gatewayIP(peer.podCIDR)} dev ${box.wireGuardDevice} onlink`;
        return inNs(box.netns, `ip route replace ${peer.podCIDR} ${via} proto ${SEINE_ROUTE_PROTO}`);
      }));
      const sides = {
        encrypted: async () => (await routes('encrypted'), transferSeconds(a.netns, b.netns, b.ip!)),
        raw: () => transferSeconds(boxA.netns, boxB.netns, raw!.ip(boxB)),
        plain: async () => {
          await routes('plain');
          try {
            return await transferSeconds(a.netns, b.netns, b.ip!);
          } finally {
            await routes('encrypted');
          }
        },
      };
      const times: Record<keyof typeof sides, number[]> = { encrypted: [], raw: [], plain: [] };
      // Where the CPU goes, per side: both boxes' ovs-vswitchd, both lab wireguard-go, both raw ones (the rest is nc and the kernel's softirqs).
      const pidsOf = (role: string) => state.boxes.flatMap((x) => x.processes.filter((p) => p.role === role).map((p) => p.pid));
      const parts = { ovs: pidsOf('ovs-vswitchd'), wg: pidsOf(WIREGUARD_ROLE), rawWg: raw.procs.map((p) => p.pid) };
      const cpu: Record<keyof typeof sides, Record<keyof typeof parts, number[]>> = { encrypted: { ovs: [], wg: [], rawWg: [] }, raw: { ovs: [], wg: [], rawWg: [] }, plain: { ovs: [], wg: [], rawWg: [] } };
      const packets: Record<keyof typeof sides, number[]> = { encrypted: [], raw: [], plain: [] };
      for (const side of ['raw', 'encrypted', 'plain'] as const) await sides[side](); // warm-up
      for (let i = 0; i < ROUNDS; i++) {
        const order = i % 2 ? (['raw', 'encrypted', 'plain'] as const) : (['plain', 'encrypted', 'raw'] as const);
        for (const side of order) {
          const packetsBefore = await datapathPackets(state.boxes);
          const before = Object.fromEntries(Object.entries(parts).map(([k, pids]) => [k, cpuSeconds(pids)]));
          times[side].push(await sides[side]());
          for (const [k, pids] of Object.entries(parts) as [keyof typeof parts, number[]][]) cpu[side][k].push(cpuSeconds(pids) - before[k]!);
          packets[side].push((await datapathPackets(state.boxes)) - packetsBefore);
        }
      }
      process.stderr.write(`wireguard bench: ${Object.entries(times).map(([k, v]) => `${k} ${v.map((x) => x.toFixed(2)).join(' ')} s`).join('; ')}\n`);
      const med = (xs: number[]) => percentile(xs, 50).toFixed(2);
      process.stderr.write(`wireguard bench, CPU s per ${MB} MB (median): ${Object.entries(cpu).map(([side, c]) => `${side}: wall ${med(times[side as keyof typeof sides])}, ovs-vswitchd ${med(c.ovs)} (${percentile(packets[side as keyof typeof sides], 50)} datapath packets), wireguard-go ${med(c.wg)}, raw wireguard-go ${med(c.rawWg)}`).join('; ')}\n`);
      const mbps = (xs: number[]) => (MB * 8) / percentile(xs, 50);
      return [
        {
          metric: `pod-to-pod TCP across WireGuard-encrypted boxes (${MB} MB, median of ${ROUNDS})`,
          unit: 'Mbit/s', seine: mbps(times.encrypted), anchor: mbps(times.raw),
          anchorLabel: 'raw wireguard-go pair between the same box namespaces, no OVS', better: 'higher', goal: '>= 0.9',
        },
        {
          metric: `pod-to-pod TCP, encrypted vs plain (noEncap routes), same pods (${MB} MB)`,
          unit: 'Mbit/s', seine: mbps(times.encrypted), anchor: mbps(times.plain),
          anchorLabel: 'the same pods and flows, peer routes via the underlay (unencrypted)', better: 'higher',
        },
      ];
    } finally {
      if (raw) await stopProcesses(raw.procs);
      await lab.down();
      await rm(dir, { recursive: true, force: true });
    }
  },
};
