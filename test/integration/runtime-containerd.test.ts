// `lab up --runtime containerd`: each box runs its own containerd, pods are sandboxes created
// through CRI (the lab's own gRPC client), and containerd's CNI library runs `seine` with the
// conf list the agent wrote. These tests drive what a box's runtime does to the plugin: kubelet's
// create and delete, CHECK, DEL of a sandbox whose netns is gone, DEL twice, a leaked sandbox
// followed by a new attempt, containerd restarting under running pods, a burst of sandboxes.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { CONF_LIST_NAME } from '../../src/agent/cni/conf-file.js';
import { agentFiles } from '../../src/lab/agent-process.js';
import { CONTAINERD_ROLE, containerdFiles, mountsUnder, runtimeLabFiles } from '../../src/lab/containerd-process.js';
import type { Lab } from '../../src/lab/lab.js';
import { netnsExists } from '../../src/lab/netns.js';
import { removeSandbox, sandboxConfig, sandboxNetwork } from '../../src/lab/pod-runtime-cri.js';
import { specFromFlags } from '../../src/lab/spec.js';
import type { BoxState, LabState, PodState } from '../../src/lab/state.js';
import { CriClient } from '../../src/lib/cri/client.js';
import { SANDBOX_READY } from '../../src/lib/cri/messages.js';
import { run } from '../../src/lib/exec.js';
import { distProgram } from '../../src/lib/paths.js';
import { Database } from '../../src/lib/sqlite.js';
import { isRunning, processRef } from '../../src/lib/process.js';
import { requirePrereqs } from '../helpers/prereqs.js';
import { assertAllReachable, newLab, ping, pingMatrix, reachable, removeLab } from './lab-fixture.js';

interface IpamRow {
  ip: string;
  container_id: string;
  pod_namespace: string;
  pod_name: string;
}

/** The box agent's IPAM table, read from its SQLite store (WAL: a second reader does not disturb it). */
async function ipam(box: BoxState): Promise<IpamRow[]> {
  const db = await Database.open(path.join(agentFiles(box).stateDir, 'agent.db'));
  try {
    return await db.all<IpamRow>('SELECT ip, container_id, pod_namespace, pod_name FROM ipam_allocations');
  } finally {
    await db.close();
  }
}

async function brIntPorts(box: BoxState): Promise<string[]> {
  const r = await run('ip', ['netns', 'exec', box.netns, 'ovs-vsctl', '--db', `unix:${path.join(box.ovsDir, 'db.sock')}`, 'list-ports', 'br-int']);
  return r.stdout.split('\n').filter(Boolean);
}

/** Runs the `seine` plugin containerd uses, as libcni does (conf list entry + name + cniVersion). */
async function cniCall(dir: string, box: BoxState, command: 'CHECK' | 'DEL', sandboxId: string, netns: string, pod: { namespace: string; name: string }, extra: object = {}) {
  const list = JSON.parse(readFileSync(path.join(agentFiles(box).cniConfDir, CONF_LIST_NAME), 'utf8')) as { name: string; cniVersion: string; plugins: object[] };
  const config = { ...list.plugins[0], name: list.name, cniVersion: list.cniVersion, ...extra };
  const env = {
    ...process.env,
    CNI_COMMAND: command,
    CNI_CONTAINERID: sandboxId,
    CNI_NETNS: netns,
    CNI_IFNAME: 'eth0',
    CNI_PATH: runtimeLabFiles(dir).cniBinDir,
    CNI_ARGS: `K8S_POD_NAMESPACE=${pod.namespace};K8S_POD_NAME=${pod.name};K8S_POD_INFRA_CONTAINER_ID=${sandboxId};IgnoreUnknown=1`,
  };
  return run(path.join(runtimeLabFiles(dir).cniBinDir, 'seine'), [], { env, input: JSON.stringify(config), allowFailure: true });
}

const podOf = (s: LabState, name: string) => s.pods.find((p) => p.name === name)!;
const boxOf = (s: LabState, name: string) => s.boxes.find((b) => b.name === name)!;

