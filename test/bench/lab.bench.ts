// Lab costs against the raw recipe of ovs-lab.md, measured in the same run:
//  - lab up, 2 boxes × 2 pods: the wall time of Seine's `lab up` (underlay, controller, then both
//    boxes in parallel, each OVS, agent, then its pods one at a time) vs the raw shell recipe for
//    the same 2 boxes × 2 pods with the same parallelism (both boxes at once, each: netns, db,
//    daemons, add-br, then its 2 pods one at a time: netns, veth, tx offload off, address, add-port).
//    Like with like in boxes, pods and parallelism; the raw side has no underlay, tunnel, agent
//    or controller, which is the cost of Seine the ratio shows;
//  - OVS instance start: startOvsInstance vs the same daemons started by a shell script;
//  - RSS per box: VmRSS of a lab box's processes vs those of the raw instance.
//  - agent RSS, 1 box with 10 pods and 100 policies (50 K8s NetworkPolicies, 50 ACNPs) applied
//    through the controller and Realized, steady (30 s later, median of 5 reads over 10 s), with
//    the box's Node settings as the lab starts it (src/lib/small-box.ts) vs a bare `node` process
//    with the same flags (what Node itself costs); its RssAnon/RssFile/Pss go to stderr.
// Everything it creates is removed in `finally`, by recorded PID and by name.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { distProgram } from '../../src/lib/paths.js';
import { AGENT_ROLE } from '../../src/lab/agent-process.js';
import { spawnCollect } from '../helpers/spawn.js';
import { BARE_NODE_LABEL, bareNodeRss } from './node-anchor.js';
import { run } from '../../src/lib/exec.js';
import { stopProcesses } from '../../src/lib/process.js';
import { Lab } from '../../src/lab/lab.js';
import { findOwnedProcesses, labEnv } from '../../src/lab/lab-processes.js';
import { labAdminFile, labPrefix } from '../../src/lab/names.js';
import { addNetns, deleteNetns } from '../../src/lab/netns.js';
import { startOvsInstance } from '../../src/lab/ovs-instance.js';
import { specFromFlags } from '../../src/lab/spec.js';
import { percentile, timeMs, withDeadline, type Bench, type BenchRow } from './harness.js';

const ROUNDS = 3;

/** Lab up and the raw recipe may each take this long before the round fails (lab up < 60 s is the goal). */
const UP_MS = 5 * 60_000;

const START_DAEMONS = `
ovsdb-tool create $D/conf.db /usr/share/openvswitch/vswitch.ovsschema
ip netns exec $NS ovsdb-server $D/conf.db --remote=punix:$D/db.sock --pidfile=$D/ovsdb-server.pid \\
  --unixctl=$D/ovsdb-server.ctl --detach --log-file=$D/ovsdb.log
ovs-vsctl --db=unix:$D/db.sock --no-wait init
ip netns exec $NS ovs-vswitchd unix:$D/db.sock --pidfile=$D/vswitchd.pid --unixctl=$D/vswitchd.ctl \\
  --detach --log-file=$D/vswitchd.log
`;

/** The ovs-lab.md recipe for one box, verbatim in shape. */
const RAW_BOX = `set -e
export OVS_RUNDIR=$D OVS_LOGDIR=$D OVS_DBDIR=$D
ip netns add $NS; ip -n $NS link set lo up
${START_DAEMONS}
ovs-vsctl --db=unix:$D/db.sock add-br br-int -- set bridge br-int datapath_type=netdev
`;

/** The ovs-lab.md "Pods" recipe for 2 pods on that box, one after the other ($NS-p1, $NS-p2). */
const RAW_PODS = `set -e
for i in 1 2; do
  P=$NS-p$i
  ip netns add $P; ip -n $P link set lo up
  ip -n $NS link add vh$i type veth peer name vp$i
  ip -n $NS link set vp$i netns $P
  ip netns exec $NS ethtool -K vh$i tx off >/dev/null
  ip netns exec $P ethtool -K vp$i tx off >/dev/null
  ip -n $P addr add 10.42.0.$((i + 1))/24 dev vp$i
  ip -n $P link set vp$i up; ip -n $NS link set vh$i up
  ovs-vsctl --db=unix:$D/db.sock add-port br-int vh$i -- set interface vh$i ofport_request=$((i + 10))
done
`;

const RAW_DAEMONS = `set -e
export OVS_RUNDIR=$D OVS_LOGDIR=$D OVS_DBDIR=$D
${START_DAEMONS}`;

