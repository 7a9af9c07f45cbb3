// Traceflow end to end on a 2-box lab, through `seinectl traceflow` (REST → controller → MQTT
// request/response → agents → OVS packet-out and packet-ins): intra- and inter-box delivery,
// a tunnel hop with tunnelDstIP, an ACNP Drop and Reject naming policy and rule, a timeout
// with a clear reason, and 5 traceflows at once. Afterwards no Traceflow flow is left.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Lab } from '../../src/lab/lab.js';
import { specFromFlags } from '../../src/lab/spec.js';
import type { LabState, PodState } from '../../src/lab/state.js';
import { Category, decodeCookie } from '../../src/agent/ovs/cookie.js';
import { parseDumpFlows } from '../../src/agent/ovs/flow.js';
import type { TraceflowView } from '../../src/controller/client/traceflow-print.js';
import { requirePrereqs } from '../helpers/prereqs.js';
import { dumpFlows, eventually, newLab, removeLab, seinectl } from './lab-fixture.js';

const denyPolicy = `apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: tf-deny}
spec:
  priority: 5
  tier: securityops
  appliedTo:
    - podSelector: {matchLabels: {app: tf-target}}
  ingress:
    - action: Drop
      name: drop-5002
      ports: [{protocol: TCP, port: 5002}]
    - action: Reject
      name: reject-5001
      ports: [{protocol: TCP, port: 5001}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: tf-isolate, namespace: default}
spec:
  podSelector: {matchLabels: {app: tf-isolated}}
  policyTypes: [Ingress]
`;

