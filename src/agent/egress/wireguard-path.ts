// Egress through a remote egress box over WireGuard (trafficEncryptionMode wireGuard). WireGuard
// picks the peer by destination only (a peer's allowed IPs are its pod CIDR), so a pod's packet
// to the outside cannot be handed to the device for the egress box as it is. It is wrapped: the
// source box routes it into a VXLAN device whose outer addresses are the two boxes' gateway IPs,
// which lie in both peers' allowed IPs, so the outer packet takes the WireGuard route like pod
// traffic and is encrypted. (Antrea sends this hop through its Geneve tunnel, in the clear; on
// links nobody trusts Seine does not. VXLAN because it is the kernel tunnel every box kernel has,
// this machine's included: no ipip, gre or geneve here.)
//   source box: `ip rule from <pod> lookup <egress box's table>`: default via its gateway IP into
//               the device (cluster destinations thrown back to main); not masqueraded on the way.
//   egress box: decapsulates, forwards to its uplink, SNATs to the Egress IP (snat-rules.ts). The
//               connection is marked in conntrack when it starts from the device, so its replies —
//               addressed to the pod once de-NATed — take the reply table back into the device
//               rather than the WireGuard route, whose peer would drop a packet from an outside
//               source (not in the allowed IPs). rp_filter is loose on the device (both ways,
//               the inner source is routed elsewhere), and the device has an address for that.
// Everything here is keyed by the boxes' gateway IPs (MACs and table ids derive from them), so a
// restarted agent computes the same state and changes nothing.
import { writeFile } from 'node:fs/promises';
import { run } from '../../lib/exec.js';
import { withRtnetlink } from '../../lib/netlink/route.js';
import { SEINE_ROUTE_PROTO } from '../route/node-routes.js';

export const WG_EGRESS_DEV = 'seine-wgeg0';
/** Inside WireGuard only, never on the underlay; not 4789, which a kernel-datapath OVS binds for its own VXLAN port. */
export const WG_EGRESS_PORT = 4790;
const VNI = 1;
/** Any address will do (see the rp_filter note below); link-local, the same on every box. */
const WG_EGRESS_DEV_ADDR = '169.254.94.1/32';
/** conntrack/packet mark of connections that arrived from the device (bit 22: clear of kube-proxy's 0x4000/0x8000). */
export const WG_EGRESS_MARK = 0x400000;
/** Replies of those connections: each source box's pod CIDR back into the device. */
export const WG_EGRESS_REPLY_TABLE = 0x5e1e;
const PREF_REPLY = 9000;
/** The per-pod rules on the source box. */
export const PREF_POD = 9100;
const MANGLE_CHAIN = 'SEINE-WG-EGRESS';

const octets = (ip: string) => ip.split('.').map(Number);
/** The device's MAC on a box: locally administered, from its gateway IP, so peers know it without asking. */
export const wgEgressMac = (gatewayIP: string) => ['0a', '5e', ...octets(gatewayIP).map((o) => o.toString(16).padStart(2, '0'))].join(':');
/** The routing table toward one egress box: its gateway IP as a number (never 0 or 253–255: a pod CIDR's gateway is no such address). */
export const wgEgressTable = (gatewayIP: string) => octets(gatewayIP).reduce((n, o) => n * 256 + o, 0);

export interface WgEgressPeer {
  podCIDR: string;
  gatewayIP: string;
}

export interface WgEgressPath {
  gatewayIP: string;
  /** The WireGuard device's MTU: the outer packet is fragmented, not the pods' (which keep their MTU). */
  mtu: number;
  peers: WgEgressPeer[];
  /** Pod CIDRs and the Service CIDR: left to the main table from a rerouted pod. */
  clusterCIDRs: string[];
}

const ip = (args: string[]) => run('ip', args);