/** A scratch dir whose processes carry the lab owner mark, so cleanup finds them all. */
class Scratch {
  readonly ns: string;
  constructor(readonly dir: string) {
    this.ns = `${labPrefix(dir)}-raw`;
  }

  static async create(tag: string): Promise<Scratch> {
    return new Scratch(await mkdtemp(`/tmp/sl-bench-${tag}-`));
  }

  sh(script: string): Promise<unknown> {
    return run('bash', ['-c', script], { env: labEnv(this.dir, { D: this.dir, NS: this.ns }), timeoutMs: UP_MS });
  }

  async pids(): Promise<number[]> {
    return Promise.all(['ovsdb-server.pid', 'vswitchd.pid'].map(async (f) => Number((await readFile(`${this.dir}/${f}`, 'utf8')).trim())));
  }

  async remove(): Promise<void> {
    await stopProcesses(await findOwnedProcesses(this.dir));
    await deleteNetns([this.ns, `${this.ns}-p1`, `${this.ns}-p2`]);
    await rm(this.dir, { recursive: true, force: true });
  }
}

async function rssMB(pids: number[]): Promise<number> {
  let kb = 0;
  for (const pid of pids) {
    const m = /VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
    kb += m ? Number(m[1]) : 0;
  }
  return kb / 1024;
}

const median = (xs: number[]) => percentile(xs, 50);
const settle = () => new Promise((r) => setTimeout(r, 500));

/** Wall time of `lab up` of 2 boxes × 2 pods (not divided by anything), and box1's RSS. */
async function labUp(): Promise<{ ms: number; rss: number }> {
  const dir = await mkdtemp('/tmp/sl-bench-lab-');
  const lab = new Lab(dir);
  try {
    const [ms, state] = await timeMs(() => withDeadline(lab.up(specFromFlags(2, 2)), UP_MS, 'lab up of 2 boxes × 2 pods'));
    await settle();
    const rss = await rssMB(state.boxes[0].processes.map((p) => p.pid));
    return { ms, rss };
  } finally {
    await lab.down();
    await rm(dir, { recursive: true, force: true });
  }
}

/** The raw recipe for 2 boxes × 2 pods, both boxes at once as lab up does; the first box's RSS. */
async function rawBoxes(): Promise<{ ms: number; rss: number }> {
  const boxes: Scratch[] = [];
  try {
    for (const tag of ['box1', 'box2']) boxes.push(await Scratch.create(tag));
    const [ms] = await timeMs(() => Promise.all(boxes.map(async (s) => {
      await s.sh(RAW_BOX);
      await s.sh(RAW_PODS);
    })));
    await settle();
    return { ms, rss: await rssMB(await boxes[0]!.pids()) };
  } finally {
    for (const s of boxes) await s.remove();
  }
}

/** 50 K8s NetworkPolicies and 50 ACNPs over the lab's pods (app=demo), one port each. */
function hundredPolicies(): string {
  const np = (i: number) => `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: np-${i}, namespace: default}
spec:
  podSelector: {matchLabels: {app: demo}}
  policyTypes: [Ingress]
  ingress:
    - from: [{podSelector: {matchLabels: {app: demo}}}]
      ports: [{protocol: TCP, port: ${8000 + i}}]
`;
  const acnp = (i: number) => `apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: acnp-${i}}
spec:
  priority: ${i + 1}
  tier: securityops
  appliedTo: [{podSelector: {matchLabels: {app: demo}}}]
  ingress:
    - action: Allow
      name: from-${i}
      from: [{podSelector: {matchLabels: {app: demo}}}]
      ports: [{protocol: TCP, port: ${9000 + i}}]
`;
  return Array.from({ length: 50 }, (_, i) => [np(i), acnp(i)]).flat().join('---\n');
}

const status = async (pid: number, field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(await readFile(`/proc/${pid}/${field === 'Pss' ? 'smaps_rollup' : 'status'}`, 'utf8'))?.[1] ?? NaN) / 1024;

