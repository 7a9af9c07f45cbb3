// Fleet-wide box settings and box-to-box latency on a 3-box lab (issue #22, items 4 and 5).
//  - A NodeConfig selecting box1 and box2 (by kubernetes.io/hostname) sets a 1 s poll interval
//    and adds an IPFIX collector (UDP, in the underlay namespace); both agents take it live (PIDs
//    unchanged), the collector receives data records from both and none from box3, whose poll
//    interval stays at its config file's 5 s. Deleting it restores the config file's settings.
//  - A NodeLatencyMonitor makes every box probe its peers: stats for all 6 directed pairs with
//    RTT > 0 in `seinectl get nodelatencystats`, the agents' gauges, no child processes; deleting
//    the monitor clears them.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Lab } from '../../src/lab/lab.js';
import { specFromFlags } from '../../src/lab/spec.js';
import type { BoxState, LabState, PodState } from '../../src/lab/state.js';
import { run } from '../../src/lib/exec.js';
import { sleep } from '../../src/lib/process.js';
import { requirePrereqs } from '../helpers/prereqs.js';
import { agentApiGet, eventually, newLab, removeLab, seinectl } from './lab-fixture.js';
import { Traffic, type OpenConnection } from './traffic.js';

const COLLECTOR_PORT = 4739;

/** Counts IPFIX sets per exporter address: `<src ip> <set id>` per set, one line each. */
const COLLECTOR_PY = String.raw`
import socket, struct, sys
host, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((host, port))
f = open(out, 'a', buffering=1)
while True:
    data, addr = s.recvfrom(65535)
    if len(data) < 16: continue
    version, length = struct.unpack('!HH', data[:4])
    if version != 10: continue
    off = 16
    while off + 4 <= min(length, len(data)):
        set_id, set_len = struct.unpack('!HH', data[off:off+4])
        if set_len < 4: break
        f.write('%s %d\n' % (addr[0], set_id))
        off += set_len
`;

async function metrics(box: BoxState): Promise<string> {
  return agentApiGet(box, '/metrics');
}

