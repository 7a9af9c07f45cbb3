// ADD, DEL and CHECK of one pod interface: address from IPAM, veth pair, OVS port through the
// injected PodPortConnector. An ADD that fails undoes, in reverse, what it did itself; DEL
// tolerates every piece being gone already; a repeated ADD returns what the first one built.
import { access } from 'node:fs/promises';
import { CniErrorCode } from '../../api/cni.js';
import { errorMessage } from '../../lib/errors.js';
import { createLogger } from '../../lib/log.js';
import { PoolExhaustedError, type HostLocalIpam, type IpAllocation } from '../ipam/host-local.js';
import { InterfaceConfigurator, alreadyExists, hostVethName, podMac, type PodInterfaceState } from './pod-interface.js';
import {
  CniCallError,
  type PodAddRequest,
  type PodAttachment,
  type PodCheckRequest,
  type PodDelRequest,
  type PodNetwork,
  type PodPortConnector,
  type PodRef,
} from './pod-network.js';

const log = createLogger('cni');

export interface PodConfiguratorOptions {
  ipam: HostLocalIpam;
  connector: PodPortConnector;
  /** Pod MTU when the network config has none: underlay MTU minus tunnel overhead (1450 for geneve/vxlan on 1500). */
  defaultMtu: number;
  /** True on the userspace (netdev) datapath; see ovs-lab.md. */
  userspaceDatapath: boolean;
  /** The box's namespace (path) when the agent runs outside it, as in the lab; default: the agent's own. */
  hostNetns?: string;
}

export class PodConfigurator implements PodNetwork {
  private readonly ifaces: InterfaceConfigurator;

  constructor(private readonly opts: PodConfiguratorOptions) {
    this.ifaces = new InterfaceConfigurator({ userspaceDatapath: opts.userspaceDatapath, hostNetns: opts.hostNetns });
  }

  async add(req: PodAddRequest): Promise<PodAttachment> {
    const { pod, netns, ifname } = req;
    await requireNetns(netns);
    const mtu = req.mtu ?? this.opts.defaultMtu;
    const hostIfname = hostVethName(pod.name, pod.containerId, ifname);
    const undo: (() => Promise<unknown>)[] = [];
    try {
      const previous = await this.opts.ipam.lookup(pod.containerId, ifname);
      const alloc = previous ?? (await this.allocate(pod, ifname));
      if (!previous) undo.push(() => this.opts.ipam.release(pod.containerId, ifname));
      const address = `${alloc.ip}/${alloc.prefixLength}`;
      const mac = podMac(alloc.ip);

      if (previous && (await this.alreadyConfigured(netns, ifname, hostIfname, address, mac, mtu))) {
        // Repeated ADD: same address, same interface; only make sure the port is there.
        const { ofport } = await this.opts.connector.connect(hostIfname, { ...pod, ip: alloc.ip, mac, ifname, netns });
        log.info({ containerId: pod.containerId, hostIfname, ip: alloc.ip }, 'repeated ADD: pod interface already configured');
        return attachment(alloc, hostIfname, (await this.ifaces.hostLink(hostIfname))?.mac ?? '', ifname, mac, netns, mtu, ofport);
      }
      // Leftovers of an earlier, half-finished ADD for this container: start clean.
      if (previous) await this.detach(hostIfname, pod);
      const spec = { hostIfname, netns, ifname, mac, address, gateway: alloc.gateway, mtu };
      const { hostMac: hmac } = await this.ifaces.create(spec).catch(async (err: unknown) => {
        if (!alreadyExists(err)) throw err;
        // The name is derived from the container id: what holds it is ours, from an ADD that died.
        await this.detach(hostIfname, pod);
        return this.ifaces.create(spec);
      });
      undo.push(() => this.ifaces.delete(hostIfname));
      const { ofport } = await this.opts.connector.connect(hostIfname, { ...pod, ip: alloc.ip, mac, ifname, netns });
      log.info({ containerId: pod.containerId, pod: `${pod.namespace}/${pod.name}`, hostIfname, ip: alloc.ip, ofport }, 'pod interface configured');
      return attachment(alloc, hostIfname, hmac, ifname, mac, netns, mtu, ofport);
    } catch (err) {
      for (const step of undo.reverse()) await step().catch((e: unknown) => log.error({ err: errorMessage(e), containerId: pod.containerId }, 'rollback step failed'));
      if (err instanceof CniCallError) throw err;
      throw new CniCallError(CniErrorCode.ConfigInterfaceFailure, `failed to configure the pod interface ${ifname} of ${podLabel(pod)}: ${errorMessage(err)}`);
    }
  }

  async del(req: PodDelRequest): Promise<void> {
    const { pod, ifname } = req;
    // Trust the stored owner over CNI_ARGS: DEL may come without them.
    const alloc = await this.opts.ipam.lookup(pod.containerId, ifname);
    const owner = alloc ? { ...pod, namespace: alloc.namespace, name: alloc.name } : pod;
    const hostIfname = hostVethName(owner.name, pod.containerId, ifname);
    try {
      await this.detach(hostIfname, owner);
    } catch (err) {
      throw new CniCallError(CniErrorCode.ConfigInterfaceFailure, `failed to remove the pod interface ${hostIfname} of ${podLabel(owner)}: ${errorMessage(err)}`);
    }
    await this.opts.ipam.release(pod.containerId, ifname);
    log.info({ containerId: pod.containerId, hostIfname, ip: alloc?.ip }, alloc ? 'pod interface removed' : 'DEL for an unknown container: nothing to release');
  }

