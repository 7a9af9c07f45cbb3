// The datapath's safety properties on a 2-box lab: pods cannot spoof their address, and an
// agent crash (kill -9 of both agents under traffic, then restart) loses no packet and leaves
// the installed flows byte-identical.
import assert from 'node:assert/strict';
import type { Lab } from '../../src/lab/lab.js';
import { specFromFlags } from '../../src/lab/spec.js';
import type { LabState, PodState } from '../../src/lab/state.js';
import { run } from '../../src/lib/exec.js';
import { sleep } from '../../src/lib/process.js';
import { requirePrereqs } from '../helpers/prereqs.js';
import { dumpFlows, newLab, ping, pingFlood, reachable, removeLab } from './lab-fixture.js';

describe('datapath safety (2 boxes)', function () {
  this.timeout(120_000);
  let lab: Lab | undefined;
  let state: LabState;
  const pod = (name: string) => state.pods.find((p) => p.name === name)!;

  before(async () => {
    requirePrereqs('root', 'ovs', 'ip', 'ethtool', 'ping');
    lab = await newLab('safety');
    state = await lab.up(specFromFlags(2, 2));
  });

  after(async () => {
    if (lab) await removeLab(lab);
  });

  it('loses no packet across kill -9 of both agents and their restart, and keeps the flows byte-identical', async () => {
    const src = pod('box1-pod1');
    const dst = pod('box2-pod1');
    assert.ok(await reachable(src, dst.ip!), 'traffic flows before the test');
    const before = await Promise.all(state.boxes.map((b) => dumpFlows(b)));
    const flood = pingFlood(src, dst.ip!, 120); // 6 s of traffic
    await sleep(1000);
    await Promise.all(state.boxes.map((b) => lab!.restartAgent(b.name, { crash: true })));
    const result = await flood;
    assert.equal(result.received, result.sent, `packets lost across the agent restart: ${result.text}`);
    assert.doesNotMatch(result.text, /duplicates/);
    const after = await Promise.all(state.boxes.map((b) => dumpFlows(b)));
    for (const [i, b] of state.boxes.entries()) assert.equal(after[i], before[i], `${b.name}: flows changed across the restart`);
  });

  it('drops packets from a pod that changed its IP address', async () => {
    const spoofer = pod('box1-pod2');
    const victim = pod('box1-pod1');
    const remote = pod('box2-pod2');
    assert.ok((await ping(spoofer, victim.ip!)).ok);
    // Take an unused address of the pod CIDR as its own: replies could reach it, but nothing it sends may leave.
    await run('ip', ['netns', 'exec', spoofer.netns, 'sh', '-ec', `ip addr flush dev eth0 && ip addr add 10.42.0.200/24 dev eth0 && ip route add default via 10.42.0.1`]);
    try {
      assert.equal((await ping(spoofer, victim.ip!, 1)).ok, false, 'same-box traffic from a spoofed IP');
      assert.equal((await ping(spoofer, remote.ip!, 1)).ok, false, 'cross-box traffic from a spoofed IP');
    } finally {
      await run('ip', ['netns', 'exec', spoofer.netns, 'sh', '-ec', `ip addr flush dev eth0 && ip addr add ${spoofer.ip}/24 dev eth0 && ip route add default via 10.42.0.1`]);
    }
    assert.ok((await ping(spoofer, victim.ip!)).ok, 'its own address works again');
  });

  it('drops packets from a pod that changed its MAC address', async () => {
    const spoofer = pod('box1-pod2');
    const victim = pod('box1-pod1');
    await run('ip', ['netns', 'exec', spoofer.netns, 'sh', '-ec', 'ip link set eth0 address 0a:58:0a:2a:00:99 && ip neigh flush all']);
    await run('ip', ['netns', 'exec', victim.netns, 'ip', 'neigh', 'flush', 'all']);
    try {
      assert.equal((await ping(spoofer, victim.ip!, 1)).ok, false, 'traffic from a spoofed MAC');
    } finally {
      await run('ip', ['netns', 'exec', spoofer.netns, 'sh', '-ec', `ip link set eth0 address ${spoofer.mac} && ip neigh flush all`]);
    }
    assert.ok((await ping(spoofer, victim.ip!)).ok, 'its own MAC works again');
  });
});
