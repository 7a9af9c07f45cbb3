// CNI ADD latency over 50 pods through the real seine-cni binary (as containerd runs it),
// against the raw commands that wire one pod by hand (veth, move, address, OVS port) measured
// in the same run and the same box namespace. Also split out: the agent alone (no binary
// start) and the binary's start-up floor (VERSION) against a bare `node -e 0`.
import { spawn } from 'node:child_process';
import { run } from '../../src/lib/exec.js';
import { percentile, timeMs, type Bench, type BenchRow } from './harness.js';
import { addNetns, containerId, delAllNetns, delNetns, netConf, podArgs, requireBuiltBinary, runCni, startCniLab, type CniLab } from '../integration/cni-fixtures.js';

const pods = 50;
const anchorRounds = 15;

export const bench: Bench = {
  name: 'cni',
  async run(): Promise<BenchRow[]> {
    requireBuiltBinary();
    const lab = await startCniLab({ podCidr: '10.244.8.0/24' });
    try {
      const anchor = await rawAnchor(lab);
      const floor = await startupFloor(lab);
      const viaBinary = await addDelThroughBinary(lab);
      const agentOnly = await addThroughAgent(lab);
      const row = (metric: string, seine: number, anchorMs: number, anchorLabel: string, goal?: string): BenchRow => ({
        metric, unit: 'ms', seine, anchor: anchorMs, anchorLabel, better: 'lower', goal,
      });
      const raw = 'raw ip link add/set netns/addr add + ovs-vsctl add-port, one pod';
      return [
        row(`CNI ADD p50 (${pods} pods, binary)`, percentile(viaBinary.add, 50), percentile(anchor, 50), raw, '< 50 ms'),
        row(`CNI ADD p99 (${pods} pods, binary)`, percentile(viaBinary.add, 99), percentile(anchor, 99), raw),
        row('CNI ADD p50 (agent only, no binary start)', percentile(agentOnly, 50), percentile(anchor, 50), raw),
        row('CNI DEL p50 (binary)', percentile(viaBinary.del, 50), percentile(anchor, 50), raw),
        row('seine-cni start (VERSION) p50', percentile(floor.version, 50), percentile(floor.node, 50), 'node -e 0'),
      ];
    } finally {
      await lab.stop();
      await delAllNetns();
    }
  },
};

async function addDelThroughBinary(lab: CniLab): Promise<{ add: number[]; del: number[] }> {
  const specs = [];
  for (let i = 0; i < pods; i++) {
    const ns = await addNetns(`bench-${i}`);
    const id = containerId();
    specs.push({ ns, spec: { containerId: id, netns: ns.path, ifname: 'eth0', args: podArgs('bench', `bench-${i}`, id) } });
  }
  const add: number[] = [];
  const del: number[] = [];
  for (const { spec } of specs) {
    const out = await runCni({ command: 'ADD', ...spec }, netConf(lab.socketPath));
    if (out.exitCode !== 0) throw new Error(`bench ADD failed: ${out.stdout}`);
    add.push(out.ms);
  }
  for (const { ns, spec } of specs) {
    const out = await runCni({ command: 'DEL', ...spec }, netConf(lab.socketPath));
    if (out.exitCode !== 0) throw new Error(`bench DEL failed: ${out.stdout}`);
    del.push(out.ms);
    await delNetns(ns.name);
  }
  return { add, del };
}

/** The same ADD handed straight to the server: what the agent costs without node starting up. */
async function addThroughAgent(lab: CniLab): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < 20; i++) {
    const ns = await addNetns(`agent-${i}`);
    const id = containerId();
    const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: id, CNI_NETNS: ns.path, CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin', CNI_ARGS: podArgs('bench', `agent-${i}`, id) };
    const [ms, res] = await timeMs(() => lab.server.handle({ env, config: netConf(lab.socketPath) }));
    if ('error' in res) throw new Error(`agent ADD failed: ${res.error.msg}`);
    times.push(ms);
    await lab.server.handle({ env: { ...env, CNI_COMMAND: 'DEL' }, config: netConf(lab.socketPath) });
    await delNetns(ns.name);
  }
  return times;
}

/** One pod wired by hand, the minimum any CNI must do (no offload, MTU, route, or bookkeeping). */
async function rawAnchor(lab: CniLab): Promise<number[]> {
  const times: number[] = [];
  const vsctl = (args: string[]) => run('ovs-vsctl', [`--db=${lab.ovs.dbRemote}`, ...args], { env: lab.ovs.env });
  for (let i = 0; i < anchorRounds; i++) {
    const ns = await addNetns(`raw-${i}`);
    const host = `rawh${i}`;
    const [ms] = await timeMs(async () => {
      await lab.inBox('ip', ['link', 'add', host, 'type', 'veth', 'peer', 'name', `rawp${i}`]);
      await lab.inBox('ip', ['link', 'set', `rawp${i}`, 'netns', ns.path]);
      await run('nsenter', [`--net=${ns.path}`, 'ip', 'addr', 'add', `10.244.8.${200 + i}/24`, 'dev', `rawp${i}`]);
      await vsctl(['add-port', 'br-int', host]);
    });
    times.push(ms);
    await vsctl(['--if-exists', 'del-port', 'br-int', host]);
    await lab.inBox('ip', ['link', 'del', host]);
    await delNetns(ns.name);
  }
  return times;
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