/** VmRSS (MiB) of the agent of a 1-box lab with 10 pods and 100 Realized policies, steady. */
async function agentRss(): Promise<number> {
  const dir = await mkdtemp('/tmp/sl-bench-agent-');
  const lab = new Lab(dir);
  try {
    const state = await lab.up(specFromFlags(1, 10));
    const file = path.join(dir, 'policies.yaml');
    await writeFile(file, hundredPolicies());
    const seinectl = (...args: string[]) => spawnCollect(process.execPath, [distProgram('cli/seinectl.js'), ...args], { env: { ...process.env, SEINECTL_CONFIG: labAdminFile(dir) } });
    const applied = await seinectl('apply', '-f', file);
    if (applied.code !== 0) throw new Error(`seinectl apply: ${applied.stderr}`);
    for (let end = Date.now() + 60_000; ; ) {
      const r = await seinectl('get', 'acnp', '-o', 'json');
      const items = (JSON.parse(r.stdout || '{"items":[]}') as { items: { status?: { phase?: string } }[] }).items;
      if (items.length === 50 && items.every((i) => i.status?.phase === 'Realized')) break;
      if (Date.now() > end) throw new Error('the 50 ACNPs were not Realized within 60 s');
      await new Promise((r2) => setTimeout(r2, 500));
    }
    await new Promise((r) => setTimeout(r, 30_000));
    const pid = state.boxes[0]!.processes.find((p) => p.role === AGENT_ROLE)!.pid;
    const reads: number[] = [];
    for (let i = 0; i < 5; i++) {
      reads.push(await status(pid, 'VmRSS'));
      await new Promise((r) => setTimeout(r, 2000));
    }
    process.stderr.write(`bench: lab: agent (10 pods, 100 policies) VmRSS ${reads.map((x) => x.toFixed(1)).join(' ')} MiB; RssAnon ${(await status(pid, 'RssAnon')).toFixed(1)} RssFile ${(await status(pid, 'RssFile')).toFixed(1)} Pss ${(await status(pid, 'Pss')).toFixed(1)} MiB\n`);
    return median(reads);
  } finally {
    await lab.down();
    await rm(dir, { recursive: true, force: true });
  }
}

async function ovsStart(kind: 'seine' | 'raw'): Promise<number> {
  const s = await Scratch.create(`ovs${kind}`);
  try {
    await addNetns(s.ns, undefined, async () => {});
    const env = labEnv(s.dir);
    const [ms] = await timeMs(() => withDeadline(kind === 'seine' ? startOvsInstance(`${s.dir}/ovs`, s.ns, env) : s.sh(RAW_DAEMONS), UP_MS, `OVS instance start (${kind})`));
    return ms;
  } finally {
    await s.remove();
  }
}

export const bench: Bench = {
  name: 'lab',
  deadlineMs: 30 * 60_000,
  async run(): Promise<BenchRow[]> {
    const seineUp: number[] = [];
    const rawUp: number[] = [];
    const seineRss: number[] = [];
    const rawRss: number[] = [];
    const seineOvs: number[] = [];
    const rawOvs: number[] = [];
    // Interleaved rounds, so background load hits both sides alike.
    for (let i = 0; i < ROUNDS; i++) {
      const a = await labUp();
      const b = await rawBoxes();
      seineUp.push(a.ms);
      seineRss.push(a.rss);
      rawUp.push(b.ms);
      rawRss.push(b.rss);
      seineOvs.push(await ovsStart('seine'));
      rawOvs.push(await ovsStart('raw'));
    }
    const agent = await agentRss();
    const bare = await bareNodeRss();
    return [
      {
        metric: 'agent RSS, 1 box, 10 pods, 100 policies, steady',
        unit: 'MiB',
        seine: agent,
        anchor: bare,
        anchorLabel: BARE_NODE_LABEL,
        better: 'lower',
        goal: '<= 60 MiB',
      },
      {
        metric: `lab up, 2 boxes × 2 pods, wall time (median of ${ROUNDS})`,
        unit: 'ms',
        seine: median(seineUp),
        anchor: median(rawUp),
        anchorLabel: 'raw ovs-lab.md recipe, 2 boxes × 2 pods, boxes in parallel (netns, db, daemons, add-br, veth pods; no underlay, agent or controller)',
        better: 'lower',
        goal: 'lab up < 60 s',
      },
      {
        metric: 'OVS instance start',
        unit: 'ms',
        seine: median(seineOvs),
        anchor: median(rawOvs),
        anchorLabel: 'raw ovsdb-tool/ovsdb-server/ovs-vswitchd commands',
        better: 'lower',
      },
      {
        metric: 'RSS per box',
        unit: 'MB',
        seine: median(seineRss),
        anchor: median(rawRss),
        anchorLabel: 'raw instance (ovsdb-server + ovs-vswitchd), br-int with the 2 pod ports; seine adds its agent',
        better: 'lower',
      },
    ];
  },
};
