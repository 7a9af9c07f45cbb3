// Lab costs against the raw recipe of ovs-lab.md, measured in the same run:
//  - lab up, 2 boxes × 2 pods: the wall time of Seine's `lab up` (underlay, controller, then both
//    boxes in parallel, each OVS, agent, then its pods one at a time) vs the raw shell recipe for
//    the same 2 boxes × 2 pods with the same parallelism (both boxes at once, each: netns, db,
//    daemons, add-br, then its 2 pods one at a time: netns, veth, tx offload off, address, add-port).
//    Like with like in boxes, pods and parallelism; the raw side has no underlay, tunnel, agent
//    or controller, which is the cost of Seine the ratio shows;
//  - OVS instance start: startOvsInstance vs the same daemons started by a shell script;
//  - RSS per box: VmRSS of a lab box's processes vs those of the raw instance.
// Everything it creates is removed in `finally`, by recorded PID and by name.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { run } from '../../src/lib/exec.js';
import { stopProcesses } from '../../src/lib/process.js';
import { Lab } from '../../src/lab/lab.js';
import { findOwnedProcesses, labEnv } from '../../src/lab/lab-processes.js';
import { labPrefix } from '../../src/lab/names.js';
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
    return [
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
