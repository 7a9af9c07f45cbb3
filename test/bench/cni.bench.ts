// CNI ADD latency over 50 pods through the real seine-cni binary (as containerd runs it),
// against the raw commands that wire one pod by hand (veth, move, address, OVS port) measured
// in the same run, the same box namespace and at the same bridge sizes. Also split out: the
// agent alone (no binary start) and the binary's start-up floor (VERSION) against a bare
// `node -e 0`. The agent side is the production one: OVSDB port through OvsPodPorts, then a
// Datapath sync of the box's flows on a sole-writer bridge (its mirror: one ovs-ofctl per ADD).
// The agent runs in this process, outside the box namespace (hostNetns): its host-side netlink
// socket is opened inside the box namespace for each call (setns there and back, tens of µs);
// routes are not involved (no peers).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { run } from '../../src/lib/exec.js';
import { Database } from '../../src/lib/sqlite.js';
import { bridgeMgmt } from '../../src/lab/ovs-instance.js';
import { HostLocalIpam } from '../../src/agent/ipam/host-local.js';
import { PodConfigurator } from '../../src/agent/cni/pod-configurator.js';
import { CniServer } from '../../src/agent/cni/server.js';
import { OvsdbClient } from '../../src/agent/ovs/ovsdb.js';
import { VSwitch } from '../../src/agent/ovs/vswitch.js';
import { Pipeline } from '../../src/agent/ovs/pipeline.js';
import { OpenFlowBridge } from '../../src/agent/ovs/bridge.js';
import { Datapath } from '../../src/agent/datapath.js';
import { OvsPodPorts } from '../../src/agent/pod-ports.js';
import { InterfaceConfigurator } from '../../src/agent/cni/pod-interface.js';
import { GATEWAY_OFPORT, TUNNEL_OFPORT } from '../../src/agent/connectivity/registers.js';
import { percentile, timeMs, withDeadline, type Bench, type BenchRow } from './harness.js';
import { addNetns, containerId, delAllNetns, delNetns, netConf, podArgs, requireBuiltBinary, runCni, startCniLab, type CniLab } from '../integration/cni-fixtures.js';

const pods = 50;
/** One CNI call (binary or agent) before its row fails. */
const CALL_MS = 60_000;
/** Every this many pods, one raw anchor pod and one agent-only pod are measured (and removed), so all see the same bridge size. */
const sampleEvery = 2;

export const bench: Bench = {
  name: 'cni',
  async run(): Promise<BenchRow[]> {
    requireBuiltBinary();
    const lab = await startCniLab({ podCidr: '10.244.8.0/23' });
    let agent: AgentSide | undefined;
    try {
      agent = await startAgentSide(lab);
      const floor = await startupFloor(agent);
      const t = await podsThroughBinary(lab, agent);
      process.stderr.write(`cni bench: agent ADD steps p50 ${Object.entries(agent.steps).map(([k, v]) => `${k} ${percentile(v, 50).toFixed(1)}`).join(', ')} ms\n`);
      const row = (metric: string, seine: number, anchorMs: number, anchorLabel: string, goal?: string): BenchRow => ({
        metric, unit: 'ms', seine, anchor: anchorMs, anchorLabel, better: 'lower', goal,
      });
      const raw = 'raw ip link add, set netns, addr add, ovs-vsctl add-port (one pod)';
      return [
        row(`CNI ADD p50 (${pods} pods, binary)`, percentile(t.add, 50), percentile(t.rawAdd, 50), raw, '< 50 ms'),
        row(`CNI ADD p99 (${pods} pods, binary)`, percentile(t.add, 99), percentile(t.rawAdd, 99), raw),
        row(`CNI ADD p50 (agent only, no binary start, ${t.agentAdd.length} pods)`, percentile(t.agentAdd, 50), percentile(t.rawAdd, 50), raw),
        row(`CNI ADD p99 (agent only, no binary start, ${t.agentAdd.length} pods)`, percentile(t.agentAdd, 99), percentile(t.rawAdd, 99), raw),
        row(`CNI DEL p50 (${pods} pods, binary)`, percentile(t.del, 50), percentile(t.rawDel, 50), 'raw ovs-vsctl del-port, ip link del (one pod)'),
        row('seine-cni start (VERSION) p50', percentile(floor.version, 50), percentile(floor.node, 50), 'node -e 0'),
      ];
    } finally {
      await agent?.stop();
      await lab.stop();
      await delAllNetns();
    }
  },
};

interface AgentSide {
  socketPath: string;
  server: CniServer;
  /** Per-step durations of agent ADDs (ms), for the breakdown line. */
  steps: Record<string, number[]>;
  stop(): Promise<void>;
}

