// The box's side of the datapath: the integration bridge, the gateway port (the host's leg on
// the pod network, antrea-gw0) and the tunnel port (antrea-tun0, remote_ip=flow so one port
// serves every peer). Created through OVSDB, idempotent, so a restarted agent finds them as
// they were: same ofports and the same gateway MAC, hence the same flows. The gateway's MTU,
// address and offload are set over rtnetlink and SIOCETHTOOL (src/lib/netlink), not `ip`.
import { readFile, writeFile } from 'node:fs/promises';
import type { AgentConfig } from '../api/config.js';
import { wireGuardOverhead } from '../api/wireguard.js';
import { errorMessage } from '../lib/errors.js';
import { createLogger } from '../lib/log.js';
import { AF_INET, withRtnetlink } from '../lib/netlink/route.js';
import { ethtoolTxOff } from '../lib/netlink/socket.js';
import { GATEWAY_OFPORT, TUNNEL_OFPORT } from './connectivity/registers.js';
import { parsePodCidr } from './ipam/pod-cidr.js';
import type { VSwitch } from './ovs/vswitch.js';

const log = createLogger('node-network');

export const GATEWAY_PORT = 'antrea-gw0';
export const TUNNEL_PORT = 'antrea-tun0';

export interface NodeNetwork {
  gateway: { name: string; ofport: number; mac: string; ip: string; prefixLength: number };
  tunnel?: { name: string; ofport: number };
}

/** Tunnel header overhead on an IPv4 underlay (outer IP + UDP/GRE + encap header + inner Ethernet). */
const tunnelOverhead = { geneve: 50, vxlan: 50, gre: 38 } as const;

/**
 * With WireGuard, peer traffic is encrypted instead of tunnelled (Antrea deducts only the
 * WireGuard overhead then); the WireGuard device itself gets the same MTU as the pods.
 */
export function podMtu(cfg: Pick<AgentConfig, 'mtu' | 'tunnelType' | 'trafficEncapMode'> & Partial<Pick<AgentConfig, 'trafficEncryptionMode'>>, underlayMtu = 1500, ipv6Underlay = false): number {
  if (cfg.mtu) return cfg.mtu;
  if (cfg.trafficEncryptionMode === 'wireGuard') return underlayMtu - wireGuardOverhead(ipv6Underlay);
  return cfg.trafficEncapMode === 'noEncap' ? underlayMtu : underlayMtu - tunnelOverhead[cfg.tunnelType];
}

export async function setUpNodeNetwork(vs: VSwitch, cfg: AgentConfig, podCIDR: string): Promise<NodeNetwork> {
  const br = cfg.bridgeName;
  const actualType = await vs.getBridgeDatapathType(br);
  if (actualType !== undefined && actualType !== '' && actualType !== cfg.datapathType) {
    throw new Error(`bridge ${br} exists with datapath_type=${actualType}, but the config says ${cfg.datapathType}`);
  }
  await vs.ensureBridge(br, { datapathType: cfg.datapathType, failMode: 'secure', protocols: ['OpenFlow15'] });

  const cidr = parsePodCidr(podCIDR);
  await vs.ensurePort(br, GATEWAY_PORT, { type: 'internal', ofportRequest: GATEWAY_OFPORT });
  const gwOfport = await vs.waitOfport(GATEWAY_PORT);
  const mtu = podMtu(cfg);
  withRtnetlink(undefined, (rt) => {
    rt.setLink(GATEWAY_PORT, { mtu, up: true });
    rt.addAddress(GATEWAY_PORT, `${cidr.gateway}/${cidr.prefixLength}`, { replace: true });
  });
  // The userspace datapath cannot finish partial checksums (ovs-lab.md): TCP would stall.
  if (cfg.datapathType === 'netdev') {
    try {
      ethtoolTxOff(undefined, GATEWAY_PORT);
    } catch (err) {
      log.warn({ err: errorMessage(err) }, `tx checksum offload stays on for ${GATEWAY_PORT}: TCP through the userspace datapath may stall`);
    }
  }
  await enableForwarding();
  const mac = await linkMac(GATEWAY_PORT);

  let tunnel: NodeNetwork['tunnel'];
  if (cfg.trafficEncapMode !== 'noEncap') {
    await vs.ensurePort(br, TUNNEL_PORT, { type: cfg.tunnelType, ofportRequest: TUNNEL_OFPORT, options: { remote_ip: 'flow' } });
    tunnel = { name: TUNNEL_PORT, ofport: await vs.waitOfport(TUNNEL_PORT) };
  } else if (await vs.deletePort(br, TUNNEL_PORT)) {
    log.info('removed the tunnel port: the traffic mode is noEncap');
  }
  log.info({ bridge: br, gateway: { ofport: gwOfport, mac, ip: cidr.gateway }, tunnel }, 'node network ready');
  return { gateway: { name: GATEWAY_PORT, ofport: gwOfport, mac, ip: cidr.gateway, prefixLength: cidr.prefixLength }, tunnel };
}

export async function linkMac(dev: string): Promise<string> {
  const link = withRtnetlink(undefined, (rt) => rt.link(dev));
  if (!link) throw new Error(`link ${dev} does not exist`);
  return link.mac;
}

/** Pods reach other boxes and the outside through the host: it must route. */
async function enableForwarding(): Promise<void> {
  const file = '/proc/sys/net/ipv4/ip_forward';
  if ((await readFile(file, 'utf8')).trim() !== '1') await writeFile(file, '1');
}

/** The underlay interface holding `ip` and its prefix length (for hybrid mode's same-subnet test). */
export async function underlayOf(ip: string): Promise<{ dev: string; prefixLength: number } | undefined> {
  return withRtnetlink(undefined, (rt) => {
    const a = rt.addresses({ family: AF_INET }).find((x) => x.address === ip);
    const dev = a && rt.link(a.index)?.name;
    return a && dev ? { dev, prefixLength: a.prefixLength } : undefined;
  });
}
