// How the lab gives a pod its sandbox and network: one small interface, two runtimes.
// - direct (default): the lab plays containerd — it makes the netns and runs seine-cni itself
//   (pod-attach-cni.ts). Fast, no extra packages.
// - containerd: the box's own containerd creates the sandbox through CRI, as kubelet asks it to,
//   and containerd's CNI library runs `seine` (pod-runtime-cri.ts).
import { randomBytes } from 'node:crypto';
import { addNetns, deleteNetns } from './netns.js';
import { CniPodAttacher, type PodAttachment } from './pod-attach-cni.js';
import type { BoxState, PodState } from './state.js';

export interface StartedPod extends PodAttachment {
  /** Name of the pod's network namespace under /run/netns (for `lab exec`). */
  netns: string;
  sandboxId: string;
}

export interface PodRuntime {
  /**
   * Creates the pod's sandbox and network. `record` persists what exists so far (write-ahead:
   * called before anything is created, and again when the runtime learns the sandbox id).
   */
  start(box: BoxState, pod: PodState, record: (change: Partial<PodState>) => Promise<void>): Promise<StartedPod>;
  /** Removes the sandbox and releases the network; idempotent, and works on a half-started pod. */
  stop(box: BoxState | undefined, pod: PodState): Promise<void>;
}

export class DirectRuntime implements PodRuntime {
  private readonly cni: CniPodAttacher;

  constructor(private readonly env: NodeJS.ProcessEnv) {
    this.cni = new CniPodAttacher(env);
  }

  async start(box: BoxState, pod: PodState, record: (change: Partial<PodState>) => Promise<void>): Promise<StartedPod> {
    const started = { netns: pod.netns, sandboxId: randomBytes(32).toString('hex') };
    await addNetns(started.netns, this.env, () => record(started));
    const attachment = await this.cni.attach(box, { ...pod, ...started });
    return { ...attachment, ...started };
  }

  async stop(box: BoxState | undefined, pod: PodState): Promise<void> {
    if (box && pod.sandboxId) await this.cni.detach(box, pod);
    await deleteNetns([pod.netns]);
  }
}
