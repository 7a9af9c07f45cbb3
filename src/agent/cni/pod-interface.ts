// The pod's veth pair: host end in the box's namespace (then an OVS port), pod end in the
// pod's network namespace with its address, default route and MTU. Uses iproute2 and ethtool;
// namespaces are given as paths (/var/run/netns/x or /proc/<pid>/ns/net), so commands run in
// them through `nsenter --net=<path>` (`ip -n` takes names only), and the peer is created
// directly inside the pod's (`ip link add … peer … netns <path>`: iproute2 opens a path with a
// "/"), which saves a move and a rename.
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { run, CommandError } from '../../lib/exec.js';

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

/** Run a command inside the namespace at `netns`. */
export function runInNetnsPath(netns: string, cmd: string, args: string[], input?: string) {
  return run('nsenter', [`--net=${netns}`, cmd, ...args], { input });
}

/** A random locally administered unicast MAC for the host end (the kernel would pick one the same way). */
function randomHostMac(): string {
  const b = randomBytes(6);
  b[0] = (b[0] & 0xfe) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** `ip link add` found the name taken: a host end left by an earlier ADD that died midway. */
export const alreadyExists = (err: unknown) => err instanceof CommandError && /File exists/i.test(err.result.stderr);

const gone = (err: unknown) => err instanceof CommandError && /does not exist|Cannot find device/i.test(err.result.stderr);

/** See InterfaceConfiguratorOptions.userspaceDatapath. Slash-separated sysctl keys survive dots in names. */
const hostIsolation = [
  'ethtool -K "$1" tx off >/dev/null',
  'sysctl -qw "net/ipv4/conf/$1/arp_ignore=8" "net/ipv4/conf/$1/forwarding=0" "net/ipv6/conf/$1/disable_ipv6=1"',
].join(' && ');

/** Creates, inspects and removes pod veth pairs (Antrea's ifConfigurator, for veths). */
export class InterfaceConfigurator {
  constructor(private readonly opts: InterfaceConfiguratorOptions) {}

  private host(cmd: string, args: string[], input?: string) {
    return this.opts.hostNetns ? runInNetnsPath(this.opts.hostNetns, cmd, args, input) : run(cmd, args, { input });
  }

  /**
   * Create and configure the pair; returns the host end's MAC. On failure the pair is deleted
   * (deleting the host end removes the pod end too), so nothing is left behind. Every process
   * costs a few ms on a small box, so the work is packed into three, two of them in parallel:
   * the pair (host end up, both MACs and MTUs set, peer born in the pod's namespace), the pod
   * side (address, route, offload) and the host side's offload.
   */
  async create(spec: PodInterfaceSpec): Promise<{ hostMac: string }> {
    const { hostIfname, netns, ifname, mac } = spec;
    const userspace = this.opts.userspaceDatapath;
    const mtu = String(spec.mtu);
    const hostMac = randomHostMac();
    await this.host('ip', ['link', 'add', hostIfname, 'up', 'mtu', mtu, 'address', hostMac, 'type', 'veth', 'peer', 'name', ifname, 'mtu', mtu, 'address', mac, 'netns', netns]);
    try {
      const batch = ['link set lo up', `addr add ${spec.address} dev ${ifname}`, `link set ${ifname} up`, `route add default via ${spec.gateway} dev ${ifname}`].join('\n') + '\n';
      await Promise.all([
        userspace
          ? runInNetnsPath(netns, 'sh', ['-c', 'ip -batch - && ethtool -K "$1" tx off', 'sh', ifname], batch)
          : runInNetnsPath(netns, 'ip', ['-batch', '-'], batch),
        userspace ? this.host('sh', ['-c', hostIsolation, 'sh', hostIfname]) : undefined,
      ]);
      return { hostMac };
    } catch (err) {
      await this.delete(hostIfname).catch(() => {});
      throw err;
    }
  }

  /** Delete the pair by its host end; false when it was already gone (e.g. the pod's netns was deleted). */
  async delete(hostIfname: string): Promise<boolean> {
    try {
      await this.host('ip', ['link', 'del', hostIfname]);
      return true;
    } catch (err) {
      if (gone(err)) return false;
      throw err;
    }
  }

  /** The host end: MAC and whether it is up; undefined when it does not exist. */
  async hostLink(hostIfname: string): Promise<{ mac: string; up: boolean } | undefined> {
    if (!this.opts.hostNetns) {
      // Our own namespace: sysfs is cheaper than a process.
      try {
        const [mac, flags] = await Promise.all([readFile(`/sys/class/net/${hostIfname}/address`, 'utf8'), readFile(`/sys/class/net/${hostIfname}/flags`, 'utf8')]);
        return { mac: mac.trim(), up: (Number(flags.trim()) & 1) === 1 };
      } catch {
        return undefined;
      }
    }
    const out = await this.host('ip', ['-j', 'link', 'show', 'dev', hostIfname]).catch((err: unknown) => {
      if (gone(err)) return undefined;
      throw err;
    });
    const [link] = out ? (JSON.parse(out.stdout || '[]') as IpJsonLink[]) : [];
    return link && { mac: link.address ?? '', up: link.flags?.includes('UP') ?? false };
  }

  /** What the pod's interface looks like now; undefined when it does not exist. */
  async inspect(netns: string, ifname: string): Promise<PodInterfaceState | undefined> {
    const addr = await runInNetnsPath(netns, 'ip', ['-j', 'addr', 'show', 'dev', ifname]).catch((err: unknown) => {
      if (gone(err)) return undefined;
      throw err;
    });
    const [link] = addr ? (JSON.parse(addr.stdout || '[]') as IpJsonLink[]) : [];
    if (!link) return undefined;
    const routes = JSON.parse((await runInNetnsPath(netns, 'ip', ['-j', '-4', 'route', 'show', 'dev', ifname])).stdout || '[]') as { dst: string; gateway?: string }[];
    return {
      mac: link.address ?? '',
      mtu: link.mtu ?? 0,
      up: link.flags?.includes('UP') ?? false,
      addresses: (link.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`),
      routes: routes.map((r) => ({ dst: r.dst === 'default' ? '0.0.0.0/0' : r.dst, gw: r.gateway })),
    };
  }
}

interface IpJsonLink {
  address?: string;
  mtu?: number;
  flags?: string[];
  addr_info?: { family: string; local: string; prefixlen: number }[];
}
