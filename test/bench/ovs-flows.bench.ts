// Flow programming through Seine's OpenFlow layer (its own encoder, one bundle over the
// bridge's long-lived OpenFlow connection, no process) vs raw ovs-ofctl on the same 10k flows,
// in the same run, on a private userspace OVS (own netns, removed afterwards).
//   install: OpenFlowBridge.reconcile from an empty table (one dump, then the bundle)
//            vs  `--bundle add-flows <file>`
//   unchanged: reconcile of the installed set (dump + diff) vs  `--bundle replace-flows <file>`
//   1% changed: reconcile applying 100 changes               vs  `--bundle replace-flows <file>`
//   steady state: the agent's Datapath, running (first sync done, so it plans against its
//     mirror of br-int), gets 10k new policy flows from a feature and installs them in one
//     sync  vs  `--bundle add-flows <file>` of exactly those 10k lines into br-raw, a bridge
//     of the same vswitchd holding the same base flows. The feature hands over a prebuilt
//     array, as a policy module would after compiling: the row measures installing, not compiling.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { run } from '../../src/lib/exec.js';
import { bridgeMgmt, startOvsInstance, stopOvsInstance, type OvsInstance } from '../../src/lab/ovs-instance.js';
import { OvsdbClient } from '../../src/agent/ovs/ovsdb.js';
import { VSwitch } from '../../src/agent/ovs/vswitch.js';
import { Pipeline } from '../../src/agent/ovs/pipeline.js';
import { OpenFlowBridge } from '../../src/agent/ovs/bridge.js';
import { acquireConnection } from '../../src/lib/openflow/shared.js';
import { CookieAllocator, categoryFilter, formatCookieFilter } from '../../src/agent/ovs/cookie.js';
import { formatFlow, toOvsFlow, type Flow } from '../../src/agent/ovs/flow.js';
import { Datapath } from '../../src/agent/datapath.js';
import { OvsPodPorts } from '../../src/agent/pod-ports.js';
import { GATEWAY_OFPORT, TUNNEL_OFPORT } from '../../src/agent/connectivity/registers.js';
import { timeMs, withDeadline, type Bench, type BenchRow } from './harness.js';

const N = 10_000;
// The machine is shared (2 cores, other jobs): alternate which side runs first and take medians.
const REPEAT = Number(process.env.BENCH_REPEAT ?? 9);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
/** Any one tool run or sync before the row fails (10k flows take well under a second quiet). */
const STEP_MS = 120_000;

/** Policy-shaped flows: one conjunction clause per source address, across two rule tables. */
function policyFlows(pipeline: Pipeline, changed = 0): Flow[] {
  const c = new CookieAllocator(1);
  return Array.from({ length: N }, (_, i) => ({
    table: i % 2 ? 'AntreaPolicyIngressRule' : 'AntreaPolicyEgressRule',
    priority: 14000 + (i % 7),
    match: ['ip', `nw_src=10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`],
    actions: [`conjunction(${(i % 97) + 1},${i < changed ? 2 : 1}/2)`],
    cookie: c.cookie('NetworkPolicy', `rule-${i % 97}`),
  }));
}

