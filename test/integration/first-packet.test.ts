// No packet lost to a new peer box (issue 18): on the userspace datapath OVS drops a tunnel
// packet whose next hop is not in its tunnel neighbour cache, so the agent fills that cache
// before pods can send. Per traffic mode, on a fresh 3-box lab and with no warm-up: a
// Traceflow across boxes run at once is Delivered, and `ping -i 0.05 -c 200` across boxes
// started at once loses nothing although every agent is killed -9 after 3 s and restarted.
// Then the cache is flushed under the agent (as a restarted ovs-vswitchd would have it) and
// the agent writes it back. All-pairs pings with one packet each: datapath-encap.test.ts.
import assert from 'node:assert/strict';
import type { Lab } from '../../src/lab/lab.js';
import type { Encap } from '../../src/lab/encap.js';
import { AGENT_ROLE } from '../../src/lab/agent-process.js';
import { specFromFlags } from '../../src/lab/spec.js';
import type { BoxState, LabState } from '../../src/lab/state.js';
import { run } from '../../src/lib/exec.js';
import { sleep } from '../../src/lib/process.js';
import type { TraceflowView } from '../../src/controller/client/traceflow-print.js';
import { requirePrereqs } from '../helpers/prereqs.js';
import { eventually, newLab, ping, pingFlood, removeLab, seinectl } from './lab-fixture.js';

const modes: Encap[] = ['geneve', 'vxlan', 'gre', 'noEncap', 'hybrid'];

/** The box's OVS tunnel neighbour cache as `tnl/neigh/show` prints it. */
async function neighShow(box: BoxState): Promise<string> {
  return (await run('ovs-appctl', ['-t', `${box.ovsDir}/ovs-vswitchd.ctl`, 'tnl/neigh/show'])).stdout;
}

describe('first packet to a new peer box (3 boxes x 1 pod, no warm-up)', function () {
  this.timeout(180_000);
  before(() => requirePrereqs('root', 'ovs', 'ip', 'ethtool', 'ping'));

  for (const mode of modes) {
    describe(mode, () => {
      let lab: Lab | undefined;
      let state: LabState;
      const pod = (name: string) => state.pods.find((p) => p.name === name)!;
      after(async () => {
        if (lab) await removeLab(lab);
      });

      it('right after lab up: a Traceflow is Delivered, and ping -i 0.05 -c 200 loses nothing across kill -9 of every agent at 3 s', async () => {
        lab = await newLab(`fp-${mode.toLowerCase()}`);
        state = await lab.up(specFromFlags(3, 1, mode));
        const t0 = Date.now();
        const flood = pingFlood(pod('box1-pod1'), pod('box2-pod1').ip!, 200);
        // box3 -> box1: a peer pair the flood does not touch.
        const tf = await seinectl(state.controller!.url, ['traceflow', '--source', 'default/box3-pod1', '--destination', 'default/box1-pod1', '-o', 'json']);
        assert.ok(tf.stdout.trim().startsWith('{'), `seinectl traceflow printed no JSON: ${tf.stderr}`);
        const view = JSON.parse(tf.stdout) as TraceflowView;
        assert.equal(view.status?.phase, 'Succeeded', JSON.stringify(view.status));
        const receiver = view.status!.results!.find((r) => r.role === 'Receiver');
        assert.deepEqual([receiver?.node, receiver?.observations.at(-1)?.action], ['box1', 'Delivered'], JSON.stringify(view.status));

        await sleep(Math.max(0, 3000 - (Date.now() - t0)));
        const agents = state.boxes.flatMap((b) => b.processes.filter((p) => p.role === AGENT_ROLE));
        assert.equal(agents.length, 3);
        for (const a of agents) process.kill(a.pid, 'SIGKILL');
        await Promise.all(state.boxes.map((b) => lab!.restartAgent(b.name, { crash: true })));
        const result = await flood;
        assert.equal(result.sent, 200);
        assert.equal(result.received, result.sent, `packets lost: ${result.text}`);
        assert.doesNotMatch(result.text, /duplicates/);
      });

      if (mode === 'noEncap') {
        it('writes no tunnel neighbour: nothing is tunnelled', async () => {
          for (const b of state.boxes) assert.doesNotMatch(await neighShow(b), /br-phy/, b.name);
        });
        return;
      }

      it('writes the tunnel neighbours back when OVS loses them, and the next first packet passes', async () => {
        const box1 = state.boxes[0]!;
        // In hybrid mode box3 shares box1's subnet and is not tunnelled; box2 is, through the router.
        const hops = mode === 'hybrid' ? ['172.31.250.1'] : state.boxes.slice(1).map((b) => b.underlayIP);
        for (const h of hops) assert.match(await neighShow(box1), new RegExp(`^${h.replaceAll('.', '\\.')}\\s`, 'm'));
        await run('ovs-appctl', ['-t', `${box1.ovsDir}/ovs-vswitchd.ctl`, 'tnl/neigh/flush']);
        await eventually('the agent writes the flushed entries back', async () => {
          const text = await neighShow(box1);
          return hops.every((h) => text.includes(`${h} `));
        }, 3000);
        const r = await ping(pod('box1-pod1'), pod('box2-pod1').ip!);
        assert.ok(r.ok, r.detail);
      });
    });
  }
});