/** The agent's CNI server with its own connector and datapath, on the lab's box and OVS. */
async function startAgentSide(lab: CniLab): Promise<AgentSide> {
  const client = await OvsdbClient.connect({ remote: lab.ovs.dbRemote });
  const db = await Database.open(path.join(lab.dir, 'agent-bench.db'));
  try {
    const vs = new VSwitch(client);
    await vs.ensureBridge('br-int', { datapathType: 'netdev', failMode: 'secure', protocols: ['OpenFlow15'] });
    await vs.ensurePort('br-int', 'antrea-gw0', { type: 'internal', ofportRequest: GATEWAY_OFPORT });
    await vs.ensurePort('br-int', 'antrea-tun0', { type: 'geneve', ofportRequest: TUNNEL_OFPORT, options: { remote_ip: 'flow' } });
    await vs.waitOfport('antrea-gw0');
    const pipeline = Pipeline.build();
    const bridge = new OpenFlowBridge({ mgmt: bridgeMgmt(lab.ovs, 'br-int'), tables: pipeline, soleWriter: true });
    let datapath: Datapath;
    const podPorts = new OvsPodPorts(vs, 'br-int', () => datapath.sync());
    datapath = new Datapath({
      bridge, pipeline, round: 1, podPorts,
      network: { gateway: { name: 'antrea-gw0', ofport: GATEWAY_OFPORT, mac: '02:00:00:00:00:01', ip: '10.244.10.1', prefixLength: 23 }, tunnel: { name: 'antrea-tun0', ofport: TUNNEL_OFPORT } },
      podCIDR: '10.244.10.0/23', serviceCIDR: '10.96.0.0/16',
      peers: () => [],
    });
    await datapath.sync();
    const ipam = await HostLocalIpam.open(db, '10.244.10.0/23');
    const steps: Record<string, number[]> = { ipam: [], veth: [], ovsdb: [], flows: [], 'flows:desired': [], 'flows:bundle': [] };
    const timed = <T extends object>(obj: T, method: keyof T & string, step: string) => {
      const orig = (obj as any)[method] as (...a: unknown[]) => Promise<unknown>;
      (obj as any)[method] = async function (this: unknown, ...a: unknown[]) {
        const [ms, v] = await timeMs(() => orig.apply(this, a));
        steps[step].push(ms);
        return v;
      };
    };
    timed(ipam, 'allocate', 'ipam');
    timed(InterfaceConfigurator.prototype, 'create', 'veth');
    timed(vs, 'ensurePort', 'ovsdb');
    timed(vs, 'waitOfport', 'ovsdb');
    timed(datapath, 'sync', 'flows');
    timed(datapath, 'desiredFlows', 'flows:desired');
    timed(bridge, 'apply', 'flows:bundle');
    const podNetwork = new PodConfigurator({ ipam, connector: podPorts, defaultMtu: 1450, userspaceDatapath: true, hostNetns: lab.box.path });
    const socketPath = path.join(lab.dir, 'agent-bench.sock');
    const server = new CniServer({ socketPath, podNetwork });
    await server.start();
    for (const k of Object.keys(steps)) steps[k].length = 0; // only ADDs of the bench
    return {
      socketPath, server, steps,
      async stop() {
        await server.stop();
        await datapath.idle();
        await client.close();
        await db.close();
      },
    };
  } catch (err) {
    await client.close();
    await db.close();
    throw err;
  }
}

interface Timings {
  add: number[];
  del: number[];
  agentAdd: number[];
  rawAdd: number[];
  rawDel: number[];
}

async function podsThroughBinary(lab: CniLab, agent: AgentSide): Promise<Timings> {
  const t: Timings = { add: [], del: [], agentAdd: [], rawAdd: [], rawDel: [] };
  const added = [];
  for (let i = 0; i < pods; i++) {
    const ns = await addNetns(`bench-${i}`);
    const id = containerId();
    const spec = { containerId: id, netns: ns.path, ifname: 'eth0', args: podArgs('bench', `bench-${i}`, id) };
    const out = await withDeadline(runCni({ command: 'ADD', ...spec }, netConf(agent.socketPath)), CALL_MS, `CNI ADD of bench-${i} through the binary`);
    if (out.exitCode !== 0) throw new Error(`bench ADD failed (exit ${out.exitCode}): ${out.stdout} ${out.stderr}`);
    t.add.push(out.ms);
    added.push({ ns, spec });
    if (i % sampleEvery === 0) {
      await rawPod(lab, i, t);
      t.agentAdd.push(await agentPod(agent, i));
    }
  }
  for (const { ns, spec } of added) {
    const out = await withDeadline(runCni({ command: 'DEL', ...spec }, netConf(agent.socketPath)), CALL_MS, `CNI DEL of ${spec.args} through the binary`);
    if (out.exitCode !== 0) throw new Error(`bench DEL failed (exit ${out.exitCode}): ${out.stdout} ${out.stderr}`);
    t.del.push(out.ms);
    await delNetns(ns.name);
  }
  return t;
}

/** The same ADD handed straight to the server: what the agent costs without node starting up. */
async function agentPod(agent: AgentSide, i: number): Promise<number> {
  const ns = await addNetns(`agent-${i}`);
  const id = containerId();
  const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: id, CNI_NETNS: ns.path, CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin', CNI_ARGS: podArgs('bench', `agent-${i}`, id) };
  const [ms, res] = await timeMs(() => withDeadline(agent.server.handle({ env, config: netConf(agent.socketPath) }), CALL_MS, `agent-only CNI ADD of agent-${i}`));
  if ('error' in res) throw new Error(`agent ADD failed: ${res.error.msg}`);
  await withDeadline(agent.server.handle({ env: { ...env, CNI_COMMAND: 'DEL' }, config: netConf(agent.socketPath) }), CALL_MS, `agent-only CNI DEL of agent-${i}`);
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

async function startupFloor(agent: AgentSide): Promise<{ version: number[]; node: number[] }> {
  const version: number[] = [];
  const node: number[] = [];
  for (let i = 0; i < 20; i++) {
    version.push((await withDeadline(runCni({ command: 'VERSION' }, netConf(agent.socketPath)), CALL_MS, 'seine-cni VERSION')).ms);
    node.push(await withDeadline(spawnMs(process.execPath, ['-e', '0']), CALL_MS, 'node -e 0'));
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
