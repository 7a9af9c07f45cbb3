// Issue 23's first "Done when": the agent's steady state starts no ovs-ofctl, ip, nsenter or
// conntrack process. A 2-box lab is brought up and left to settle; then for a busy minute
// (SEINE_BUSY_MS) it gets pod traffic (ICMP and TCP across boxes, so conntrack, the flow exporter
// and its store are busy), policies applied and deleted (realization, rule stats), Traceflows
// (packet-out, packet-in) and a pod added and removed (CNI ADD and DEL, IPAM, ports, routes).
//
// Two independent counts, per agent:
//  - the agent's own `seine_agent_child_processes_total{command}` (every spawn in src/ goes through
//    lib/exec, which counts it; test/unit/layers.test.ts keeps it that way), diffed over the minute;
//  - a sampler that reads /proc every 10 ms for the agent's children and their command names (it
//    can miss a process shorter than that, which is why the counter is the primary evidence).
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Lab } from '../../src/lab/lab.js';
import { specFromFlags } from '../../src/lab/spec.js';
import type { BoxState, LabState, PodState } from '../../src/lab/state.js';
import { sleep } from '../../src/lib/process.js';
import { requirePrereqs } from '../helpers/prereqs.js';
import { agentApiGet, eventually, newLab, reachable, removeLab, seinectl } from './lab-fixture.js';
import { Traffic } from './traffic.js';

const FORBIDDEN = ['ovs-ofctl', 'ip', 'nsenter', 'conntrack'];
const BUSY_MS = Number(process.env.SEINE_BUSY_MS ?? 60_000);

const POLICY = `apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: steady-allow}
spec:
  priority: 5
  tier: application
  appliedTo: [{podSelector: {matchLabels: {app: demo}}}]
  ingress:
    - {action: Allow, name: web-in, ports: [{protocol: TCP, port: 5001}]}
    - {action: Drop, name: no-db, ports: [{protocol: TCP, port: 5002}]}
`;