export const bench: Bench = {
  name: 'ovs-flows',
  async run(): Promise<BenchRow[]> {
    const netns = `seine-ovsb-${process.pid}`;
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'seine-ovs-bench-'));
    let inst: OvsInstance | undefined;
    let client: OvsdbClient | undefined;
    await run('ip', ['netns', 'add', netns]);
    try {
      inst = await startOvsInstance(path.join(tmp, 'ovs'), netns);
      client = await OvsdbClient.connect({ remote: inst.dbRemote });
      const vs = new VSwitch(client);
      await vs.ensureBridge('br-int', { datapathType: 'netdev', failMode: 'secure', protocols: ['OpenFlow15'] });
      await vs.waitOfport('br-int');
      const mgmt = bridgeMgmt(inst, 'br-int');
      const env = inst.env;
      const ofctl = (...args: string[]) => run('ovs-ofctl', ['-O', 'OpenFlow15', ...args], { env, timeoutMs: STEP_MS });
      const pipeline = Pipeline.build();
      const flows = policyFlows(pipeline);
      const changedFlows = policyFlows(pipeline, N / 100);
      const file = path.join(tmp, 'flows.txt');
      const changedFile = path.join(tmp, 'flows-changed.txt');
      await writeFile(file, flows.map((f) => formatFlow(toOvsFlow(f, pipeline))).join('\n') + '\n');
      await writeFile(changedFile, changedFlows.map((f) => formatFlow(toOvsFlow(f, pipeline))).join('\n') + '\n');

      const install = { seine: [] as number[], raw: [] as number[] };
      const unchanged = { seine: [] as number[], raw: [] as number[] };
      const changed = { seine: [] as number[], raw: [] as number[] };
      // No canonical-form cache carried over, as after a restart; the process's OpenFlow
      // connection to the bridge stays up (`held`), as the agent's does, and each bridge object
      // gives its reference back after its timed call.
      const held = await acquireConnection(mgmt);
      const bridges: OpenFlowBridge[] = [];
      const fresh = () => {
        const b = new OpenFlowBridge({ mgmt, tables: pipeline });
        bridges.push(b);
        return b;
      };
      const release = async () => {
        for (const b of bridges.splice(0)) await b.close();
      };
      const pair = async (m: { seine: number[]; raw: number[] }, i: number, setup: () => Promise<unknown>, raw: () => Promise<unknown>, seine: () => Promise<unknown>) => {
        for (const side of i % 2 ? ['raw', 'seine'] : ['seine', 'raw']) {
          await setup();
          const [ms] = await timeMs(() => withDeadline(Promise.resolve().then(side === 'raw' ? raw : seine), STEP_MS, `${side} side of a ${N}-flow round`));
          (side === 'raw' ? m.raw : m.seine).push(ms);
        }
      };
      const check = (what: string, ok: boolean, detail: unknown) => {
        if (!ok) throw new Error(`${what}: ${JSON.stringify(detail)}`);
      };
      for (let i = 0; i < REPEAT; i++) {
        await release();
        await pair(install, i, () => ofctl('del-flows', mgmt), () => ofctl('--bundle', 'add-flows', mgmt, file), async () => {
          const r = await fresh().reconcile(flows);
          check('install', r.added === N, r);
        });
        await pair(unchanged, i, () => ofctl('--bundle', 'replace-flows', mgmt, file), () => ofctl('--bundle', 'replace-flows', mgmt, file), async () => {
          const r = await fresh().reconcile(flows);
          check('unchanged', r.added + r.modified + r.deleted === 0, r);
        });
        await pair(changed, i, () => ofctl('--bundle', 'replace-flows', mgmt, file), () => ofctl('--bundle', 'replace-flows', mgmt, changedFile), async () => {
          const r = await fresh().reconcile(changedFlows);
          check('1% changed', r.modified === N / 100 && !r.added && !r.deleted, r);
        });
      }
      await release();
      await held.release();
      const steady = await steadyState(vs, inst, pipeline, flows, file);
      const row = (metric: string, m: { seine: number[]; raw: number[] }, anchorLabel: string, goal?: string): BenchRow => ({
        metric, unit: 'ms', seine: median(m.seine), anchor: median(m.raw), anchorLabel, better: 'lower', goal,
      });
      return [
        row(`install ${N} flows (reconcile from empty)`, install, 'raw ovs-ofctl --bundle add-flows <file>', 'ratio >= 1.0'),
        row(`reconcile ${N} unchanged flows`, unchanged, 'raw ovs-ofctl --bundle replace-flows <file>', 'ratio >= 0.8'),
        row(`reconcile ${N} flows, 1% changed`, changed, 'raw ovs-ofctl --bundle replace-flows <file>'),
        row(`install ${N} new flows through the agent's datapath (steady state)`, steady, 'raw ovs-ofctl --bundle add-flows <file>, same lines', 'ratio >= 1.0'),
        row(`install ${N} new flows through the agent's datapath (steady state), vs --no-names`, { seine: steady.seine, raw: steady.rawNoNames }, 'raw ovs-ofctl --no-names --bundle add-flows (its fastest form)'),
      ];
    } finally {
      await client?.close();
      if (inst) await stopOvsInstance(inst);
      await run('ip', ['netns', 'del', netns], { allowFailure: true });
      await rm(tmp, { recursive: true, force: true });
    }
  },
};

