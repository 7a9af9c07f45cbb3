// CNI ADD latency over 50 pods through the real seine-cni binary (as containerd runs it),
// against the raw commands that wire one pod by hand (veth, move, address, OVS port) measured
// in the same run, the same box namespace and at the same bridge sizes. Also split out: the
// agent alone (no binary start) and the binary's start-up floor (VERSION) against a bare
// `node -e 0`. OVS ports go through the tests' ovs-vsctl connector (two ovs-vsctl runs); the
// agent's own OVSDB connector replaces that in production.
import { spawn } from 'node:child_process';
import { run } from '../../src/lib/exec.js';
import { percentile, timeMs, type Bench, type BenchRow } from './harness.js';
import { addNetns, containerId, delAllNetns, delNetns, netConf, podArgs, requireBuiltBinary, runCni, startCniLab, type CniLab } from '../integration/cni-fixtures.js';

const pods = 50;
/** Every this many pods, one raw anchor pod and one agent-only pod are measured (and removed), so all see the same bridge size. */
const sampleEvery = 5;

export const bench: Bench = {
  name: 'cni',
  async run(): Promise<BenchRow[]> {
    requireBuiltBinary();
    const lab = await startCniLab({ podCidr: '10.244.8.0/23' });
    try {
      const floor = await startupFloor(lab);
      const t = await podsThroughBinary(lab);
      const row = (metric: string, seine: number, anchorMs: number, anchorLabel: string, goal?: string): BenchRow => ({
        metric, unit: 'ms', seine, anchor: anchorMs, anchorLabel, better: 'lower', goal,
      });
      const raw = 'raw ip link add, set netns, addr add, ovs-vsctl add-port (one pod)';
      return [
        row(`CNI ADD p50 (${pods} pods, binary)`, percentile(t.add, 50), percentile(t.rawAdd, 50), raw, '< 50 ms'),
        row(`CNI ADD p99 (${pods} pods, binary)`, percentile(t.add, 99), percentile(t.rawAdd, 99), raw),
        row('CNI ADD p50 (agent only, no binary start)', percentile(t.agentAdd, 50), percentile(t.rawAdd, 50), raw),
        row(`CNI DEL p50 (${pods} pods, binary)`, percentile(t.del, 50), percentile(t.rawDel, 50), 'raw ovs-vsctl del-port, ip link del (one pod)'),
        row('seine-cni start (VERSION) p50', percentile(floor.version, 50), percentile(floor.node, 50), 'node -e 0'),
      ];
    } finally {
      await lab.stop();
      await delAllNetns();
    }
  },
};

interface Timings {
  add: number[];
  del: number[];
  agentAdd: number[];
  rawAdd: number[];
  rawDel: number[];
}

async function podsThroughBinary(lab: CniLab): Promise<Timings> {
  const t: Timings = { add: [], del: [], agentAdd: [], rawAdd: [], rawDel: [] };
  const added = [];
  for (let i = 0; i < pods; i++) {
    const ns = await addNetns(`bench-${i}`);
    const id = containerId();
    const spec = { containerId: id, netns: ns.path, ifname: 'eth0', args: podArgs('bench', `bench-${i}`, id) };
    const out = await runCni({ command: 'ADD', ...spec }, netConf(lab.socketPath));
    if (out.exitCode !== 0) throw new Error(`bench ADD failed (exit ${out.exitCode}): ${out.stdout} ${out.stderr}`);
    t.add.push(out.ms);
    added.push({ ns, spec });
    if (i % sampleEvery === 0) {
      await rawPod(lab, i, t);
      t.agentAdd.push(await agentPod(lab, i));
    }
  }
  for (const { ns, spec } of added) {
    const out = await runCni({ command: 'DEL', ...spec }, netConf(lab.socketPath));
    if (out.exitCode !== 0) throw new Error(`bench DEL failed (exit ${out.exitCode}): ${out.stdout} ${out.stderr}`);
    t.del.push(out.ms);
    await delNetns(ns.name);
  }
  return t;
}

/** The same ADD handed straight to the server: what the agent costs without node starting up. */
async function agentPod(lab: CniLab, i: number): Promise<number> {
  const ns = await addNetns(`agent-${i}`);
  const id = containerId();
  const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: id, CNI_NETNS: ns.path, CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin', CNI_ARGS: podArgs('bench', `agent-${i}`, id) };
  const [ms, res] = await timeMs(() => lab.server.handle({ env, config: netConf(lab.socketPath) }));
  if ('error' in res) throw new Error(`agent ADD failed: ${res.error.msg}`);
  await lab.server.handle({ env: { ...env, CNI_COMMAND: 'DEL' }, config: netConf(lab.socketPath) });
  await delNetns(ns.name);
  return ms;
}

/** One pod wired by hand: the minimum any CNI must do (no offload, MTU, route, IPAM or bookkeeping). */
async function rawPod(lab: CniLab, i: number, t: Timings): Promise<void> {
  const vsctl = (args: string[]) => run('ovs-vsctl', [`--db=${lab.ovs.dbRemote}`, ...args], { env: lab.ovs.env });
  const ns = await addNetns(`raw-${i}`);
  const host = `rawh${i}`;
  const [add] = await timeMs(async () => {
    await lab.inBox('ip', ['link', 'add', host, 'type', 'veth', 'peer', 'name', `rawp${i}`]);
    await lab.inBox('ip', ['link', 'set', `rawp${i}`, 'netns', ns.path]);
    await run('nsenter', [`--net=${ns.path}`, 'ip', 'addr', 'add', `10.244.9.${200 + i}/23`, 'dev', `rawp${i}`]);
    await vsctl(['add-port', 'br-int', host]);
  });
  const [del] = await timeMs(async () => {
    await vsctl(['--if-exists', 'del-port', 'br-int', host]);
    await lab.inBox('ip', ['link', 'del', host]);
  });
  t.rawAdd.push(add);
  t.rawDel.push(del);
  await delNetns(ns.name);
}

async function startupFloor(lab: CniLab): Promise<{ version: number[]; node: number[] }> {
  const version: number[] = [];
  const node: number[] = [];
  for (let i = 0; i < 20; i++) {
    version.push((await runCni({ command: 'VERSION' }, netConf(lab.socketPath))).ms);
    node.push(await spawnMs(process.execPath, ['-e', '0']));
  }
  return { version, node };
}

function spawnMs(cmd: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { env: { PATH: process.env.PATH }, stdio: 'ignore' });
    child.on('error', reject);
    child.on('close', () => resolve(performance.now() - t0));
  });
}
