// The 'direct' pod attacher: the lab itself does what a CNI plugin would — a veth from the
// pod's namespace into the box namespace, IP/MAC/route in the pod, the host end on br-int.
// br-int's default NORMAL action then switches between pods of the same box.
import { run } from '../lib/exec.js';
import { nextFreeIP } from './ipam.js';
import { POD_MTU, podMac } from './names.js';
import { inNetns, txOffCommands, vsctl } from './ovs-box.js';
import { netnsExists } from './netns.js';
import { registerPodAttacher, type AttachRequest, type AttacherContext, type PodAttacher, type PodAttachment } from './pod-attacher.js';
import type { BoxState, PodState } from './state.js';

const IFNAME = 'eth0';

export class DirectPodAttacher implements PodAttacher {
  readonly kind = 'direct';

  constructor(private readonly ctx: AttacherContext) {}

  async attach({ box, pod, usedIPs }: AttachRequest): Promise<PodAttachment> {
    const { env } = this.ctx;
    const ip = nextFreeIP(box.podCIDR, [box.gatewayIP, ...usedIPs]);
    if (!ip) throw new Error(`${box.name}: pod CIDR ${box.podCIDR} is full`);
    const mac = podMac(ip);
    const prefixLen = box.podCIDR.split('/')[1];
    const hostIf = this.ctx.names.podHostIf(pod.namespace, pod.name);
    await run('ip', ['-n', box.netns, 'link', 'add', hostIf, 'mtu', String(POD_MTU), 'type', 'veth',
      'peer', 'name', IFNAME, 'mtu', String(POD_MTU), 'address', mac, 'netns', pod.netns], { env });
    // One process per namespace (names and addresses here are generated, never user text).
    await inNetns(pod.netns, env, [
      `ip addr add ${ip}/${prefixLen} dev ${IFNAME}`,
      `ip link set ${IFNAME} up`,
      `ip route add default via ${box.gatewayIP}`,
      ...txOffCommands([IFNAME]),
    ]);
    await inNetns(box.netns, env, [...txOffCommands([hostIf]), `ip link set ${hostIf} up`]);
    // external_ids as Antrea sets them on pod ports, so the agent can recognise them later.
    await vsctl(box, env, ['--may-exist', 'add-port', 'br-int', hostIf, '--', 'set', 'interface', hostIf,
      `external_ids:pod-namespace=${pod.namespace}`, `external_ids:pod-name=${pod.name}`,
      `external_ids:container-id=${pod.sandboxId}`, `external_ids:ip=${ip}`, `external_ids:attached-mac=${mac}`]);
    return { ip, mac, ifname: IFNAME, hostIfname: hostIf };
  }

  async detach({ box, pod }: { box: BoxState; pod: PodState }): Promise<void> {
    const { env } = this.ctx;
    const hostIf = pod.hostIfname ?? this.ctx.names.podHostIf(pod.namespace, pod.name);
    await vsctl(box, env, ['--if-exists', 'del-port', 'br-int', hostIf]).catch(() => undefined); // OVS may be down
    if (netnsExists(box.netns)) await run('ip', ['-n', box.netns, 'link', 'del', hostIf], { env, allowFailure: true });
  }
}

registerPodAttacher('direct', (ctx) => new DirectPodAttacher(ctx));
