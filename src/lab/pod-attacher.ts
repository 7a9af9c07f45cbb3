// The seam between the lab and the way a pod gets its network. The lab plays containerd's part
// (it creates the pod's network namespace, then asks for an interface in it); an attacher
// plays the CNI's part. 'direct' plumbs the veth itself; the next one runs the real seine-cni
// binary against the box's agent, and is registered here by kind.
import type { LabNames } from './names.js';
import type { BoxState, PodState } from './state.js';

export interface PodAttachment {
  ip: string;
  mac: string;
  /** Interface name inside the pod (eth0). */
  ifname: string;
  /** The pod's veth peer in the box namespace, a port of br-int. */
  hostIfname: string;
}

export interface AttachRequest {
  box: BoxState;
  /** Already recorded in the lab state, its netns created. */
  pod: PodState;
  /** IPs held by the box's other pods; only an attacher without its own IPAM needs them. */
  usedIPs: string[];
}

export interface PodAttacher {
  readonly kind: string;
  attach(req: AttachRequest): Promise<PodAttachment>;
  /** Undo attach; must also clean up a half-attached pod (the lab may have been killed midway). */
  detach(req: { box: BoxState; pod: PodState }): Promise<void>;
}

export interface AttacherContext {
  names: LabNames;
  /** Environment for every process the attacher spawns (carries the lab's owner mark). */
  env: NodeJS.ProcessEnv;
}

export type AttacherFactory = (ctx: AttacherContext) => PodAttacher;

const factories = new Map<string, AttacherFactory>();

export function registerPodAttacher(kind: string, factory: AttacherFactory): void {
  factories.set(kind, factory);
}

export function createPodAttacher(kind: string, ctx: AttacherContext): PodAttacher {
  const factory = factories.get(kind);
  if (!factory) throw new Error(`unknown pod attacher '${kind}' (known: ${[...factories.keys()].join(', ')})`);
  return factory(ctx);
}
