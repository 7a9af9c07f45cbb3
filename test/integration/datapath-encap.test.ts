// Pod connectivity through the agent's pipeline in every traffic mode: a 3-box lab with 3 pods
// per box, pods attached by the real seine-cni binary (and, for the tunnel modes and noEncap, by a
// real containerd through CRI as well), every pod pinging every other once (72 pairs): one packet
// each, on the first try, right after lab up.
import assert from 'node:assert/strict';
import { specFromFlags } from '../../src/lab/spec.js';
import type { LabState } from '../../src/lab/state.js';
import { run } from '../../src/lib/exec.js';
import type { Encap } from '../../src/lab/encap.js';
import { requirePrereqs } from '../helpers/prereqs.js';
import { assertAllReachable, newLab, pingMatrix, removeLab } from './lab-fixture.js';
import type { Lab } from '../../src/lab/lab.js';
import type { Runtime } from '../../src/lab/runtimes.js';

const modes: Encap[] = ['geneve', 'vxlan', 'gre', 'noEncap', 'hybrid'];

/** How box1 reaches the other boxes' pod CIDRs: 'tunnel' (onlink via the gateway port) or 'routed'. */
async function peerPaths(state: LabState): Promise<string[]> {
  const box1 = state.boxes[0];
  const { stdout } = await run('ip', ['-n', box1.netns, '-j', 'route', 'show', 'proto', '250']);
  const routes = JSON.parse(stdout) as { dst: string; dev: string; flags: string[] }[];
  return state.boxes.slice(1).map((b) => {
    const r = routes.find((x) => x.dst === b.podCIDR);
    return !r ? 'none' : r.dev === 'antrea-gw0' && r.flags.includes('onlink') ? 'tunnel' : 'routed';
  });
}

// box2 sits on the other underlay subnet in a hybrid lab, box3 on box1's.
const expectedPaths: Record<Encap, string[]> = {
  geneve: ['tunnel', 'tunnel'],
  vxlan: ['tunnel', 'tunnel'],
  gre: ['tunnel', 'tunnel'],
  noEncap: ['routed', 'routed'],
  hybrid: ['tunnel', 'routed'],
};

describe('datapath: pod to pod in every traffic mode (3 boxes x 3 pods)', function () {
  this.timeout(180_000);
  before(() => requirePrereqs('root', 'ovs', 'ip', 'ethtool', 'ping'));

  const runs: [Encap, Runtime][] = [
    ...modes.map((m): [Encap, Runtime] => [m, 'direct']),
    ...modes.filter((m) => m !== 'hybrid').map((m): [Encap, Runtime] => [m, 'containerd']),
  ];
  for (const [mode, runtime] of runs) {
    describe(`${mode}, runtime ${runtime}`, () => {
      before(() => {
        if (runtime === 'containerd') requirePrereqs('containerd');
      });
      let lab: Lab | undefined;
      after(async () => {
        if (lab) await removeLab(lab);
      });

      it('every pod reaches every other pod (72/72)', async () => {
        lab = await newLab(`dp-${mode.toLowerCase()}-${runtime.slice(0, 4)}`);
        const state = await lab.up(specFromFlags(3, 3, mode, false, runtime));
        assert.deepEqual(await peerPaths(state), expectedPaths[mode]);
        assertAllReachable(await pingMatrix(state), 72);
      });
    });
  }
});