/** The device, the per-peer tables and neighbours, the reply rule and the mangle chain: idempotent. */
export async function syncWgEgressPath(p: WgEgressPath): Promise<void> {
  let link = withRtnetlink(undefined, (rt) => rt.link(WG_EGRESS_DEV));
  // Called on every Node change: the commands run only when the peers (or the box) changed.
  const key = JSON.stringify(p);
  if (link && key === lastSynced) return;
  lastSynced = undefined;
  const mac = wgEgressMac(p.gatewayIP);
  // Made for another gateway IP (the box's pod CIDR changed): its local address is wrong too.
  if (link && link.mac !== mac) {
    withRtnetlink(undefined, (rt) => rt.delLink(WG_EGRESS_DEV));
    link = undefined;
  }
  if (!link) {
    await ip(['link', 'add', WG_EGRESS_DEV, 'address', mac, 'type', 'vxlan', 'id', String(VNI), 'local', p.gatewayIP, 'dstport', String(WG_EGRESS_PORT), 'nolearning']);
  }
  withRtnetlink(undefined, (rt) => rt.setLink(WG_EGRESS_DEV, { mtu: p.mtu, up: true }));
  // Loose rp_filter, and an address: on a device without any IPv4 address the kernel's
  // reverse-path check rejects, loose mode or not, a packet whose source is routed through
  // another device (fib_validate_source's no_addr case; seen here as TcpExtIPReversePathFilter).
  // Host scope, no prefix route: never picked as a source, never routed to.
  await writeFile(`/proc/sys/net/ipv4/conf/${WG_EGRESS_DEV}/rp_filter`, '2\n');
  await ip(['addr', 'replace', WG_EGRESS_DEV_ADDR, 'dev', WG_EGRESS_DEV, 'scope', 'host', 'noprefixroute']);
  for (const peer of p.peers) {
    const mac = wgEgressMac(peer.gatewayIP);
    const table = String(wgEgressTable(peer.gatewayIP));
    await run('bridge', ['fdb', 'replace', mac, 'dev', WG_EGRESS_DEV, 'dst', peer.gatewayIP, 'self', 'permanent']);
    await ip(['neigh', 'replace', peer.gatewayIP, 'lladdr', mac, 'dev', WG_EGRESS_DEV, 'nud', 'permanent']);
    await ip(['route', 'replace', 'default', 'via', peer.gatewayIP, 'dev', WG_EGRESS_DEV, 'onlink', 'table', table, 'proto', String(SEINE_ROUTE_PROTO)]);
    for (const c of p.clusterCIDRs) await ip(['route', 'replace', 'throw', c, 'table', table, 'proto', String(SEINE_ROUTE_PROTO)]);
    await ip(['route', 'replace', peer.podCIDR, 'via', peer.gatewayIP, 'dev', WG_EGRESS_DEV, 'onlink', 'table', String(WG_EGRESS_REPLY_TABLE), 'proto', String(SEINE_ROUTE_PROTO)]);
    // The device looks up its outer packet with the inner packet's mark: the peer's gateway IP
    // (the outer destination) goes back to the main table, into WireGuard, not into the device again.
    await ip(['route', 'replace', 'throw', `${peer.gatewayIP}/32`, 'table', String(WG_EGRESS_REPLY_TABLE), 'proto', String(SEINE_ROUTE_PROTO)]);
  }
  // A peer that left: its table goes (its default route left with its neighbour entry; the
  // throw routes stay until flushed), and so does its reply route.
  const tables = new Set(p.peers.map((x) => wgEgressTable(x.gatewayIP)));
  for (const t of await peerTables()) if (!tables.has(t)) await flushTable(t);
  const wanted = new Set(p.peers.flatMap((x) => [x.podCIDR, `${x.gatewayIP}/32`]));
  const stale = withRtnetlink(undefined, (rt) => rt.routes({ table: WG_EGRESS_REPLY_TABLE, protocol: SEINE_ROUTE_PROTO })).filter((r) => !wanted.has(r.dst));
  // `ip route del` without a type: it matches the throw routes too (rtnetlink's delRoute says unicast).
  for (const r of stale) await run('ip', ['route', 'del', r.dst, 'table', String(WG_EGRESS_REPLY_TABLE), 'proto', String(SEINE_ROUTE_PROTO)], { allowFailure: true });
  const mark = `0x${WG_EGRESS_MARK.toString(16)}/0x${WG_EGRESS_MARK.toString(16)}`;
  if (!(await rules(PREF_REPLY)).length) await ip(['rule', 'add', 'pref', String(PREF_REPLY), 'fwmark', mark, 'lookup', String(WG_EGRESS_REPLY_TABLE)]);
  await run('iptables-restore', ['-w', '5', '--noflush'], {
    input: [
      '*mangle',
      `:${MANGLE_CHAIN} - [0:0]`,
      `-A ${MANGLE_CHAIN} -i ${WG_EGRESS_DEV} -m conntrack --ctstate NEW -m comment --comment "egress from another box over WireGuard" -j CONNMARK --set-xmark ${mark}`,
      `-A ${MANGLE_CHAIN} ! -i ${WG_EGRESS_DEV} -m connmark --mark ${mark} -m comment --comment "its replies: back into ${WG_EGRESS_DEV}" -j MARK --set-xmark ${mark}`,
      'COMMIT',
      '',
    ].join('\n'),
  });
  const has = await run('iptables', ['-t', 'mangle', '-w', '5', '-C', 'PREROUTING', '-j', MANGLE_CHAIN], { allowFailure: true });
  if (has.code !== 0) await run('iptables', ['-t', 'mangle', '-w', '5', '-A', 'PREROUTING', '-j', MANGLE_CHAIN]);
  lastSynced = key;
}

