// Reject, policy logging and per-rule stats on a 2-box lab, with real connections: an ACNP on
// box1-pod1 rejects TCP 5001 (logged), drops TCP 5002 and rejects everything else; clients on
// the same box (box1-pod2) and on the other box (box2-pod1) must see a fast "connection
// refused" for TCP, an ICMP "host prohibited" for UDP and ping, and a timeout for the Drop.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Lab } from '../../src/lab/lab.js';
import { specFromFlags } from '../../src/lab/spec.js';
import type { LabState, PodState } from '../../src/lab/state.js';
import { run } from '../../src/lib/exec.js';
import { sleep } from '../../src/lib/process.js';
import { requirePrereqs } from '../helpers/prereqs.js';
import { dumpFlows, eventually, newLab, reachable, removeLab, seinectl } from './lab-fixture.js';
import { readFile } from 'node:fs/promises';
import { parseDumpFlows } from '../../src/agent/ovs/flow.js';
import { metricConjId } from '../../src/agent/policy/stats.js';
import type { BoxState } from '../../src/lab/state.js';
import type { PolicyStatsObject } from '../../src/api/policy-stats.js';
import type { NodeEvent } from '../../src/controller/events.js';

const npLogLines = async (box: BoxState) => (await readFile(path.join(box.ovsDir, 'agent', 'networkpolicy', 'np.log'), 'utf8').catch(() => '')).split('\n').filter(Boolean);

/** n_packets of the IngressMetric `+new` flows of Allow rules (one Allow rule here): its sessions. */
async function allowSessions(box: BoxState): Promise<number> {
  return parseDumpFlows(await dumpFlows(box, true)).filter((f) => /ct_state=\+new/.test(f.match) && /ct_label=/.test(f.match) && metricConjId(f.match) !== undefined).reduce((n, f) => n + (f.nPackets ?? 0), 0);
}

/** One TCP connect from a pod: the outcome (connected, ECONNREFUSED, timeout, …) and how long it took. */
async function tcpConnect(from: PodState, ip: string, port: number, timeoutMs = 3000): Promise<{ result: string; ms: number }> {
  const script = `const s=require('net').connect({host:'${ip}',port:${port}});const t=process.hrtime.bigint();const ms=()=>Number(process.hrtime.bigint()-t)/1e6;`
    + `s.setTimeout(${timeoutMs},()=>{console.log('timeout',ms());process.exit(0)});s.on('connect',()=>{console.log('connected',ms());process.exit(0)});s.on('error',e=>{console.log(e.code,ms());process.exit(0)})`;
  const r = await run('ip', ['netns', 'exec', from.netns, process.execPath, '-e', script], { allowFailure: true });
  const [result, ms] = r.stdout.trim().split(' ');
  return { result: result ?? r.stderr, ms: Number(ms) };
}

/** One UDP datagram on a connected socket, then wait for an answer or an ICMP-reported error. */
async function udpProbe(from: PodState, ip: string, port: number): Promise<string> {
  const script = `import socket,errno\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.settimeout(2)\ns.connect(('${ip}',${port}))\ns.send(b'x')\ntry:\n  s.recv(10); print('answered')\nexcept socket.timeout: print('timeout')\nexcept OSError as e: print(errno.errorcode.get(e.errno, str(e.errno)))`;
  const r = await run('ip', ['netns', 'exec', from.netns, '/usr/bin/python3', '-c', script], { allowFailure: true });
  return r.stdout.trim() || r.stderr.trim();
}

const rejectPolicy = `apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: reject-target}
spec:
  priority: 5
  tier: securityops
  appliedTo:
    - podSelector: {matchLabels: {app: target}}
  ingress:
    - action: Allow
      name: allow-5004
      enableLogging: true
      logLabel: allowed-5004
      ports: [{protocol: TCP, port: 5004}]
    - action: Reject
      name: reject-5001
      enableLogging: true
      ports: [{protocol: TCP, port: 5001}]
    - action: Drop
      name: drop-5002
      ports: [{protocol: TCP, port: 5002}]
    - action: Reject
      name: reject-rest
`;

