// Network policy end to end on a 2-box lab: manifests applied with the real seinectl go through
// the controller, MQTT and each box's agent (computation, conjunctive flows) and decide real
// traffic between pods; status reports Realized on both boxes; an agent crash and restart keeps
// enforcing with the flows byte-identical.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Lab } from '../../src/lab/lab.js';
import { specFromFlags } from '../../src/lab/spec.js';
import type { LabState, PodState } from '../../src/lab/state.js';
import { distProgram } from '../../src/lib/paths.js';
import { requirePrereqs } from '../helpers/prereqs.js';
import { spawnCollect } from '../helpers/spawn.js';
import { dumpFlows, eventually, newLab, ping, reachable, removeLab, seinectl } from './lab-fixture.js';

const denyAllIngress = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all-ingress, namespace: default}
spec:
  podSelector: {}
  policyTypes: [Ingress]
`;

const allowClients = `apiVersion: crd.antrea.io/v1beta1
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
        - podSelector: {matchLabels: {role: client}}
`;

describe('network policy end to end (2 boxes, controller, seinectl)', function () {
  this.timeout(180_000);
  let lab: Lab | undefined;
  let state: LabState;
  let server = '';
  let dir = '';
  const pod = (name: string) => state.pods.find((p) => p.name === name)!;
  const canPing = async (from: PodState, to: PodState) => (await ping(from, to.ip!, 1)).ok;

  before(async () => {
    requirePrereqs('root', 'ovs', 'ip', 'ethtool', 'ping');
    lab = await newLab('policy');
    dir = lab.dir;
    await lab.up(specFromFlags(2, 2));
    await lab.labelPod({ namespace: 'default', name: 'box2-pod1' }, [{ key: 'role', value: 'client' }]);
    state = await lab.current();
    server = state.controller!.url;
    await writeFile(path.join(dir, 'deny.yaml'), denyAllIngress);
    await writeFile(path.join(dir, 'allow.yaml'), allowClients);
    assert.ok(await reachable(pod('box2-pod2'), pod('box1-pod1').ip!), 'traffic flows before any policy');
  });

  after(async () => {
    if (lab) await removeLab(lab);
  });

  it('isolates every pod for ingress with a K8s NetworkPolicy, on both boxes', async () => {
    const r = await seinectl(server, ['apply', '-f', path.join(dir, 'deny.yaml')]);
    assert.equal(r.code, 0, r.stderr);
    await eventually('cross-box ping dropped', async () => !(await canPing(pod('box2-pod2'), pod('box1-pod1'))));
    assert.equal(await canPing(pod('box1-pod2'), pod('box1-pod1')), false, 'same-box ping dropped');
    assert.equal(await canPing(pod('box1-pod1'), pod('box2-pod2')), false, 'the other direction too');
  });

  it('lets a securityops Allow for role=client through the K8s isolation, and only that', async () => {
    const r = await seinectl(server, ['apply', '-f', path.join(dir, 'allow.yaml')]);
    assert.equal(r.code, 0, r.stderr);
    await eventually('client reaches box1-pod1', () => canPing(pod('box2-pod1'), pod('box1-pod1')));
    assert.equal(await canPing(pod('box2-pod2'), pod('box1-pod1')), false, 'a non-client stays isolated');
  });

  it('reports the policy Realized on both boxes', async () => {
    await eventually('status Realized 2/2', async () => {
      const r = await seinectl(server, ['get', 'acnp', 'allow-clients', '-o', 'json']);
      const status = (JSON.parse(r.stdout) as { status?: { phase: string; currentNodesRealized: number; desiredNodesRealized: number } }).status;
      return status?.phase === 'Realized' && status.currentNodesRealized === 2 && status.desiredNodesRealized === 2;
    });
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

  it('keeps enforcing across kill -9 of both agents, with the flows byte-identical', async () => {
    const before = await Promise.all(state.boxes.map((b) => dumpFlows(b)));
    await Promise.all(state.boxes.map((b) => lab!.restartAgent(b.name, { crash: true })));
    const after = await Promise.all(state.boxes.map((b) => dumpFlows(b)));
    for (const [i, b] of state.boxes.entries()) assert.equal(after[i], before[i], `${b.name}: flows changed across the restart`);
    assert.equal(await canPing(pod('box2-pod2'), pod('box1-pod1')), false, 'still isolated');
    assert.ok(await canPing(pod('box2-pod1'), pod('box1-pod1')), 'still allowed');
  });

  it('restores connectivity when the policies are deleted', async () => {
    for (const f of ['deny.yaml', 'allow.yaml']) {
      const r = await seinectl(server, ['delete', '-f', path.join(dir, f)]);
      assert.equal(r.code, 0, r.stderr);
    }
    await eventually('box2-pod2 reaches box1-pod1 again', () => canPing(pod('box2-pod2'), pod('box1-pod1')));
    assert.ok(await canPing(pod('box1-pod2'), pod('box1-pod1')));
  });
});
