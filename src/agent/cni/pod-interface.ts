// The pod's veth pair: host end in the box's namespace (then an OVS port), pod end in the
// pod's network namespace with its address, default route and MTU. Over rtnetlink (no `ip`,
// `nsenter` or `ethtool` process): namespaces are given as paths (/var/run/netns/x or
// /proc/<pid>/ns/net) and a netlink socket is opened inside the one each step acts in; the
// peer is born directly inside the pod's namespace, which saves a move and a rename.
import { createHash, randomBytes } from 'node:crypto';
import { ethtoolTxOff, writeSysctl } from '../../lib/netlink/socket.js';
import { AF_INET, isExists, isGone, withRtnetlink } from '../../lib/netlink/route.js';

const ifnameMax = 15;
const prefixMax = 8;
const hashLen = ifnameMax - prefixMax - 1;

/**
 * Host-side veth name, Antrea's scheme: the first 8 characters of the pod name (leading "-"
 * trimmed), "-", then the first 6 hex digits of sha1(container id [+ ifname when not eth0]).
 * The namespace is not needed: the container id is unique on the box. Deterministic, so DEL
 * finds the interface again without stored state.
 */
export function hostVethName(podName: string, containerId: string, ifname: string): string {
  const key = ifname === 'eth0' ? containerId : containerId + ifname;
  const hash = createHash('sha1').update(key).digest('hex').slice(0, hashLen);
  const prefix = podName.slice(0, prefixMax).replace(/^-+/, '') || 'pod';
  return `${prefix}-${hash}`;
}

/**
 * Pod MAC derived from its IPv4 address: 0a:58 then the four address bytes (the convention
 * of OVN-Kubernetes and kubenet; 0x0a has the locally-administered bit set and the multicast
 * bit clear). Antrea picks a random one instead; deriving it keeps a repeated ADD and an agent
 * restart byte-identical and lets the pipeline compute a pod's MAC from its IP.
 */
export function podMac(ip: string): string {
  const bytes = ip.split('.').map(Number);
  return ['0a', '58', ...bytes.map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

export interface PodInterfaceSpec {
  hostIfname: string;
  netns: string;
  ifname: string;
  mac: string;
  /** "a.b.c.d/len" */
  address: string;
  gateway: string;
  mtu: number;
}

export interface PodInterfaceState {
  mac: string;
  mtu: number;
  up: boolean;
  /** "a.b.c.d/len" */
  addresses: string[];
  routes: { dst: string; gw?: string }[];
}

export interface InterfaceConfiguratorOptions {
  /**
   * Userspace (netdev) datapath. Partial checksums break TCP there, so tx offload goes off on
   * both ends. And OVS reads the host end through a packet socket, which does not take frames
   * away from the kernel: the host end is kept out of the box's IP stack (no ARP replies, no
   * forwarding, no IPv6), or the kernel answers pods' ARP for the gateway with the veth's MAC
   * and routes a second copy of their packets.
   */
  userspaceDatapath: boolean;
  /**
   * The box's namespace, where host ends and OVS live, when it is not the agent's own (the lab
   * runs one agent per simulated box, each box a namespace). Default: the agent's namespace.
   */
  hostNetns?: string;
}

/** A random locally administered unicast MAC for the host end (the kernel would pick one the same way). */
function randomHostMac(): string {
  const b = randomBytes(6);
  b[0] = (b[0] & 0xfe) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** The host end's name was taken: a host end left by an earlier ADD that died midway. */
export const alreadyExists = isExists;

/** See InterfaceConfiguratorOptions.userspaceDatapath. Slash-separated sysctl keys survive dots in names. */
const hostIsolation = (ifname: string): [string, string][] => [
  [`net/ipv4/conf/${ifname}/arp_ignore`, '8'],
  [`net/ipv4/conf/${ifname}/forwarding`, '0'],
  [`net/ipv6/conf/${ifname}/disable_ipv6`, '1'],
];

/** Creates, inspects and removes pod veth pairs (Antrea's ifConfigurator, for veths). */
export class InterfaceConfigurator {
  constructor(private readonly opts: InterfaceConfiguratorOptions) {}

  /**
   * Create and configure the pair; returns the host end's MAC. On failure the pair is deleted
   * (deleting the host end removes the pod end too), so nothing is left behind. One message
   * makes the pair (host end up, both MACs and MTUs, the peer born in the pod's namespace),
   * four more configure the pod side (lo up, address, up, default route); with the userspace
   * datapath tx offload goes off on both ends and the host end leaves the box's IP stack.
   */
  async create(spec: PodInterfaceSpec): Promise<{ hostMac: string }> {
    const { hostIfname, netns, ifname, mac, mtu } = spec;
    const { userspaceDatapath, hostNetns } = this.opts;
    const hostMac = randomHostMac();
    withRtnetlink(hostNetns, (host) => host.addVeth({ name: hostIfname, up: true, mtu, mac: hostMac, peer: { name: ifname, mtu, mac, netns } }));
    try {
      withRtnetlink(netns, (pod) => {
        pod.setLink('lo', { up: true });
        const index = pod.index(ifname);
        pod.addAddress(index, spec.address);
        pod.setLink(index, { up: true });
        pod.replaceRoute({ dst: '0.0.0.0/0', gateway: spec.gateway, dev: index });
      });
      if (userspaceDatapath) {
        ethtoolTxOff(netns, ifname);
        ethtoolTxOff(hostNetns, hostIfname);
        for (const [key, value] of hostIsolation(hostIfname)) writeSysctl(hostNetns, key, value);
      }
      return { hostMac };
    } catch (err) {
      await this.delete(hostIfname).catch(() => {});
      throw err;
    }
  }

  /** Delete the pair by its host end; false when it was already gone (e.g. the pod's netns was deleted). */
  async delete(hostIfname: string): Promise<boolean> {
    try {
      withRtnetlink(this.opts.hostNetns, (host) => host.delLink(hostIfname));
      return true;
    } catch (err) {
      if (isGone(err)) return false;
      throw err;
    }
  }

  /** The host end: MAC and whether it is up; undefined when it does not exist. */
  async hostLink(hostIfname: string): Promise<{ mac: string; up: boolean } | undefined> {
    const link = withRtnetlink(this.opts.hostNetns, (host) => host.link(hostIfname));
    return link && { mac: link.mac, up: link.up };
  }

  /** What the pod's interface looks like now; undefined when it does not exist. */
  async inspect(netns: string, ifname: string): Promise<PodInterfaceState | undefined> {
    return withRtnetlink(netns, (pod) => {
      const link = pod.link(ifname);
      if (!link) return undefined;
      return {
        mac: link.mac,
        mtu: link.mtu,
        up: link.up,
        addresses: pod.addresses({ dev: link.index, family: AF_INET }).map((a) => `${a.address}/${a.prefixLength}`),
        routes: pod.routes({ dev: link.index, family: AF_INET }).map((r) => ({ dst: r.dst, gw: r.gateway })),
      };
    });
  }
}
