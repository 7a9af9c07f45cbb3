// Network policy end to end on a 3-box lab: manifests applied with the real seinectl go through
// the controller, MQTT and each box's agent (computation, conjunctive flows) and decide real
// traffic between pods; status reports Realized on 3/3 boxes; an agent crash and restart keeps
// enforcing with the flows byte-identical; with the broker stopped for 30 s every box keeps
// enforcing (traffic probed throughout) and a change made meanwhile lands on reconnect; the
// controller survives kill -9 with its state and the boxes resync; delete removes the policy
// flows from every box's OVS.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Lab } from '../../src/lab/lab.js';
import { specFromFlags } from '../../src/lab/spec.js';
import type { LabState, PodState } from '../../src/lab/state.js';
import { distProgram } from '../../src/lib/paths.js';
import { requirePrereqs } from '../helpers/prereqs.js';
import { decodeLearnedCookie } from '../../src/agent/flows/accounting.js';
import { spawnCollect } from '../helpers/spawn.js';
import { sleep } from '../../src/lib/process.js';
import { dumpFlows, eventually, labApi, newLab, ping, reachable, removeLab, seinectl } from './lab-fixture.js';

const denyAllIngress = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all-ingress, namespace: default}
spec:
  podSelector: {}
  policyTypes: [Ingress]
`;

const allowRole = (role: string) => `apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: allow-clients}
spec:
  priority: 5
  tier: securityops
  appliedTo:
    - podSelector: {matchLabels: {app: demo}}
  ingress:
    - action: Allow
      name: from-clients
      from:
        - podSelector: {matchLabels: {role: ${role}}}