describe('lab --runtime containerd: pods through CRI', function () {
  this.timeout(120_000);
  let lab: Lab;
  let state: LabState;
  let cri: Map<string, CriClient>;
  const client = (box: BoxState) => cri.get(box.name)!;

  before(async function () {
    this.timeout(90_000);
    requirePrereqs('root', 'ovs', 'ip', 'ping', 'containerd', 'runc', 'busybox');
    lab = await newLab('ctrd');
    state = await lab.up(specFromFlags(2, 2, 'geneve', false, 'containerd'));
    cri = new Map(state.boxes.map((b) => [b.name, new CriClient(containerdFiles(b).socket, 60_000)]));
  });

  after(async function () {
    this.timeout(60_000);
    for (const c of cri?.values() ?? []) c.close();
    if (!lab) return;
    const dir = lab.dir;
    const boxes = state?.boxes ?? [];
    await removeLab(lab);
    // Nothing of containerd outlives the lab: no mounts under its dirs, no netns it recorded.
    assert.deepEqual(boxes.flatMap((b) => mountsUnder(containerdFiles(b).dir)), [], 'containerd mounts left behind');
    assert.equal(existsSync(runtimeLabFiles(dir).cniBinDir), false);
  });

  it('every pod is a containerd sandbox whose network seine set up with the real CNI_ARGS, and pods reach each other across boxes', async () => {
    assert.equal(state.runtime, 'containerd');
    for (const box of state.boxes) {
      const v = await client(box).version();
      assert.equal(v.runtimeName, 'containerd');
      assert.equal(v.runtimeApiVersion, 'v1');
      const sandboxes = await client(box).listPodSandbox();
      const pods = state.pods.filter((p) => p.box === box.name);
      assert.deepEqual(sandboxes.map((s) => s.id).sort(), pods.map((p) => p.sandboxId).sort(), `${box.name}: one sandbox per pod`);
      const rows = await ipam(box);
      for (const pod of pods) {
        const sb = sandboxes.find((s) => s.id === pod.sandboxId)!;
        assert.equal(sb.state, SANDBOX_READY);
        assert.deepEqual(sb.metadata, { name: pod.name, namespace: pod.namespace, uid: pod.uid, attempt: 0 });
        assert.match(pod.netns, /^cni-/, 'containerd made the netns');
        assert.ok(netnsExists(pod.netns));
        // The agent learned namespace and name from the CNI_ARGS containerd passed.
        assert.deepEqual(rows.find((r) => r.container_id === pod.sandboxId), { ip: pod.ip, container_id: pod.sandboxId, pod_namespace: pod.namespace, pod_name: pod.name });
      }
    }
    assertAllReachable(await pingMatrix(state), 12);
  });

  it('seine lab exec enters the sandbox\'s netns; lab status names the runtime and each box\'s containerd', async () => {
    const pod = podOf(state, 'box2-pod1');
    const cli = (args: string[]) => run(process.execPath, [distProgram('cli/seine.js'), ...args], { env: { ...process.env, SEINE_LAB_DIR: lab.dir } });
    const exec = await cli(['lab', 'exec', 'default/box2-pod1', '--', 'ip', '-o', '-4', 'addr', 'show', 'eth0']);
    assert.match(exec.stdout, new RegExp(` ${pod.ip!.replaceAll('.', '\\.')}/24 `));
    const st = JSON.parse((await cli(['lab', 'status', '--json'])).stdout) as { runtime: string; boxes: { processes: { role: string; running: boolean }[] }[] };
    assert.equal(st.runtime, 'containerd');
    for (const b of st.boxes) assert.ok(b.processes.some((p) => p.role === CONTAINERD_ROLE && p.running));
  });

  it('CHECK of a containerd sandbox passes, and fails once the pod lost its address', async () => {
    const pod = podOf(state, 'box1-pod1');
    const box = boxOf(state, 'box1');
    const netns = `/var/run/netns/${pod.netns}`;
    const prevResult = {
      cniVersion: '1.0.0',
      interfaces: [{ name: pod.hostIfname }, { name: 'eth0', mac: pod.mac, sandbox: netns }],
      ips: [{ address: `${pod.ip}/24`, interface: 1, gateway: box.gatewayIP }],
    };
    const okCheck = await cniCall(lab.dir, box, 'CHECK', pod.sandboxId, netns, pod, { prevResult });
    assert.equal(okCheck.code, 0, okCheck.stdout + okCheck.stderr);
    await run('ip', ['-n', pod.netns, 'addr', 'del', `${pod.ip}/24`, 'dev', 'eth0']);
    try {
      const bad = await cniCall(lab.dir, box, 'CHECK', pod.sandboxId, netns, pod, { prevResult });
      assert.equal(bad.code, 1);
      assert.match(bad.stdout, /"code":103,.*CHECK pod default\/box1-pod1: interface eth0 lacks address/);
    } finally {
      await run('ip', ['-n', pod.netns, 'addr', 'add', `${pod.ip}/24`, 'dev', 'eth0']);
      await run('ip', ['-n', pod.netns, 'route', 'replace', 'default', 'via', box.gatewayIP]);
    }
  });

  it('lab pod del goes through CRI: the address is free in IPAM, no port is left on br-int, the sandbox and its netns are gone', async () => {
    const pod = podOf(state, 'box1-pod2');
    const box = boxOf(state, 'box1');
    assert.ok((await brIntPorts(box)).includes(pod.hostIfname!));
    await lab.deletePod({ namespace: pod.namespace, name: pod.name });
    assert.equal((await ipam(box)).find((r) => r.ip === pod.ip), undefined, 'address released');
    assert.equal((await brIntPorts(box)).includes(pod.hostIfname!), false, 'port removed from br-int');
    assert.equal((await client(box).listPodSandbox()).some((s) => s.id === pod.sandboxId), false, 'sandbox removed');
    assert.equal(netnsExists(pod.netns), false, 'netns removed');
    // And a new pod through CRI gets it back (lowest free address is not guaranteed; any is fine).
    const again = await lab.addPod({ namespace: 'default', name: 'box1-pod2', box: 'box1', labels: { app: 'demo' } });
    assert.notEqual(again.sandboxId, pod.sandboxId);
    assert.ok(await reachable(podOf(state, 'box2-pod1'), again.ip!), 'the new pod is reachable from the other box');
    state = (await lab.read())!;
  });

  it('DEL of a sandbox whose netns is already gone, and DEL twice, succeed and release everything', async () => {
    const box = boxOf(state, 'box2');
    const pod = { namespace: 'default', name: 'gone', labels: {} };
    const id = await client(box).runPodSandbox(sandboxConfig(pod, 'uid-gone'));
    const net = await sandboxNetwork(client(box), id, 'default/gone');
    assert.ok((await ipam(box)).some((r) => r.container_id === id));
    // The netns disappears under containerd (a node cleaning /run, a crashed runtime's leftovers).
    await run('ip', ['netns', 'del', net.netns]);
    await client(box).stopPodSandbox(id);
    await client(box).stopPodSandbox(id); // kubelet repeats stops; containerd's second one is a no-op to CNI
    await removeSandbox(client(box), id);
    await removeSandbox(client(box), id); // already removed: NotFound, tolerated
    assert.equal((await ipam(box)).some((r) => r.container_id === id), false, 'address released');
    assert.equal((await brIntPorts(box)).includes(net.hostIfname), false, 'port removed');
    // DEL twice at the plugin itself, as libcni retries: both succeed.
    for (let i = 0; i < 2; i++) {
      const r = await cniCall(lab.dir, box, 'DEL', id, '', pod);
      assert.equal(r.code, 0, `DEL #${i + 1}: ${r.stdout}${r.stderr}`);
    }
  });

  it('ADD for a pod whose previous sandbox leaked: the new attempt gets its own address and works; removing the leak leaves it alone', async () => {
    const box = boxOf(state, 'box2');
    const peer = podOf(state, 'box1-pod1');
    const pod = { namespace: 'default', name: 'phoenix', labels: {} };
    const leaked = await client(box).runPodSandbox(sandboxConfig(pod, 'uid-phoenix', 0));
    const leakedNet = await sandboxNetwork(client(box), leaked, 'leaked');
    const fresh = await client(box).runPodSandbox(sandboxConfig(pod, 'uid-phoenix', 1));
    const freshNet = await sandboxNetwork(client(box), fresh, 'fresh');
    assert.notEqual(freshNet.ip, leakedNet.ip);
    const asPod = { netns: freshNet.netns } as PodState;
    assert.ok(await reachable(asPod, peer.ip!), 'new attempt reaches a pod on the other box');
    await removeSandbox(client(box), leaked);
    const rows = await ipam(box);
    assert.equal(rows.some((r) => r.container_id === leaked), false, 'leaked sandbox released');
    assert.ok(rows.some((r) => r.container_id === fresh && r.ip === freshNet.ip), 'new attempt keeps its address');
    assert.ok((await ping(asPod, peer.ip!)).ok, 'new attempt still forwards after the leak is removed');
    assert.ok((await brIntPorts(box)).includes(freshNet.hostIfname));
    await removeSandbox(client(box), fresh);
  });

  it('containerd killed and restarted with pods running: they keep their sandboxes, addresses and connectivity', async () => {
    const box = boxOf(state, 'box1');
    const before = box.processes.find((p) => p.role === CONTAINERD_ROLE)!;
    const restarted = await lab.restartContainerd('box1', { crash: true });
    assert.equal(isRunning(before), false);
    assert.notEqual(restarted.pid, before.pid);
    state = (await lab.read())!;
    for (const pod of state.pods.filter((p) => p.box === 'box1')) {
      const { status } = await client(box).podSandboxStatus(pod.sandboxId);
      assert.equal(status.state, SANDBOX_READY, `${pod.name} still ready`);
      assert.equal(status.network?.ip, pod.ip, `${pod.name} keeps its address`);
    }
    assertAllReachable(await pingMatrix(state), 12);
    // And the restarted containerd still creates and removes sandboxes through seine.
    const id = await client(box).runPodSandbox(sandboxConfig({ namespace: 'default', name: 'after-restart', labels: {} }, 'uid-ar'));
    await removeSandbox(client(box), id);
  });

  it('many sandboxes created at once get distinct addresses, and all are released when removed at once', async () => {
    const box = boxOf(state, 'box2');
    const n = 12;
    const t0 = performance.now();
    const ids = await Promise.all(Array.from({ length: n }, (_, i) => client(box).runPodSandbox(sandboxConfig({ namespace: 'default', name: `burst-${i}`, labels: { burst: 'yes' } }, `uid-burst-${i}`))));
    const seconds = (performance.now() - t0) / 1000;
    const nets = await Promise.all(ids.map((id) => sandboxNetwork(client(box), id, id)));
    assert.equal(new Set(nets.map((x) => x.ip)).size, n, 'distinct addresses');
    assert.equal(new Set(nets.map((x) => x.hostIfname)).size, n, 'distinct ports');
    const listed = await client(box).listPodSandbox({ labelSelector: { burst: 'yes' } });
    assert.equal(listed.filter((s) => s.state === SANDBOX_READY).length, n);
    await Promise.all(ids.map((id) => removeSandbox(client(box), id)));
    const rows = await ipam(box);
    assert.deepEqual(rows.filter((r) => ids.includes(r.container_id)), [], 'all released');
    const ports = await brIntPorts(box);
    assert.deepEqual(nets.map((x) => x.hostIfname).filter((p) => ports.includes(p)), [], 'no port left');
    console.log(`      ${n} sandboxes through CRI at once in ${seconds.toFixed(2)} s`);
  });

  it('lab down removes the sandboxes through CRI: no sandbox process survives it', async () => {
    const pauses = state.pods.map((p) => p.sandboxId);
    const shimChildren: number[] = [];
    for (const box of state.boxes) {
      for (const s of await client(box).listPodSandbox()) {
        const { info } = await client(box).podSandboxStatus(s.id, true);
        shimChildren.push((JSON.parse(info.info) as { pid: number }).pid);
      }
    }
    assert.ok(shimChildren.length >= pauses.length - 1);
    const refs = shimChildren.map((pid) => processRef(pid));
    await lab.down();
    assert.deepEqual(refs.filter(isRunning).map((r) => r.pid), [], 'sandbox (pause) processes still running after lab down');
    for (const pod of state.pods) assert.equal(netnsExists(pod.netns), false, `${pod.netns} left behind`);
  });
});

