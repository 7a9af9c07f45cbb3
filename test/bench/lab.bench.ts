// Lab costs against the raw recipe of ovs-lab.md, measured in the same run:
//  - lab up time per box: Seine's `lab up` of 2 boxes x 2 pods / 2 vs the raw shell recipe for
//    one box (netns + ovsdb-tool create + ovsdb-server + ovs-vswitchd + add-br);
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
import { percentile, timeMs, type Bench, type BenchRow } from './harness.js';

const ROUNDS = 3;

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
    return run('bash', ['-c', script], { env: labEnv(this.dir, { D: this.dir, NS: this.ns }) });
  }

  async pids(): Promise<number[]> {
    return Promise.all(['ovsdb-server.pid', 'vswitchd.pid'].map(async (f) => Number((await readFile(`${this.dir}/${f}`, 'utf8')).trim())));
  }

  async remove(): Promise<void> {
    await stopProcesses(await findOwnedProcesses(this.dir));
    await deleteNetns([this.ns]);
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

async function labUpPerBox(): Promise<{ ms: number; rss: number }> {
  const dir = await mkdtemp('/tmp/sl-bench-lab-');
  const lab = new Lab(dir);
  try {
    const [ms, state] = await timeMs(() => lab.up(specFromFlags(2, 2)));
    await settle();
    const rss = await rssMB(state.boxes[0].processes.map((p) => p.pid));
    return { ms: ms / state.boxes.length, rss };
  } finally {
    await lab.down();
    await rm(dir, { recursive: true, force: true });
  }
}

async function rawBox(): Promise<{ ms: number; rss: number }> {
  const s = await Scratch.create('box');
  try {
    const [ms] = await timeMs(() => s.sh(RAW_BOX));
    await settle();
    return { ms, rss: await rssMB(await s.pids()) };
  } finally {
    await s.remove();
  }
}

async function ovsStart(kind: 'seine' | 'raw'): Promise<number> {
  const s = await Scratch.create(`ovs${kind}`);
  try {
    await addNetns(s.ns, undefined, async () => {});
    const env = labEnv(s.dir);
    const [ms] = await timeMs(() => (kind === 'seine' ? startOvsInstance(`${s.dir}/ovs`, s.ns, env) : s.sh(RAW_DAEMONS)));
    return ms;
  } finally {
    await s.remove();
  }
}

export const bench: Bench = {
  name: 'lab',
  async run(): Promise<BenchRow[]> {
    const seineUp: number[] = [];
    const rawUp: number[] = [];
    const seineRss: number[] = [];
    const rawRss: number[] = [];
    const seineOvs: number[] = [];
    const rawOvs: number[] = [];
    // Interleaved rounds, so background load hits both sides alike.
    for (let i = 0; i < ROUNDS; i++) {
      const a = await labUpPerBox();
      const b = await rawBox();
      seineUp.push(a.ms);
      seineRss.push(a.rss);
      rawUp.push(b.ms);
      rawRss.push(b.rss);
      seineOvs.push(await ovsStart('seine'));
      rawOvs.push(await ovsStart('raw'));
    }
    return [
      {
        metric: 'lab up time per box',
        unit: 'ms',
        seine: median(seineUp),
        anchor: median(rawUp),
        anchorLabel: 'raw ovs-lab.md recipe, 1 box (netns, db, daemons, add-br)',
        better: 'lower',
        goal: 'seine: 2x2 lab up / 2; lab up < 60 s',
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
        anchorLabel: 'raw instance, br-int only (ovsdb-server + ovs-vswitchd); seine adds its agent',
        better: 'lower',
      },
    ];
  },
};