`;
const allowClients = allowRole('client');

interface Status { phase: string; observedGeneration: number; currentNodesRealized: number; desiredNodesRealized: number }
interface Got { metadata: { uid: string; generation: number; resourceVersion: string }; spec: unknown; status?: Status }

/** A flow table without cookies (a restarted agent rewrites unchanged flows under its new round). */
/** The flow table as the pipeline programs it: cookies dropped, and without the per-connection counter flows the flow exporter learns from traffic. */
const withoutCookies = (flows: string) =>
  flows
    .split('\n')
    .filter((l) => {
      const c = /cookie=(0x[0-9a-f]+)/.exec(l);
      return !(c && decodeLearnedCookie(BigInt(c[1]!)));
    })
    .map((l) => l.replace(/cookie=0x[0-9a-f]+, ?/, '').trim())
    .filter(Boolean)
    .sort()
    .join('\n');

describe('network policy end to end (3 boxes, controller, seinectl)', function () {
  this.timeout(240_000);
  let lab: Lab | undefined;
  let state: LabState;
  let server = '';
  let dir = '';
  const pod = (name: string) => state.pods.find((p) => p.name === name)!;
  const canPing = async (from: PodState, to: PodState) => (await ping(from, to.ip!, 1)).ok;
  let baseline: string[] = [];
  const getAcnp = async (): Promise<Got> => {
    const r = await seinectl(server, ['get', 'clusternetworkpolicy', 'allow-clients', '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Got;
  };
  const realizedEverywhere = (generation: number) => eventually(`allow-clients generation ${generation} Realized 3/3`, async () => {
    const s = (await getAcnp()).status;
    return s?.phase === 'Realized' && s.observedGeneration === generation && s.currentNodesRealized === 3 && s.desiredNodesRealized === 3;
  }, 30_000);
  const brokerRunning = async (running: boolean) => {
    const res = await labApi(server, 'PUT', '/api/v1/broker', { running });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(res.body, { running });
  };

  before(async () => {
    requirePrereqs('root', 'ovs', 'ip', 'ethtool', 'ping');
    lab = await newLab('policy');
    dir = lab.dir;
    await lab.up(specFromFlags(3, 2));
    await lab.labelPod({ namespace: 'default', name: 'box2-pod1' }, [{ key: 'role', value: 'client' }]);
    await lab.labelPod({ namespace: 'default', name: 'box3-pod1' }, [{ key: 'role', value: 'operator' }]);
    state = await lab.current();
    server = state.controller!.url;
    await writeFile(path.join(dir, 'deny.yaml'), denyAllIngress);
    await writeFile(path.join(dir, 'allow.yaml'), allowClients);
    await writeFile(path.join(dir, 'allow-operators.yaml'), allowRole('operator'));
    assert.ok(await reachable(pod('box2-pod2'), pod('box1-pod1').ip!), 'traffic flows before any policy');
    assert.ok(await reachable(pod('box3-pod2'), pod('box1-pod1').ip!), 'traffic flows before any policy (box3)');
    baseline = (await Promise.all(state.boxes.map((b) => dumpFlows(b)))).map(withoutCookies);
  });

  after(async () => {
    if (lab) await removeLab(lab);
  });

  it('isolates every pod for ingress with a K8s NetworkPolicy, on every box', async () => {
    const r = await seinectl(server, ['apply', '-f', path.join(dir, 'deny.yaml')]);
    assert.equal(r.code, 0, r.stderr);
    await eventually('cross-box ping dropped', async () => !(await canPing(pod('box2-pod2'), pod('box1-pod1'))));
    assert.equal(await canPing(pod('box1-pod2'), pod('box1-pod1')), false, 'same-box ping dropped');
    assert.equal(await canPing(pod('box1-pod1'), pod('box2-pod2')), false, 'the other direction too');
    assert.equal(await canPing(pod('box1-pod1'), pod('box3-pod2')), false, 'box3 isolated too');
  });

  it('lets a securityops Allow for role=client through the K8s isolation, and only that', async () => {
    const r = await seinectl(server, ['apply', '-f', path.join(dir, 'allow.yaml')]);
    assert.equal(r.code, 0, r.stderr);
    await eventually('client reaches box1-pod1', () => canPing(pod('box2-pod1'), pod('box1-pod1')));
    assert.equal(await canPing(pod('box2-pod2'), pod('box1-pod1')), false, 'a non-client stays isolated');
  });

  it('reports the policy Realized on 3/3 boxes (seinectl get clusternetworkpolicy -o json), its flows in every OVS', async () => {
    await realizedEverywhere(1);
    const s = (await getAcnp()).status!;
    assert.deepEqual([s.phase, s.currentNodesRealized, s.desiredNodesRealized], ['Realized', 3, 3]);
    for (const b of state.boxes) assert.match(await dumpFlows(b), /conjunction\(/, `${b.name}: no conjunctive policy flows installed`);
  });

  it('seinectl --local reads the box\'s agent (local API); seinectl rpc asks it over MQTT', async () => {
    const box1 = state.boxes.find((b) => b.name === 'box1')!;
    const local = await spawnCollect(process.execPath, [distProgram('cli/seinectl.js'), '--local', '--agent-socket', path.join(box1.ovsDir, 'agent-api.sock'), 'get', 'acnp', 'allow-clients', '-o', 'json']);
    assert.equal(local.code, 0, local.stderr);
    assert.deepEqual((JSON.parse(local.stdout) as { status: { phase: string; currentNodesRealized: number } }).status.phase, 'Realized');
    const rpc = await seinectl(server, ['rpc', 'box1', 'status']);
    assert.equal(rpc.code, 0, rpc.stderr);
    const status = JSON.parse(rpc.stdout) as { node: string; objects: Record<string, { phase: string }> };
    assert.equal(status.node, 'box1');
    assert.equal(status.objects['ClusterNetworkPolicy.crd.antrea.io//allow-clients']?.phase, 'Realized');
  });

  it('keeps enforcing across kill -9 of every agent, with the flows byte-identical', async () => {
    const before = await Promise.all(state.boxes.map((b) => dumpFlows(b)));
    await Promise.all(state.boxes.map((b) => lab!.restartAgent(b.name, { crash: true })));
    const after = await Promise.all(state.boxes.map((b) => dumpFlows(b)));
    for (const [i, b] of state.boxes.entries()) assert.equal(after[i], before[i], `${b.name}: flows changed across the restart`);
    assert.equal(await canPing(pod('box2-pod2'), pod('box1-pod1')), false, 'still isolated');
    assert.ok(await canPing(pod('box2-pod1'), pod('box1-pod1')), 'still allowed');
  });

  it('broker stopped for 30 s: every box keeps enforcing (probed throughout); a change made meanwhile lands on reconnect', async function () {
    this.timeout(120_000);
    const allowed = () => canPing(pod('box2-pod1'), pod('box1-pod1'));
    const denied = () => canPing(pod('box2-pod2'), pod('box1-pod1'));
    const operator = () => canPing(pod('box3-pod1'), pod('box1-pod1'));
    await brokerRunning(false);
    const stoppedAt = Date.now();
    // The REST API stays up: the change is stored now and cannot reach any box yet.
    const r = await seinectl(server, ['apply', '-f', path.join(dir, 'allow-operators.yaml')]);
    assert.equal(r.code, 0, r.stderr);
    let probes = 0;
    while (Date.now() - stoppedAt < 30_000) {
      // The allowed pair passes every time, first try; the denied ones never pass.
      assert.ok(await allowed(), `allowed pair cut off ${Date.now() - stoppedAt} ms into the outage`);
      assert.equal(await denied(), false, `denied pair got through ${Date.now() - stoppedAt} ms into the outage`);
      assert.equal(await operator(), false, `the change reached a box with the broker down (${Date.now() - stoppedAt} ms)`);
      probes++;
      await sleep(2000);
    }
    assert.ok(probes >= 5, `only ${probes} probe rounds in the outage`);
    const during = (await getAcnp()).status!;
    assert.equal(during.observedGeneration, 2);
    assert.equal(during.currentNodesRealized, 0, 'no box can have realized generation 2 with the broker down');
    await brokerRunning(true);
    await eventually('the change is enforced after reconnect', async () => (await operator()) && !(await allowed()), 30_000);
    await realizedEverywhere(2);
  });

  it('controller kill -9 and restart: the policy (uid, generation, resourceVersion) intact, boxes resync and take a new change', async function () {
    this.timeout(90_000);
    const before = await getAcnp();
    await lab!.restartController({ crash: true });
    const after = await getAcnp();
    assert.deepEqual(after.metadata, before.metadata);
    assert.deepEqual(after.spec, before.spec);
    assert.ok(await canPing(pod('box3-pod1'), pod('box1-pod1')) || await canPing(pod('box3-pod1'), pod('box1-pod1')), 'still allowed across the restart');
    assert.equal(await canPing(pod('box2-pod2'), pod('box1-pod1')), false, 'still isolated across the restart');
    await eventually('3 nodes online again', async () => {
      const r = await seinectl(server, ['get', 'nodes', '-o', 'json']);
      const nodes = JSON.parse(r.stdout) as { name: string; online: boolean }[] | { items: { name: string; online: boolean }[] };
      const list = Array.isArray(nodes) ? nodes : nodes.items;
      return list.filter((n) => n.online).length === 3;
    }, 30_000);
    const r = await seinectl(server, ['apply', '-f', path.join(dir, 'allow.yaml')]);
    assert.equal(r.code, 0, r.stderr);
    await realizedEverywhere(3);
    await eventually('clients allowed again', () => canPing(pod('box2-pod1'), pod('box1-pod1')));
    assert.equal(await canPing(pod('box3-pod1'), pod('box1-pod1')), false, 'operators no longer allowed');
  });

  it('delete removes the policies from every box: connectivity back, the policy flows gone from each OVS', async () => {
    for (const f of ['deny.yaml', 'allow.yaml']) {
      const r = await seinectl(server, ['delete', '-f', path.join(dir, f)]);
      assert.equal(r.code, 0, r.stderr);
    }
    await eventually('box2-pod2 reaches box1-pod1 again', () => canPing(pod('box2-pod2'), pod('box1-pod1')));
    assert.ok(await canPing(pod('box1-pod2'), pod('box1-pod1')));
    assert.ok(await reachable(pod('box1-pod1'), pod('box3-pod2').ip!));
    await eventually('every box back to its policy-free flow table', async () => {
      const now = (await Promise.all(state.boxes.map((b) => dumpFlows(b)))).map(withoutCookies);
      return now.every((f, i) => f === baseline[i]);
    });
    for (const b of state.boxes) assert.doesNotMatch(await dumpFlows(b), /conjunction\(|conj_id=/, `${b.name}: policy flows left`);
  });
});
