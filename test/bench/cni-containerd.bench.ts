// CNI ADD through containerd against the lab's direct call, in the same run and on the same box:
//  - CNI ADD: the `seine` plugin as containerd's CNI library runs it for RunPodSandbox (timed by
//    a wrapper around the plugin in the lab's CNI bin dir) vs the lab's direct seine-cni call
//    (runtime direct, pod-attach-cni.ts). Same binary, same agent: the difference is how it is run.
//  - pod start: a whole CRI RunPodSandbox (netns, loopback, seine, the runc pause container) vs
//    the direct runtime's netns + seine-cni call — what each runtime costs a new pod.
//  - lab up of 2 boxes x 2 pods with --runtime containerd vs without.
// Sandboxes alternate between the two paths, so both see the same bridge size.
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Lab } from '../../src/lab/lab.js';
import { labEnv } from '../../src/lab/lab-processes.js';
import { addNetns, deleteNetns } from '../../src/lab/netns.js';
import { CniPodAttacher } from '../../src/lab/pod-attach-cni.js';
import { containerdFiles, runtimeLabFiles } from '../../src/lab/containerd-process.js';
import { sandboxConfig } from '../../src/lab/pod-runtime-cri.js';
import { specFromFlags } from '../../src/lab/spec.js';
import type { PodState } from '../../src/lab/state.js';
import { CriClient } from '../../src/lib/cri/client.js';
import { percentile, timeMs, withDeadline, type Bench, type BenchRow } from './harness.js';

const pods = 20;

export const bench: Bench = {
  name: 'cni-containerd',
  async run(): Promise<BenchRow[]> {
    const upDirect = await labUpSeconds('direct');
    const upContainerd = await labUpSeconds('containerd');
    const lab = new Lab(await mkdtemp('/tmp/sl-bcri-'));
    let cri: CriClient | undefined;
    try {
      const state = await withDeadline(lab.up(specFromFlags(1, 0, 'geneve', false, 'containerd')), 5 * 60_000, 'lab up of 1 containerd box');
      const box = state.boxes[0];
      const timings = path.join(lab.dir, 'cni-add-ms');
      await timePluginCalls(lab.dir, timings);
      cri = new CriClient(containerdFiles(box).socket);
      const attacher = new CniPodAttacher(labEnv(lab.dir));
      const t = { directAdd: [] as number[], directStart: [] as number[], runSandbox: [] as number[] };
      for (let i = 0; i < pods; i++) {
        // direct: the lab makes the netns and runs seine-cni itself
        const pod: PodState = { namespace: 'default', name: `direct-${i}`, phase: 'creating', box: box.name, netns: lab.names.podNetns('default', `direct-${i}`), sandboxId: randomUUID().replaceAll('-', ''), labels: {}, ports: [] };
        const [startMs] = await timeMs(async () => {
          await addNetns(pod.netns, undefined, async () => {});
          const [addMs] = await timeMs(() => withDeadline(attacher.attach(box, pod), 60_000, `direct CNI ADD of ${pod.name}`));
          t.directAdd.push(addMs);
        });
        t.directStart.push(startMs);
        // containerd: kubelet's RunPodSandbox
        const [runMs, id] = await timeMs(() => withDeadline(cri!.runPodSandbox(sandboxConfig({ namespace: 'default', name: `cri-${i}`, labels: {} }, randomUUID())), 150_000, `RunPodSandbox cri-${i}`));
        t.runSandbox.push(runMs);
        void id;
      }
      const criAdd = (await readFile(timings, 'utf8')).trim().split('\n').filter((l) => l.startsWith('ADD ')).map((l) => Number(l.split(' ')[1]) / 1e6);
      if (criAdd.length !== pods) throw new Error(`expected ${pods} timed CNI ADDs from containerd, got ${criAdd.length}`);
      process.stderr.write(`cni-containerd bench: lab up 2x2 ${upDirect.toFixed(1)} s direct, ${upContainerd.toFixed(1)} s containerd\n`);
      const direct = 'the lab\'s direct seine-cni call (runtime direct)';
      const directStart = 'runtime direct: ip netns add + seine-cni ADD';
      return [
        { metric: `CNI ADD p50 through containerd (${pods} sandboxes)`, unit: 'ms', seine: percentile(criAdd, 50), anchor: percentile(t.directAdd, 50), anchorLabel: direct, better: 'lower' },
        { metric: `CNI ADD p99 through containerd (${pods} sandboxes)`, unit: 'ms', seine: percentile(criAdd, 99), anchor: percentile(t.directAdd, 99), anchorLabel: direct, better: 'lower' },
        { metric: 'CRI RunPodSandbox p50 (netns, CNI, runc pause)', unit: 'ms', seine: percentile(t.runSandbox, 50), anchor: percentile(t.directStart, 50), anchorLabel: directStart, better: 'lower' },
        { metric: 'CRI RunPodSandbox p99 (netns, CNI, runc pause)', unit: 'ms', seine: percentile(t.runSandbox, 99), anchor: percentile(t.directStart, 99), anchorLabel: directStart, better: 'lower' },
        { metric: 'lab up 2 boxes x 2 pods, --runtime containerd', unit: 's', seine: upContainerd, anchor: upDirect, anchorLabel: 'lab up 2 boxes x 2 pods, runtime direct', better: 'lower' },
      ];
    } finally {
      cri?.close();
      await lab.down(); // removes the sandboxes through CRI and the direct pods' netns by prefix below
      await deleteNetns(Array.from({ length: pods }, (_, i) => lab.names.podNetns('default', `direct-${i}`)));
      await rm(lab.dir, { recursive: true, force: true });
    }
  },
};

/** Wall time of `lab up` (2 boxes, 2 pods each, no Node-RED), then the lab is removed. */
async function labUpSeconds(runtime: 'direct' | 'containerd'): Promise<number> {
  const lab = new Lab(await mkdtemp(`/tmp/sl-bup${runtime[0]}-`));
  try {
    const [ms] = await timeMs(() => withDeadline(lab.up(specFromFlags(2, 2, 'geneve', false, runtime)), 5 * 60_000, `lab up of 2 boxes × 2 pods (${runtime})`));
    return ms / 1000;
  } finally {
    await lab.down();
    await rm(lab.dir, { recursive: true, force: true });
  }
}

/** Wraps `seine` in the CNI bin dir so every call containerd makes appends "<command> <ns>" to `file`. */
async function timePluginCalls(labDir: string, file: string): Promise<void> {
  const plugin = path.join(runtimeLabFiles(labDir).cniBinDir, 'seine');
  const real = `${plugin}.real`;
  await writeFile(real, await readFile(plugin));
  await chmod(real, 0o755);
  await writeFile(plugin, `#!/bin/sh\nt0=$(date +%s%N)\n${JSON.stringify(real)}\nrc=$?\necho "$CNI_COMMAND $(( $(date +%s%N) - t0 ))" >> ${JSON.stringify(file)}\nexit $rc\n`);
}