describe('policy Reject, logging and stats (2 boxes)', function () {
  this.timeout(240_000);
  let lab: Lab | undefined;
  let state: LabState;
  let server = '';
  let listener: ChildProcess | undefined;
  const pod = (name: string) => state.pods.find((p) => p.name === name)!;

  before(async () => {
    requirePrereqs('root', 'ovs', 'ip', 'ethtool', 'ping');
    lab = await newLab('reject');
    await lab.up(specFromFlags(2, 2));
    await lab.labelPod({ namespace: 'default', name: 'box1-pod1' }, [{ key: 'app', value: 'target' }]);
    state = await lab.current();
    server = state.controller!.url;
    // Listeners on the target, so a refusal can only come from the policy.
    listener = spawn('ip', ['netns', 'exec', pod('box1-pod1').netns, process.execPath, '-e',
      `const net=require('net');for(const p of [5001,5002,5004])net.createServer(c=>c.end()).listen(p);require('dgram').createSocket('udp4').bind(5003)`], { stdio: 'ignore' });
    await eventually('listener up', async () => (await tcpConnect(pod('box1-pod2'), pod('box1-pod1').ip!, 5004)).result === 'connected');
    assert.ok(await reachable(pod('box2-pod1'), pod('box1-pod1').ip!), 'cross-box traffic flows before any policy');
    assert.equal((await tcpConnect(pod('box2-pod1'), pod('box1-pod1').ip!, 5001)).result, 'connected');
    const file = path.join(lab.dir, 'reject.yaml');
    await writeFile(file, rejectPolicy);
    const r = await seinectl(server, ['apply', '-f', file]);
    assert.equal(r.code, 0, r.stderr);
    await eventually('TCP 5001 refused', async () => (await tcpConnect(pod('box1-pod2'), pod('box1-pod1').ip!, 5001, 1000)).result === 'ECONNREFUSED');
  });

  after(async () => {
    listener?.kill();
    if (lab) await removeLab(lab);
  });

  const box1 = () => state.boxes.find((b) => b.name === 'box1')!;
  const policyLogEvents = async () => {
    const r = await seinectl(server, ['get', 'events', '--type', 'policy-log', '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as NodeEvent[];
  };
  /** The ACNP's stats as `seinectl get acnpstats` shows them (summed over both boxes). */
  const ruleStats = async (rule: string) => {
    const r = await seinectl(server, ['get', 'acnpstats', 'reject-target', '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const o = JSON.parse(r.stdout) as PolicyStatsObject;
    return o.ruleTrafficStats?.find((x) => x.name === rule)?.trafficStats ?? { packets: 0, bytes: 0, sessions: 0 };
  };

  it('logs a denied connection with logging on as exactly one np.log line in Antrea\'s format and one event at the controller', async () => {
    await sleep(1200); // earlier attempts' dedup windows close
    const before = (await npLogLines(box1())).length;
    const eventsBefore = (await policyLogEvents()).length;
    assert.equal((await tcpConnect(pod('box2-pod1'), pod('box1-pod1').ip!, 5001)).result, 'ECONNREFUSED');
    await sleep(1500);
    const added = (await npLogLines(box1())).slice(before);
    assert.equal(added.length, 1, added.join('\n'));
    const events = (await policyLogEvents()).slice(eventsBefore);
    assert.equal(events.length, 1, JSON.stringify(events));
    assert.equal(events[0]!.node, 'box1');
    assert.equal(events[0]!.message, added[0]);
    assert.deepEqual([events[0]!.fields?.rule, events[0]!.fields?.action], ['reject-5001', 'Reject']);
    const re = new RegExp(`^\\d{4}/\\d\\d/\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d{6} AntreaPolicyIngressRule AntreaClusterNetworkPolicy:reject-target reject-5001 Ingress Reject \\d+ default/box1-pod1 ${pod('box2-pod1').ip!.replace(/\./g, '\\.')} \\d+ ${pod('box1-pod1').ip!.replace(/\./g, '\\.')} 5001 TCP 60 <nil>$`);
    assert.match(added[0]!, re);
  });

  it('logs and counts each allowed connection once: N connections, N np.log lines, N sessions (flows and seinectl get acnpstats)', async () => {
    const n = 4;
    const lines0 = (await npLogLines(box1())).length;
    const sessions0 = await allowSessions(box1());
    // The counters the boxes last reported settle first (they report every 2 s in the lab).
    let stats0 = await ruleStats('allow-5004');
    await eventually('reported stats settle', async () => {
      await sleep(2500);
      const s = await ruleStats('allow-5004');
      const same = s.sessions === stats0.sessions;
      stats0 = s;
      return same;
    }, 15_000);
    for (let i = 0; i < n; i++) assert.equal((await tcpConnect(pod('box2-pod1'), pod('box1-pod1').ip!, 5004)).result, 'connected');
    await sleep(300);
    const added = (await npLogLines(box1())).slice(lines0);
    assert.equal(added.length, n, added.join('\n'));
    for (const l of added) assert.match(l, / AntreaPolicyIngressRule AntreaClusterNetworkPolicy:reject-target allow-5004 Ingress Allow \d+ default\/box1-pod1 .* 5004 TCP 60 allowed-5004$/);
    // Datapath flow counters reach the OpenFlow flows with the revalidator (~0.5 s).
    await eventually(`${n} sessions counted`, async () => (await allowSessions(box1())) - sessions0 === n, 3000);
    await sleep(1000);
    assert.equal((await allowSessions(box1())) - sessions0, n, 'no more than N');
    // The same N sessions through the controller, with the packets and bytes of N short connections.
    await eventually(`acnpstats shows ${n} more sessions`, async () => (await ruleStats('allow-5004')).sessions - stats0.sessions === n, 10_000);
    const s = await ruleStats('allow-5004');
    assert.ok(s.packets - stats0.packets >= 3 * n, `packets ${s.packets - stats0.packets} for ${n} connections`);
    assert.ok(s.bytes - stats0.bytes >= 60 * n, `bytes ${s.bytes - stats0.bytes}`);
    const rejected = await ruleStats('reject-5001');
    assert.ok(rejected.sessions >= 1 && rejected.packets >= 1, `reject-5001 counted: ${JSON.stringify(rejected)}`);
  });

  for (const client of ['box1-pod2', 'box2-pod1']) {
    it(`TCP from ${client}: Reject answers "connection refused" in under a second`, async () => {
      const times: number[] = [];
      for (let i = 0; i < 5; i++) {
        const r = await tcpConnect(pod(client), pod('box1-pod1').ip!, 5001);
        assert.equal(r.result, 'ECONNREFUSED', `attempt ${i}`);
        times.push(r.ms);
      }
      assert.ok(Math.max(...times) < 1000, `latencies ${times.join(', ')} ms`);
      console.log(`      reject latency ${client}: ${times.map((t) => t.toFixed(1)).join(' ')} ms`);
    });

    it(`UDP and ICMP from ${client}: Reject answers ICMP host prohibited`, async () => {
      assert.equal(await udpProbe(pod(client), pod('box1-pod1').ip!, 5003), 'EHOSTUNREACH');
      const p = await run('ip', ['netns', 'exec', pod(client).netns, 'ping', '-c1', '-W2', pod('box1-pod1').ip!], { allowFailure: true });
      assert.match(p.stdout, /Destination Host Prohibited|Unreachable|Packet filtered/, p.stdout);
    });

    it(`TCP from ${client}: Drop still times out`, async () => {
      assert.equal((await tcpConnect(pod(client), pod('box1-pod1').ip!, 5002, 1500)).result, 'timeout');
    });
  }
});