function metric(text: string, name: string): number {
  const m = new RegExp(`^${name} ([0-9.e+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

const agentPid = (box: BoxState) => {
  const p = box.processes.find((x) => x.role === 'agent');
  assert.ok(p, `${box.name} has an agent process`);
  return p.pid;
};

/** The agent's child processes right now (every thread's children), as `pid comm`. */
async function children(pid: number): Promise<string[]> {
  const r = await run('sh', ['-c', `for c in $(cat /proc/${pid}/task/*/children); do echo "$c $(cat /proc/$c/comm)"; done`], { allowFailure: true });
  return r.stdout.split('\n').filter(Boolean).sort();
}

/** Processes the agent started since it began, by command, by its own count (lib/exec counts every spawn). */
const spawned = (text: string) => new Map([...text.matchAll(/^seine_agent_child_processes_total\{command="([^"]+)"\} (\d+)$/gm)].map((m) => [m[1]!, Number(m[2])]));

const nodeConfig = (port: number) => `apiVersion: seine.io/v1alpha1
kind: NodeConfig
metadata: {name: edge-flows}
spec:
  nodeSelector:
    matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [box1, box2]}]
  flowExporter:
    pollIntervalSeconds: 1
    collectors: ["172.31.250.1:${port}:udp"]
  logLevel: info
`;

const MONITOR = `apiVersion: crd.antrea.io/v1alpha1
kind: NodeLatencyMonitor
metadata: {name: default}
spec: {pingIntervalSeconds: 1}
`;

describe('fleet configuration on a 3-box lab: NodeConfig live, NodeLatencyMonitor matrix', function () {
  this.timeout(300_000);
  let lab: Lab | undefined;
  let state: LabState;
  let server = '';
  const conns: OpenConnection[] = [];
  const box = (name: string) => state.boxes.find((b) => b.name === name)!;
  const pod = (name: string): PodState => state.pods.find((p) => p.name === name)!;

  before(async () => {
    requirePrereqs('root', 'ovs', 'ip', 'ethtool', 'ping');
    lab = await newLab('fcfg');
    await lab.up(specFromFlags(3, 1));
    state = await lab.current();
    server = state.controller!.url;
    const traffic = new Traffic(lab, 2);
    await traffic.install();
    for (const b of ['box1', 'box2', 'box3']) await traffic.listen(pod(`${b}-pod1`), [5001], []);
    // A long-lived connection per box pair direction around the ring: every box has connections to export.
    conns.push(await traffic.open(pod('box1-pod1'), pod('box2-pod1'), 5001));
    conns.push(await traffic.open(pod('box2-pod1'), pod('box3-pod1'), 5001));
    conns.push(await traffic.open(pod('box3-pod1'), pod('box1-pod1'), 5001));
  });

  after(async () => {
    for (const c of conns) c.close();
    if (lab) await removeLab(lab);
  });

  /** Keeps the connections active (each exchange changes their counters) while `body` runs. */
  async function busy<T>(body: () => Promise<T>): Promise<T> {
    let on = true;
    const loop = (async () => {
      while (on) {
        for (const c of conns) await c.exchange().catch(() => undefined);
        await sleep(300);
      }
    })();
    try {
      return await body();
    } finally {
      on = false;
      await loop;
    }
  }

  it('a NodeConfig selecting box1 and box2 changes their poll interval and adds a collector live; box3 keeps its settings', async () => {
    const pids = Object.fromEntries(['box1', 'box2', 'box3'].map((b) => [b, agentPid(box(b))]));
    for (const b of ['box1', 'box2', 'box3']) assert.equal(metric(await metrics(box(b)), 'seine_flow_exporter_poll_interval_seconds'), 5, `${b} starts at 5 s`);
    const out = path.join(lab!.dir, 'collector.txt');
    await writeFile(out, '');
    await writeFile(path.join(lab!.dir, 'collector.py'), COLLECTOR_PY);
    await lab!.startProcess({ role: 'ipfix-collector', command: 'ip', args: ['netns', 'exec', state.underlay.netns, 'python3', '-u', path.join(lab!.dir, 'collector.py'), '172.31.250.1', String(COLLECTOR_PORT), out] });
    const file = path.join(lab!.dir, 'edge-flows.yaml');
    await writeFile(file, nodeConfig(COLLECTOR_PORT));
    const r = await seinectl(server, ['apply', '-f', file]);
    assert.equal(r.code, 0, r.stderr);

    await eventually('the NodeConfig Realized on its 2 boxes', async () => {
      const g = await seinectl(server, ['get', 'nc', 'edge-flows', '-o', 'json']);
      const s = (JSON.parse(g.stdout) as { status?: { currentNodesRealized?: number; desiredNodesRealized?: number } }).status;
      return s?.currentNodesRealized === 2 && s.desiredNodesRealized === 2;
    }, 30_000);
    await eventually('box1 and box2 poll every 1 s', async () =>
      metric(await metrics(box('box1')), 'seine_flow_exporter_poll_interval_seconds') === 1 && metric(await metrics(box('box2')), 'seine_flow_exporter_poll_interval_seconds') === 1, 15_000);
    const before = Object.fromEntries(await Promise.all(['box1', 'box3'].map(async (b) => [b, metric(await metrics(box(b)), 'seine_flow_polls_total')] as const)));

    const ip = (b: string) => box(b).underlayIP;
    const dataFrom = async () => {
      const lines = (await readFile(out, 'utf8')).split('\n').filter(Boolean).map((l) => l.split(' '));
      const count = (addr: string) => lines.filter(([a, set]) => a === addr && Number(set) >= 256).length;
      return { box1: count(ip('box1')), box2: count(ip('box2')), box3: count(ip('box3')), all: lines.length };
    };
    await busy(async () => {
      await eventually('data records from box1 and box2 at the new collector', async () => {
        const d = await dataFrom();
        return d.box1 > 0 && d.box2 > 0;
      }, 45_000);
      await sleep(6000); // box3's exporter gets time to show it would not send there
    });
    const d = await dataFrom();
    assert.equal(d.box3, 0, `box3 sent nothing to the NodeConfig's collector: ${JSON.stringify(d)}`);
    const after = Object.fromEntries(await Promise.all(['box1', 'box3'].map(async (b) => [b, metric(await metrics(box(b)), 'seine_flow_polls_total')] as const)));
    const polls = { box1: after.box1! - before.box1!, box3: after.box3! - before.box3! };
    assert.ok(polls.box1 > polls.box3, `box1 (1 s) polled more often than box3 (5 s) over the same time: ${JSON.stringify(polls)}`);
    assert.equal(metric(await metrics(box('box3')), 'seine_flow_exporter_poll_interval_seconds'), 5, 'box3 keeps its 5 s');
    assert.equal(metric(await metrics(box('box3')), 'seine_flow_exporter_extra_collectors'), 0);

    const now = await lab!.current();
    for (const b of ['box1', 'box2', 'box3']) {
      const p = agentPid(now.boxes.find((x) => x.name === b)!);
      assert.equal(p, pids[b], `${b}'s agent was not restarted`);
      process.kill(p, 0); // still alive (throws if not)
    }

    const del = await seinectl(server, ['delete', 'nc', 'edge-flows']);
    assert.equal(del.code, 0, del.stderr);
    await eventually('box1 back to its config file\'s 5 s, its extra collector closed', async () => {
      const t = await metrics(box('box1'));
      return metric(t, 'seine_flow_exporter_poll_interval_seconds') === 5 && metric(t, 'seine_flow_exporter_extra_collectors') === 0;
    }, 20_000);
  });

  it('a NodeLatencyMonitor gives RTTs for all 6 directed box pairs, with no child processes, and deleting it clears them', async () => {
    // What runs before the monitor (long-lived helpers, if any): probing must add nothing to it.
    const childrenBefore = Object.fromEntries(await Promise.all(state.boxes.map(async (b) => [b.name, await children(agentPid(b))] as const)));
    const spawnedBefore = Object.fromEntries(await Promise.all(state.boxes.map(async (b) => [b.name, spawned(await metrics(b))] as const)));
    const file = path.join(lab!.dir, 'monitor.yaml');
    await writeFile(file, MONITOR);
    const r = await seinectl(server, ['apply', '-f', file]);
    assert.equal(r.code, 0, r.stderr);
    type Stats = { metadata: { name: string }; peerNodeLatencyStats: { nodeName: string; targetIPLatencyStats: { targetIP: string; lastMeasuredRTTNanoseconds?: number }[] }[] };
    const pairs = async () => {
      const g = await seinectl(server, ['get', 'nodelatencystats', '-o', 'json']);
      assert.equal(g.code, 0, g.stderr);
      const items = (JSON.parse(g.stdout) as { items: Stats[] }).items;
      return items.flatMap((i) => i.peerNodeLatencyStats.flatMap((p) => p.targetIPLatencyStats.map((t) => ({ from: i.metadata.name, to: p.nodeName, ip: t.targetIP, rtt: t.lastMeasuredRTTNanoseconds ?? 0 }))));
    };
    await eventually('RTTs for every directed pair', async () => {
      const p = await pairs();
      return p.length === 6 && p.every((x) => x.rtt > 0);
    }, 30_000);
    const p = await pairs();
    const names = p.map((x) => `${x.from}->${x.to}`).sort();
    assert.deepEqual(names, ['box1->box2', 'box1->box3', 'box2->box1', 'box2->box3', 'box3->box1', 'box3->box2']);
    for (const x of p) assert.equal(x.ip, box(x.to).underlayIP, `${x.from}->${x.to} probes the peer's underlay address`);
    // The measured matrix, for the record (the load of this machine moves it).
    process.stdout.write(`      RTT ms: ${p.map((x) => `${x.from}->${x.to} ${(x.rtt / 1e6).toFixed(3)}`).join(', ')}\n`);
    // Anchor in the same run: the kernel's ICMP echo over the same underlay (no agent event loop in it).
    const k = await run('ip', ['netns', 'exec', box('box1').netns, 'ping', '-n', '-c', '5', '-i', '0.2', box('box2').underlayIP], { allowFailure: true });
    process.stdout.write(`      anchor, kernel ping box1->box2: ${/rtt [^\n]*/.exec(k.stdout)?.[0] ?? k.stdout.trim()}\n`);
    const table = await seinectl(server, ['get', 'nodelatencystats', 'box1']);
    assert.match(table.stdout, /box1\s+box2\s+172\.31\.250\.12\s+[0-9.]+ms/);
    const gauges = (await metrics(box('box2'))).split('\n').filter((l) => l.startsWith('seine_node_latency_rtt_seconds{'));
    assert.equal(gauges.length, 2, gauges.join('\n'));
    await sleep(3000); // three more rounds of probes
    for (const b of state.boxes) {
      assert.deepEqual(await children(agentPid(b)), childrenBefore[b.name], `${b.name}'s agent started no process to probe`);
      // The agent's steady state runs other tools (agent-steady-state.test.ts); probing adds no command of its own.
      const now = spawned(await metrics(b));
      const fresh = [...now.keys()].filter((c) => !spawnedBefore[b.name]!.has(c));
      assert.deepEqual(fresh, [], `${b.name}'s agent spawned new commands while probing: ${JSON.stringify([...now])}`);
      assert.equal(now.get('ping') ?? 0, 0, `${b.name}'s agent ran no ping`);
    }

    const del = await seinectl(server, ['delete', '-f', file]);
    assert.equal(del.code, 0, del.stderr);
    await eventually('the stats cleared', async () => (await pairs()).length === 0, 20_000);
    assert.equal((await metrics(box('box2'))).split('\n').filter((l) => l.startsWith('seine_node_latency_rtt_seconds{')).length, 0);
  });
});