/** See the header: Datapath.sync of 10k new flows vs raw add-flows of the same lines, alternating, medians. */
async function steadyState(vs: VSwitch, inst: OvsInstance, pipeline: Pipeline, flows: Flow[], file: string): Promise<{ seine: number[]; raw: number[]; rawNoNames: number[] }> {
  const env = inst.env;
  const ofctl = (...args: string[]) => run('ovs-ofctl', ['-O', 'OpenFlow15', ...args], { env, timeoutMs: STEP_MS });
  for (const br of ['br-dp', 'br-raw']) await vs.ensureBridge(br, { datapathType: 'netdev', failMode: 'secure', protocols: ['OpenFlow15'] });
  await vs.ensurePort('br-dp', 'dp-gw0', { type: 'internal', ofportRequest: GATEWAY_OFPORT });
  await vs.ensurePort('br-dp', 'dp-tun0', { type: 'geneve', ofportRequest: TUNNEL_OFPORT, options: { remote_ip: 'flow' } });
  for (const p of ['br-dp', 'br-raw', 'dp-gw0']) await vs.waitOfport(p);
  const mgmt = bridgeMgmt(inst, 'br-dp');
  const raw = bridgeMgmt(inst, 'br-raw');

  let policy: Flow[] = [];
  const bridge = new OpenFlowBridge({ mgmt, tables: pipeline, soleWriter: true });
  let datapath: Datapath;
  const podPorts = new OvsPodPorts(vs, 'br-dp', () => datapath.sync());
  datapath = new Datapath({
    bridge, pipeline, round: 1, podPorts,
    network: { gateway: { name: 'dp-gw0', ofport: GATEWAY_OFPORT, mac: '02:00:00:00:00:01', ip: '10.244.0.1', prefixLength: 24 }, tunnel: { name: 'dp-tun0', ofport: TUNNEL_OFPORT } },
    podCIDR: '10.244.0.0/24', serviceCIDR: '10.96.0.0/16',
    peers: () => [], // no host routes: the bench runs in the root namespace
    features: [{ name: 'bench-policy', flows: () => policy }],
  });
  await datapath.sync(); // the first sync: a FlowRound that dumps; from here on the mirror
  if (!bridge.mirrored) throw new Error('steady state: the bridge keeps no mirror after its first sync');
  // br-raw starts from the same base flows: Seine's own dump, fed back as replace-flows input.
  const base = (await ofctl('dump-flows', '--no-stats', mgmt)).stdout;
  await run('ovs-ofctl', ['-O', 'OpenFlow15', '--bundle', 'replace-flows', raw, '-'], { env, input: base, timeoutMs: STEP_MS });

  const m = { seine: [] as number[], raw: [] as number[], rawNoNames: [] as number[] };
  const policyScope = formatCookieFilter(categoryFilter('NetworkPolicy'));
  for (let i = 0; i < REPEAT; i++) {
    for (const side of i % 2 ? ['raw', 'seine'] : ['seine', 'raw']) {
      if (side === 'seine') {
        policy = flows;
        const [ms] = await timeMs(() => withDeadline(datapath.sync(), STEP_MS, `the datapath's sync of ${N} new flows`));
        const r = datapath.stats.lastSync!;
        if (r.added !== N || r.modified || r.deleted) throw new Error(`steady state: sync did ${JSON.stringify(r)}`);
        m.seine.push(ms);
        policy = [];
        await withDeadline(datapath.sync(), STEP_MS, 'the datapath\'s sync back to the base set'); // 10k deletes, untimed
      } else {
        // Also raw with --no-names (no table-features fetch): ovs-ofctl's fastest form.
        for (const k of i % 4 < 2 ? (['raw', 'rawNoNames'] as const) : (['rawNoNames', 'raw'] as const)) {
          const [ms] = await timeMs(() => (k === 'raw' ? ofctl('--bundle', 'add-flows', raw, file) : ofctl('--no-names', '--bundle', 'add-flows', raw, file)));
          m[k].push(ms);
          await ofctl('--bundle', 'del-flows', raw, policyScope);
        }
      }
    }
  }
  // Both bridges must have ended up with the same table each time: check the last one.
  policy = flows;
  await datapath.sync();
  await ofctl('--bundle', 'add-flows', raw, file);
  const lines = async (br: string) => (await ofctl('dump-flows', '--no-stats', br)).stdout.split('\n').filter((l) => l.startsWith(' ')).sort();
  const [a, b] = await Promise.all([lines(mgmt), lines(raw)]);
  if (a.length !== b.length || a.some((l, i) => l !== b[i])) throw new Error(`steady state: br-dp (${a.length} flows) and br-raw (${b.length}) differ`);
  await bridge.close();
  return m;
}
