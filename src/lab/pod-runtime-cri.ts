// Pods through the box's containerd, as kubelet creates them: RunPodSandbox with the pod's
// metadata (namespace, name, uid, attempt) and labels, then PodSandboxStatus for the address;
// StopPodSandbox + RemovePodSandbox on delete. containerd makes the netns (/var/run/netns/cni-…)
// and its CNI library calls `seine` with the real CNI_ARGS, netns path and conf list.
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { CriClient, CriError, GRPC_NOT_FOUND } from '../lib/cri/client.js';
import type { PodSandboxConfig } from '../lib/cri/messages.js';
import { containerdFiles } from './containerd-process.js';
import { deleteNetns } from './netns.js';
import type { PodRuntime, StartedPod } from './pod-runtime.js';
import type { BoxState, PodState } from './state.js';

/** The labels kubelet puts on every sandbox; they also let the lab find a pod's sandboxes. */
export const KUBELET_POD_NAME = 'io.kubernetes.pod.name';
export const KUBELET_POD_NAMESPACE = 'io.kubernetes.pod.namespace';
export const KUBELET_POD_UID = 'io.kubernetes.pod.uid';

/** The parts of containerd 1.6's verbose PodSandboxStatus info the lab reads. */
interface SandboxInfo {
  runtimeSpec?: { linux?: { namespaces?: { type: string; path?: string }[] } };
  cniResult?: { Interfaces?: Record<string, { IPConfigs?: { IP: string }[]; Mac?: string; Sandbox?: string }> };
}

export function sandboxConfig(pod: Pick<PodState, 'namespace' | 'name' | 'labels'>, uid: string, attempt = 0): PodSandboxConfig {
  return {
    metadata: { name: pod.name, namespace: pod.namespace, uid, attempt },
    hostname: pod.name,
    labels: { ...pod.labels, [KUBELET_POD_NAME]: pod.name, [KUBELET_POD_NAMESPACE]: pod.namespace, [KUBELET_POD_UID]: uid },
  };
}

export class CriRuntime implements PodRuntime {
  private readonly clients = new Map<string, CriClient>();

  client(box: Pick<BoxState, 'ovsDir'>): CriClient {
    const socket = containerdFiles(box).socket;
    let c = this.clients.get(socket);
    if (!c) this.clients.set(socket, (c = new CriClient(socket)));
    return c;
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  async start(box: BoxState, pod: PodState, record: (change: Partial<PodState>) => Promise<void>): Promise<StartedPod> {
    const cri = this.client(box);
    // containerd names the sandbox: until it answers, the pod is recorded with sandboxId '' and
    // stop() finds its sandboxes by kubelet's labels.
    const sandboxId = await cri.runPodSandbox(sandboxConfig(pod, pod.uid ?? randomUUID()));
    await record({ sandboxId });
    return { sandboxId, ...(await sandboxNetwork(cri, sandboxId, `${pod.namespace}/${pod.name}`)) };
  }

  async stop(box: BoxState | undefined, pod: PodState): Promise<void> {
    if (box) {
      const cri = this.client(box);
      const ids = new Set(pod.sandboxId ? [pod.sandboxId] : []);
      for (const s of await cri.listPodSandbox({ labelSelector: { [KUBELET_POD_NAMESPACE]: pod.namespace, [KUBELET_POD_NAME]: pod.name } })) ids.add(s.id);
      for (const id of ids) await removeSandbox(cri, id);
    }
    // containerd removed the netns with the sandbox; a stopped containerd did not.
    if (pod.netns) await deleteNetns([pod.netns]);
  }
}

/** Stop (tears the network down through CNI DEL) then remove; a sandbox already gone is fine. */
export async function removeSandbox(cri: CriClient, id: string): Promise<void> {
  const ignoreGone = (err: unknown) => {
    if (!(err instanceof CriError && err.code === GRPC_NOT_FOUND)) throw err;
  };
  await cri.stopPodSandbox(id).catch(ignoreGone);
  await cri.removePodSandbox(id).catch(ignoreGone);
}

/** The pod's netns, address and interfaces, from containerd's verbose sandbox status. */
export async function sandboxNetwork(cri: CriClient, id: string, what: string): Promise<Omit<StartedPod, 'sandboxId'>> {
  const { status, info } = await cri.podSandboxStatus(id, true);
  const parsed = JSON.parse(info.info ?? '{}') as SandboxInfo;
  const netnsPath = parsed.runtimeSpec?.linux?.namespaces?.find((n) => n.type === 'network')?.path;
  const ifaces = Object.entries(parsed.cniResult?.Interfaces ?? {});
  const podIf = ifaces.find(([, i]) => i.Sandbox && i.IPConfigs?.length);
  const hostIf = ifaces.find(([, i]) => !i.Sandbox);
  const ip = status.network?.ip;
  if (!netnsPath || !ip || !podIf?.[1].Mac || !hostIf) throw new Error(`containerd sandbox ${id} for ${what} has no complete network status (netns ${netnsPath ?? 'none'}, ip ${ip || 'none'})`);
  return { netns: path.basename(netnsPath), ip, mac: podIf[1].Mac, ifname: podIf[0], hostIfname: hostIf[0] };
}