let lastSynced: string | undefined;

/**
 * The per-peer tables: every table but main and the reply table that holds routes of ours
 * (SEINE_ROUTE_PROTO; nothing else in Seine writes routes into other tables).
 */
async function peerTables(): Promise<number[]> {
  const out = (await ip(['-j', '-4', 'route', 'show', 'table', 'all', 'proto', String(SEINE_ROUTE_PROTO)])).stdout.trim();
  // Routes of the main table carry no "table" field; named tables (local, default) are not ours.
  const ids = (out ? (JSON.parse(out) as { table?: string }[]) : []).map((r) => Number(r.table)).filter((t) => Number.isInteger(t) && t !== WG_EGRESS_REPLY_TABLE);
  return [...new Set(ids)];
}

const flushTable = (table: number) => run('ip', ['-4', 'route', 'flush', 'table', String(table), 'proto', String(SEINE_ROUTE_PROTO)], { allowFailure: true });

/**
 * Everything syncWgEgressPath and syncWgEgressPodRules made, gone: the box runs without
 * WireGuard now (trafficEncryptionMode none). The per-pod and reply rules first, so no packet is
 * steered into a table being emptied; then the mangle chain, the device (its neighbours, fdb
 * entries and routes through it go with it) and the throw routes left in the tables.
 * Idempotent; returns whether anything was there.
 */
export async function removeWgEgressPath(): Promise<boolean> {
  let found = false;
  for (const pref of [PREF_POD, PREF_REPLY]) {
    // `ip rule del pref N` takes one rule of that preference at a time.
    for (let n = (await rules(pref)).length; n > 0; n--) {
      await ip(['rule', 'del', 'pref', String(pref)]);
      found = true;
    }
  }
  const jump = ['-t', 'mangle', '-w', '5', '-D', 'PREROUTING', '-j', MANGLE_CHAIN];
  while ((await run('iptables', jump, { allowFailure: true })).code === 0) found = true;
  if ((await run('iptables', ['-t', 'mangle', '-w', '5', '-F', MANGLE_CHAIN], { allowFailure: true })).code === 0) {
    await run('iptables', ['-t', 'mangle', '-w', '5', '-X', MANGLE_CHAIN]);
    found = true;
  }
  if (withRtnetlink(undefined, (rt) => rt.link(WG_EGRESS_DEV))) {
    withRtnetlink(undefined, (rt) => rt.delLink(WG_EGRESS_DEV));
    found = true;
  }
  for (const t of [...(await peerTables()), WG_EGRESS_REPLY_TABLE]) {
    if (!withRtnetlink(undefined, (rt) => rt.routes({ table: t, protocol: SEINE_ROUTE_PROTO })).length) continue;
    await flushTable(t);
    found = true;
  }
  lastSynced = undefined;
  return found;
}

export interface WgEgressPodRule {
  podIP: string;
  /** The egress box's gateway IP (names its table). */
  gatewayIP: string;
}

interface IpRule {
  priority: number;
  src?: string;
  srclen?: number;
  table?: string;
}

async function rules(pref: number): Promise<IpRule[]> {
  const out = (await ip(['-j', 'rule', 'show', 'pref', String(pref)])).stdout.trim();
  return out ? (JSON.parse(out) as IpRule[]) : [];
}

/** The source box's per-pod rules: exactly these afterwards. Returns the number of changes. */
export async function syncWgEgressPodRules(want: WgEgressPodRule[]): Promise<number> {
  const key = (src: string, table: string) => `${src} ${table}`;
  const desired = new Map(want.map((w) => [key(w.podIP, String(wgEgressTable(w.gatewayIP))), w]));
  const current = (await rules(PREF_POD)).map((r) => key(r.src ?? 'all', r.table ?? ''));
  let changes = 0;
  for (const c of current) {
    if (desired.has(c)) continue;
    const [src, table] = c.split(' ') as [string, string];
    await ip(['rule', 'del', 'pref', String(PREF_POD), 'from', src, 'lookup', table]);
    changes++;
  }
  for (const [k, w] of desired) {
    if (current.includes(k)) continue;
    await ip(['rule', 'add', 'pref', String(PREF_POD), 'from', `${w.podIP}/32`, 'lookup', String(wgEgressTable(w.gatewayIP))]);
    changes++;
  }
  return changes;
}