describe('traceflow (2 boxes)', function () {
  this.timeout(240_000);
  let lab: Lab | undefined;
  let state: LabState;
  let server = '';
  const pod = (name: string) => state.pods.find((p) => p.name === name)!;
  const box = (name: string) => state.boxes.find((b) => b.name === name)!;

  async function traceflow(args: string[]): Promise<{ code: number | null; tf: TraceflowView; stdout: string }> {
    const r = await seinectl(server, ['traceflow', ...args, '-o', 'json']);
    assert.ok(r.stdout.trim().startsWith('{'), `seinectl traceflow printed no JSON: ${r.stderr}`);
    return { code: r.code, tf: JSON.parse(r.stdout) as TraceflowView, stdout: r.stdout };
  }
  /** Runs `fn` while `from` pings `to` 5 times a second (its own traffic, for live traces). */
  async function whilePinging<T>(from: PodState, to: PodState, fn: () => Promise<T>): Promise<T> {
    const child = spawn('ip', ['netns', 'exec', from.netns, 'ping', '-i', '0.2', '-W', '1', to.ip!], { stdio: 'ignore' });
    try {
      return await fn();
    } finally {
      child.kill();
      await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(undefined) : child.once('exit', r)));
    }
  }
  const actions = (tf: TraceflowView) => (tf.status?.results ?? []).map((r) => `${r.node}/${r.role}: ${r.observations.map((o) => `${o.component}:${o.action}`).join(' ')}`);

  before(async () => {
    requirePrereqs('root', 'ovs', 'ip', 'ethtool', 'ping');
    lab = await newLab('tf');
    await lab.up(specFromFlags(2, 2));
    await lab.labelPod({ namespace: 'default', name: 'box2-pod2' }, [{ key: 'app', value: 'tf-target' }]);
    state = await lab.current();
    server = state.controller!.url;
    // No warm-up: the traces below are the first packets between the boxes.
  });

  after(async () => {
    if (lab) await removeLab(lab);
  });

  it('intra-box: Delivered to the destination Pod, one Sender result', async () => {
    const { code, tf } = await traceflow(['--source', 'default/box1-pod1', '--destination', 'default/box1-pod2']);
    assert.equal(code, 0, JSON.stringify(tf.status));
    assert.equal(tf.status?.phase, 'Succeeded');
    assert.ok(tf.status?.dataplaneTag && tf.status.dataplaneTag >= 1 && tf.status.dataplaneTag <= 63);
    const results = tf.status!.results!;
    assert.deepEqual(results.map((r) => [r.node, r.role]), [['box1', 'Sender']]);
    const obs = results[0]!.observations;
    assert.equal(obs[0]!.component, 'SpoofGuard');
    assert.deepEqual([obs.at(-1)!.component, obs.at(-1)!.componentInfo, obs.at(-1)!.action, obs.at(-1)!.pod], ['Forwarding', 'Output', 'Delivered', 'default/box1-pod2']);
  });

  it('inter-box: `seinectl traceflow -o json` Succeeded with a tunnel observation (tunnelDstIP) and Delivered on the receiver', async () => {
    const { code, tf } = await traceflow(['--source', 'default/box1-pod1', '--destination', 'default/box2-pod1']);
    assert.equal(code, 0, JSON.stringify(tf.status));
    assert.equal(tf.status?.phase, 'Succeeded', JSON.stringify(tf.status));
    const [sender, receiver] = tf.status!.results!;
    assert.deepEqual([sender?.node, sender?.role, receiver?.node, receiver?.role], ['box1', 'Sender', 'box2', 'Receiver'], actions(tf).join('\n'));
    const tunnel = sender!.observations.at(-1)!;
    assert.deepEqual([tunnel.component, tunnel.action, tunnel.tunnelDstIP], ['Forwarding', 'Forwarded', box('box2').underlayIP]);
    assert.deepEqual(receiver!.observations.map((o) => o.action), ['Received', 'Forwarded', 'Delivered']);
    assert.equal(receiver!.observations.at(-1)!.pod, 'default/box2-pod1');
  });

  it('prints the hops as a readable path (-o table) and as an SVG graph (-o svg)', async () => {
    const table = await seinectl(server, ['traceflow', '--source', 'default/box1-pod1', '--destination', 'default/box2-pod1', '--protocol', 'udp', '--port', '53']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^tf-box1-pod1-box2-pod1-[0-9a-f]{6}: default\/box1-pod1 -> default\/box2-pod1 {2}phase Succeeded {2}tag \d+\n/);
    assert.match(table.stdout, /\n#\s+NODE\s+ROLE\s+COMPONENT\s+TABLE\s+ACTION\s+DETAIL\n1\s+box1\s+Sender\s+SpoofGuard/);
    assert.match(table.stdout, /box1\s+Sender\s+Forwarding\s+Output\s+Forwarded\s+tunnelDstIP=172\.31\.250\.12/);
    assert.match(table.stdout, /box2\s+Receiver\s+Forwarding\s+Output\s+Delivered\s+pod=default\/box2-pod1/);
    const svg = await seinectl(server, ['traceflow', '--source', 'default/box1-pod1', '--destination', 'default/box1-pod2', '-o', 'svg']);
    assert.equal(svg.code, 0, svg.stderr);
    assert.match(svg.stdout, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.match(svg.stdout, />Delivered</);
  });

  it('live traffic: the source Pod\'s own ping is traced across boxes, with capturedPacket', async () => {
    const { code, tf } = await whilePinging(pod('box1-pod1'), pod('box2-pod1'), () =>
      traceflow(['--live', '--source', 'default/box1-pod1', '--destination', 'default/box2-pod1', '--protocol', 'icmp', '--timeout', '5']));
    assert.equal(code, 0, JSON.stringify(tf.status));
    assert.equal(tf.status?.phase, 'Succeeded');
    assert.deepEqual(tf.status!.results!.map((r) => [r.node, r.role, r.observations.at(-1)!.action]), [['box1', 'Sender', 'Forwarded'], ['box2', 'Receiver', 'Delivered']]);
    const cp = tf.status!.capturedPacket!;
    assert.deepEqual([cp.srcIP, cp.dstIP, cp.ipHeader?.protocol], [pod('box1-pod1').ip, pod('box2-pod1').ip, 1]);
  });

  it('live droppedOnly: traffic that is delivered is not reported; the trace times out saying so', async () => {
    const { code, tf } = await whilePinging(pod('box1-pod1'), pod('box1-pod2'), () =>
      traceflow(['--live', '--dropped-only', '--source', 'default/box1-pod1', '--destination', 'default/box1-pod2', '--timeout', '2']));
    assert.equal(code, 1);
    assert.equal(tf.status?.phase, 'Failed');
    assert.equal(tf.status?.reason, 'timed out after 2 s: no live packet from default/box1-pod1 matching the filter was dropped');
  });

  describe('with an ACNP on box2-pod2 and a K8s NetworkPolicy isolating box1-pod2', () => {
    const file = () => path.join(lab!.dir, 'tf-deny.yaml');
    before(async () => {
      await lab!.labelPod({ namespace: 'default', name: 'box1-pod2' }, [{ key: 'app', value: 'tf-isolated' }]);
      await writeFile(file(), denyPolicy);
      const r = await seinectl(server, ['apply', '-f', file()]);
      assert.equal(r.code, 0, r.stderr);
      await eventually('policies realized', async () =>
        /Realized/.test((await seinectl(server, ['get', 'acnp', 'tf-deny', '-o', 'wide'])).stdout) && /Realized/.test((await seinectl(server, ['get', 'netpol', 'tf-isolate', '-o', 'wide'])).stdout));
    });
    after(async () => {
      if (lab) await seinectl(server, ['delete', '-f', file()]);
    });

    it('K8s isolation: Dropped in IngressDefaultRule on the receiver', async () => {
      const { code, tf } = await traceflow(['--source', 'default/box2-pod1', '--destination', 'default/box1-pod2']);
      assert.equal(code, 0, JSON.stringify(tf.status));
      const last = tf.status!.results!.at(-1)!;
      assert.equal(last.node, 'box1');
      const o = last.observations.at(-1)!;
      assert.deepEqual([o.component, o.componentInfo, o.action], ['NetworkPolicy', 'IngressDefaultRule', 'Dropped'], actions(tf).join('\n'));
    });

    it('live droppedOnly: the receiver reports the drop of the Pod\'s own ping (K8s isolation)', async () => {
      const { code, tf } = await whilePinging(pod('box2-pod1'), pod('box1-pod2'), () =>
        traceflow(['--live', '--dropped-only', '--source', 'default/box2-pod1', '--destination', 'default/box1-pod2', '--timeout', '5']));
      assert.equal(code, 0, JSON.stringify(tf.status));
      assert.deepEqual(tf.status!.results!.map((r) => [r.node, r.role, r.observations.at(-1)!.componentInfo, r.observations.at(-1)!.action]), [['box1', 'Receiver', 'IngressDefaultRule', 'Dropped']]);
      assert.equal(tf.status!.capturedPacket?.srcIP, pod('box2-pod1').ip);
    });

    it('dropped: the receiver\'s IngressMetric observation names the policy and the rule', async () => {
      const { code, tf } = await traceflow(['--source', 'default/box1-pod1', '--destination', 'default/box2-pod2', '--protocol', 'tcp', '--port', '5002']);
      assert.equal(code, 0, JSON.stringify(tf.status));
      assert.equal(tf.status?.phase, 'Succeeded');
      const last = tf.status!.results!.at(-1)!;
      assert.equal(last.node, 'box2');
      const o = last.observations.at(-1)!;
      assert.deepEqual([o.component, o.componentInfo, o.action, o.networkPolicy, o.networkPolicyRule], ['NetworkPolicy', 'IngressMetric', 'Dropped', 'AntreaClusterNetworkPolicy:tf-deny', 'drop-5002']);
    });

    it('rejected (intra-box): Rejected by the Reject rule', async () => {
      const { code, tf } = await traceflow(['--source', 'default/box2-pod1', '--destination', 'default/box2-pod2', '--protocol', 'tcp', '--port', '5001']);
      assert.equal(code, 0, JSON.stringify(tf.status));
      const o = tf.status!.results!.at(-1)!.observations.at(-1)!;
      assert.deepEqual([o.component, o.action, o.networkPolicy, o.networkPolicyRule], ['NetworkPolicy', 'Rejected', 'AntreaClusterNetworkPolicy:tf-deny', 'reject-5001']);
    });

    it('a port the policy does not deny is Delivered', async () => {
      const { tf } = await traceflow(['--source', 'default/box1-pod1', '--destination', 'default/box2-pod2', '--protocol', 'udp', '--port', '5002']);
      assert.equal(tf.status!.results!.at(-1)!.observations.at(-1)!.action, 'Delivered', actions(tf).join('\n'));
    });

    it('(last) leaves no Traceflow flows behind and deletes the objects', async () => {
      for (const b of ['box1', 'box2']) {
        await eventually(`${b}: no Traceflow flows`, async () => !parseDumpFlows(await dumpFlows(box(b))).some((f) => decodeCookie(f.cookie).category === Category.Traceflow), 5000);
      }
      const r = await seinectl(server, ['get', 'traceflows', '-o', 'json']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual((JSON.parse(r.stdout) as { items: unknown[] }).items, []);
    });
  });

  it('times out with a clear reason when the packet is lost before any decision point (TTL 1)', async () => {
    const file = path.join(lab!.dir, 'tf-ttl.yaml');
    await writeFile(file, `apiVersion: crd.antrea.io/v1beta1
kind: Traceflow
metadata: {name: tf-ttl}
spec:
  source: {namespace: default, pod: box1-pod1}
  destination: {namespace: default, pod: box2-pod1}
  packet: {ipHeader: {ttl: 1}}
  timeout: 2
`);
    const t0 = Date.now();
    assert.equal((await seinectl(server, ['apply', '-f', file])).code, 0);
    const get = async () => JSON.parse((await seinectl(server, ['get', 'tf', 'tf-ttl', '-o', 'json'])).stdout) as TraceflowView;
    // Each seinectl is a Node process start: ~2 s apiece at load 16 on this machine, so the first
    // read may come after the 2 s timeout; it may never see the trace ended before it.
    const first = await get();
    if (first.status?.phase !== 'Running') assert.ok(Date.now() - t0 >= 2000, `ended before its timeout: ${JSON.stringify(first.status)}`);
    await eventually('tf-ttl finished', async () => (await get()).status?.phase !== 'Running', 10_000);
    const tf = await get();
    assert.ok(Date.now() - t0 >= 2000, 'not before its timeout');
    assert.equal(tf.status?.phase, 'Failed');
    assert.equal(tf.status?.reason, 'timed out after 2 s: the sender node box1 saw no traced packet reach a decision point (lost before the output, e.g. its TTL ran out)');
    assert.equal((await seinectl(server, ['delete', 'tf', 'tf-ttl'])).code, 0);
  });

  it('to an IP no Pod has, beyond the tunnel: Failed at once, saying why nobody can see it arrive', async () => {
    const { code, tf } = await traceflow(['--source', 'default/box1-pod1', '--destination', '10.42.1.200', '--timeout', '5']);
    assert.equal(code, 1);
    assert.equal(tf.status?.phase, 'Failed');
    assert.equal(tf.status?.reason, 'the sender node box1 forwarded the packet to the tunnel (tunnelDstIP 172.31.250.12), and 10.42.1.200 is no Pod any node reports, so no receiver can observe it');
    assert.equal(tf.status?.results?.[0]?.observations.at(-1)?.tunnelDstIP, '172.31.250.12');
  });

  it('an unknown source Pod fails with a reason naming the field', async () => {
    const { code, tf } = await traceflow(['--source', 'default/nope', '--destination', 'default/box1-pod2']);
    assert.equal(code, 1);
    assert.equal(tf.status?.phase, 'Failed');
    assert.match(tf.status?.reason ?? '', /^source\.pod: Pod default\/nope is on no node/);
  });

  it('5 traceflows at once each get their own result (tags are never shared while running)', async () => {
    const pairs = [
      ['box1-pod1', 'box1-pod2'], ['box1-pod2', 'box2-pod1'], ['box2-pod1', 'box1-pod1'], ['box2-pod2', 'box2-pod1'], ['box1-pod1', 'box2-pod1'],
    ] as const;
    const runs = await Promise.all(pairs.map(([s, d]) => traceflow(['--source', `default/${s}`, '--destination', `default/${d}`, '--protocol', 'udp', '--port', '7'])));
    runs.forEach((r, i) => {
      assert.equal(r.tf.status?.phase, 'Succeeded', `${pairs[i]!.join(' -> ')}: ${JSON.stringify(r.tf.status)}`);
      const last = r.tf.status!.results!.at(-1)!;
      assert.equal(last.observations.at(-1)!.action, 'Delivered', actions(r.tf).join('\n'));
      assert.equal(last.observations.at(-1)!.pod, `default/${pairs[i]![1]}`);
      assert.equal(last.node, pairs[i]![1].split('-')[0]);
    });
  });

});