  async check(req: PodCheckRequest): Promise<void> {
    const { pod, netns, ifname, prevResult } = req;
    const alloc = await this.opts.ipam.lookup(pod.containerId, ifname);
    if (!alloc) throw new CniCallError(CniErrorCode.UnknownContainer, `container ${pod.containerId} has no interface ${ifname} on this network (no ADD, or already deleted)`);
    await requireNetns(netns);
    const fail = (msg: string) => new CniCallError(CniErrorCode.CheckInterfaceFailure, `CHECK ${podLabel(pod)}: ${msg}`);

    const interfaces = prevResult.interfaces ?? [];
    const index = interfaces.findIndex((i) => i.name === ifname && i.sandbox);
    if (index < 0) throw new CniCallError(CniErrorCode.InvalidNetworkConfig, `prevResult has no interface ${ifname} with a sandbox`);
    const expected = interfaces[index];
    const ips = (prevResult.ips ?? []).filter((ip) => ip.interface === undefined || ip.interface === index);

    const state = await this.ifaces.inspect(netns, ifname);
    if (!state) throw fail(`interface ${ifname} does not exist in ${netns}`);
    if (expected.mac && state.mac.toLowerCase() !== expected.mac.toLowerCase()) throw fail(`interface ${ifname} has MAC ${state.mac}, expected ${expected.mac}`);
    if (!state.up) throw fail(`interface ${ifname} is down`);
    for (const ip of ips) {
      if (!state.addresses.includes(ip.address)) throw fail(`interface ${ifname} lacks address ${ip.address} (has ${state.addresses.join(', ') || 'none'})`);
    }
    const allocated = `${alloc.ip}/${alloc.prefixLength}`;
    if (!ips.some((ip) => ip.address === allocated)) throw fail(`prevResult does not list the allocated address ${allocated}`);
    for (const route of prevResult.routes ?? []) {
      if (!state.routes.some((r) => r.dst === route.dst && (!route.gw || r.gw === route.gw))) {
        throw fail(`route ${route.dst}${route.gw ? ` via ${route.gw}` : ''} is missing in ${netns}`);
      }
    }
    const hostIfname = hostVethName(alloc.name, pod.containerId, ifname);
    const host = await this.ifaces.hostLink(hostIfname);
    if (!host) throw fail(`host interface ${hostIfname} does not exist`);
    if (!host.up) throw fail(`host interface ${hostIfname} is down`);
  }

  private async allocate(pod: PodRef, ifname: string): Promise<IpAllocation> {
    try {
      return await this.opts.ipam.allocate({ containerId: pod.containerId, ifname, namespace: pod.namespace, name: pod.name });
    } catch (err) {
      const msg = err instanceof PoolExhaustedError ? err.message : `IPAM failed: ${errorMessage(err)}`;
      throw new CniCallError(CniErrorCode.IpamFailure, msg);
    }
  }

  private async alreadyConfigured(netns: string, ifname: string, hostIfname: string, address: string, mac: string, mtu: number): Promise<boolean> {
    const [state, host] = await Promise.all([this.ifaces.inspect(netns, ifname), this.ifaces.hostLink(hostIfname)]);
    return !!host?.up && matches(state, address, mac, mtu);
  }

  /** OVS port first, then the veth: the port's flows must go before its ofport can be reused (as Antrea does). */
  private async detach(hostIfname: string, pod: PodRef): Promise<void> {
    await this.opts.connector.disconnect(hostIfname, pod);
    await this.ifaces.delete(hostIfname);
  }
}

function matches(state: PodInterfaceState | undefined, address: string, mac: string, mtu: number): boolean {
  return !!state && state.up && state.mac === mac && state.mtu === mtu && state.addresses.includes(address) && state.routes.some((r) => r.dst === '0.0.0.0/0');
}

async function requireNetns(netns: string): Promise<void> {
  try {
    await access(netns);
  } catch {
    throw new CniCallError(CniErrorCode.UnknownContainer, `CNI_NETNS ${netns} does not exist (the container's network namespace is gone)`);
  }
}

function attachment(alloc: IpAllocation, hostIfname: string, hmac: string, ifname: string, mac: string, netns: string, mtu: number, ofport: number): PodAttachment {
  return {
    host: { name: hostIfname, mac: hmac },
    pod: { name: ifname, mac, netns, mtu },
    address: `${alloc.ip}/${alloc.prefixLength}`,
    gateway: alloc.gateway,
    routes: [{ dst: '0.0.0.0/0', gw: alloc.gateway }],
    ofport,
  };
}

const podLabel = (pod: PodRef) => (pod.name ? `pod ${pod.namespace}/${pod.name}` : `container ${pod.containerId}`);