describe('lab --runtime containerd: lab down after containerd and the agent were killed -9', function () {
  this.timeout(90_000);
  let lab: Lab | undefined;

  before(() => requirePrereqs('root', 'ovs', 'ip', 'containerd', 'runc', 'busybox'));
  after(async () => {
    if (lab) await removeLab(lab);
  });

  it('kills the sandboxes the shims started, unmounts and removes their netns, with nobody left to answer CRI or CNI', async () => {
    lab = await newLab('ctrdk');
    const state = await lab.up(specFromFlags(1, 2, 'geneve', false, 'containerd'));
    const box = state.boxes[0];
    const cri = new CriClient(containerdFiles(box).socket);
    const pauses: ReturnType<typeof processRef>[] = [];
    try {
      for (const pod of state.pods) pauses.push(processRef((JSON.parse((await cri.podSandboxStatus(pod.sandboxId, true)).info.info) as { pid: number }).pid));
    } finally {
      cri.close();
    }
    for (const p of box.processes.filter((x) => x.role === 'agent' || x.role === CONTAINERD_ROLE)) process.kill(p.pid, 'SIGKILL');
    await lab.down();
    assert.deepEqual(pauses.filter(isRunning).map((r) => r.pid), [], 'sandbox processes survived lab down');
    assert.deepEqual(mountsUnder(containerdFiles(box).dir), [], 'mounts left under containerd\'s dirs');
    assert.deepEqual(state.pods.filter((p) => netnsExists(p.netns)).map((p) => p.netns), [], 'pod netns left behind');
  });
});