async function agentCounts(box: BoxState): Promise<Map<string, number>> {
  const text = await agentApiGet(box, '/metrics');
  const counts = new Map<string, number>();
  for (const m of text.matchAll(/^seine_agent_child_processes_total\{command="([^"]+)"\} (\d+)$/gm)) counts.set(m[1], Number(m[2]));
  return counts;
}

const agentPid = (box: BoxState) => {
  const p = box.processes.find((x) => x.role === 'agent');
  assert.ok(p, `${box.name} has an agent process`);
  return p.pid;
};

/** Every 10 ms: the agent's children's command names, until stopped. */
function sampleChildren(pid: number): { stop: () => Promise<Map<string, number>> } {
  const seen = new Map<string, number>();
  const known = new Set<string>();
  let running = true;
  const loop = (async () => {
    while (running) {
      const tasks = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
      for (const t of tasks) {
        const children = (await readFile(`/proc/${pid}/task/${t}/children`, 'utf8').catch(() => '')).trim().split(/\s+/).filter(Boolean);
        for (const c of children) {
          const comm = (await readFile(`/proc/${c}/comm`, 'utf8').catch(() => '')).trim();
          if (!comm || known.has(`${c}:${comm}`)) continue;
          known.add(`${c}:${comm}`);
          seen.set(comm, (seen.get(comm) ?? 0) + 1);
        }
      }
      await sleep(10);
    }
  })();
  return { stop: async () => { running = false; await loop; return seen; } };
}

const diff = (before: Map<string, number>, after: Map<string, number>) =>
  new Map([...after].map(([k, v]) => [k, v - (before.get(k) ?? 0)] as const).filter(([, v]) => v > 0));

describe('the agent in steady state starts no ovs-ofctl, ip, nsenter or conntrack process', function () {
  this.timeout(BUSY_MS + 240_000);
  let lab: Lab | undefined;
  let state: LabState;
  let server = '';
  const pod = (name: string) => state.pods.find((p) => p.name === name)!;

  before(async () => {
    requirePrereqs('root', 'ovs', 'ip', 'ethtool', 'ping');
    lab = await newLab('steady');
    await lab.up(specFromFlags(2, 2));
    state = await lab.current();
    server = state.controller!.url;
    await writeFile(path.join(lab.dir, 'policy.yaml'), POLICY);
  });

  after(async () => {
    if (lab) await removeLab(lab);
  });

  it(`over ${BUSY_MS / 1000} s of traffic, policy changes, Traceflows and a pod added and removed`, async () => {
    const traffic = new Traffic(lab!, 2);
    await traffic.install();
    await traffic.listen(pod('box2-pod1'), [5001, 5002], []);
    assert.ok(await reachable(pod('box1-pod1'), pod('box2-pod1').ip!), 'box1-pod1 reaches box2-pod1 before the minute');
    await sleep(3000); // let startup work (first flow sync, first polls) finish before counting

    const before = new Map(await Promise.all(state.boxes.map(async (b) => [b.name, await agentCounts(b)] as const)));
    const samplers = new Map(state.boxes.map((b) => [b.name, sampleChildren(agentPid(b))] as const));
    const end = Date.now() + BUSY_MS;
    let round = 0;
    const failures: string[] = [];
    while (Date.now() < end) {
      round++;
      const src: PodState = pod('box1-pod1');
      const dst: PodState = pod('box2-pod1');
      if (!(await reachable(src, dst.ip!))) failures.push(`round ${round}: ping box1-pod1 → box2-pod1 lost`);
      const tcp = await traffic.probe(src, dst, 'tcp', 5001);
      if (tcp.verdict !== 'allowed') failures.push(`round ${round}: tcp/5001 ${tcp.verdict}`);
      const applied = await seinectl(server, ['apply', '-f', path.join(lab!.dir, 'policy.yaml')]);
      assert.equal(applied.code, 0, applied.stderr);
      await eventually('the policy Realized on both boxes', async () => {
        const g = await seinectl(server, ['get', 'acnp', 'steady-allow', '-o', 'json']);
        return g.code === 0 && (JSON.parse(g.stdout) as { status?: { currentNodesRealized?: number } }).status?.currentNodesRealized === 2;
      }, 30_000);
      const dropped = await traffic.probe(src, dst, 'tcp', 5002);
      if (dropped.verdict !== 'dropped') failures.push(`round ${round}: tcp/5002 under the Drop rule was ${dropped.verdict}`);
      const tf = await seinectl(server, ['traceflow', '--source', 'default/box1-pod1', '--destination', 'default/box2-pod1', '-o', 'json']);
      assert.equal(tf.code, 0, tf.stderr);
      const extra = await lab!.addPod({ namespace: 'default', name: `steady-${round}`, box: 'box1', labels: { app: 'demo' }, ports: [] });
      if (!(await reachable(extra, dst.ip!))) failures.push(`round ${round}: new pod's first ping lost`);
      await lab!.deletePod({ namespace: 'default', name: `steady-${round}` });
      const deleted = await seinectl(server, ['delete', 'acnp', 'steady-allow']);
      assert.equal(deleted.code, 0, deleted.stderr);
      await sleep(500);
    }
    const after = new Map(await Promise.all(state.boxes.map(async (b) => [b.name, await agentCounts(b)] as const)));
    const sampled = new Map(await Promise.all([...samplers].map(async ([b, s]) => [b, await s.stop()] as const)));

    assert.ok(round >= 2, `the busy minute ran ${round} rounds`);
    assert.deepEqual(failures, [], 'the datapath kept working during the minute');
    for (const b of state.boxes) {
      const counted = diff(before.get(b.name)!, after.get(b.name)!);
      const seen = sampled.get(b.name)!;
      const report = `${b.name}: counted ${JSON.stringify(Object.fromEntries(counted))}, sampled ${JSON.stringify(Object.fromEntries(seen))}`;
      for (const cmd of FORBIDDEN) {
        assert.equal(counted.get(cmd) ?? 0, 0, `${cmd} started by the agent in steady state — ${report}`);
        assert.equal(seen.get(cmd) ?? 0, 0, `${cmd} seen as the agent's child in steady state — ${report}`);
      }
    }
  });
});
