// A simulated box: a network namespace with its own userspace OVS and br-phy holding the box's
// underlay address, with a veth uplink into the lab's underlay bridge — the shape ovs-lab.md
// measured for userspace tunnels. The integration bridge br-int, its gateway and tunnel ports
// are the agent's: the lab starts one agent per box (agent-process.ts).
import { run } from '../lib/exec.js';
import { startOvsInstance } from './ovs-instance.js';
import { inNetns, ipBatch, txOffCommands, vsctl } from './ovs-box.js';
import { addNetns } from './netns.js';
import { UNDERLAY_PREFIX, UNDERLAY_SUBNETS, type LabNames } from './names.js';
import type { BoxState } from './state.js';
import type { StateStore } from './state-store.js';

export interface BuildContext {
  names: LabNames;
  env: NodeJS.ProcessEnv;
  store: StateStore;
}

/**
 * The underlay: a namespace holding one Linux bridge that every box's uplink joins. It also
 * routes between the underlay subnets (hybrid labs put boxes on two of them).
 */
export async function createUnderlay({ names, env, store }: BuildContext): Promise<void> {
  const { underlayNetns: ns, underlayBridge: br } = names;
  await addNetns(ns, env, () => store.update((s) => void (s.underlay.created = true)));
  await ipBatch(ns, env, [
    `link add ${br} type bridge`,
    `link set ${br} up`,
    ...UNDERLAY_SUBNETS.map((net) => `addr add ${net}.1/${UNDERLAY_PREFIX} dev ${br}`),
  ]);
  await inNetns(ns, env, ['sysctl -qw net.ipv4.ip_forward=1']);
}

const findBox = (store: StateStore, name: string) => {
  const box = store.state.boxes.find((b) => b.name === name);
  if (!box) throw new Error(`box ${name} vanished from the state`);
  return box;
};

/** Namespace + private OVS; the daemons are recorded as soon as their pidfiles exist. */
export async function startBox({ env, store }: BuildContext, box: BoxState): Promise<void> {
  await addNetns(box.netns, env, () => store.update((s) => void s.boxes.push(box)));
  const ovs = await startOvsInstance(box.ovsDir, box.netns, env);
  await store.update(() => {
    findBox(store, box.name).processes.push(
      { role: 'ovsdb-server', ...ovs.ovsdb, command: 'ovsdb-server', logFile: `${box.ovsDir}/ovsdb-server.log` },
      { role: 'ovs-vswitchd', ...ovs.vswitchd, command: 'ovs-vswitchd', logFile: `${box.ovsDir}/ovs-vswitchd.log` },
    );
  });
}

/** Uplink veth into the underlay, br-phy with the underlay address and a route to the other subnet. */
export async function wireBox({ names, env, store }: BuildContext, boxName: string): Promise<void> {
  const box = findBox(store, boxName);
  const ul = names.underlayNetns;
  await run('ip', ['-n', ul, 'link', 'add', box.underlayPort, 'type', 'veth', 'peer', 'name', box.uplink, 'netns', box.netns], { env });
  await inNetns(ul, env, [`ip link set ${box.underlayPort} master ${names.underlayBridge} up`, ...txOffCommands([box.underlayPort])]);
  // The uplink is a port of br-phy read through a packet socket: keep it out of the box's own
  // IP stack, or the kernel answers ARP for the underlay address with the veth's MAC.
  const u = box.uplink;
  await inNetns(box.netns, env, [
    ...txOffCommands([u]),
    `sysctl -qw net/ipv4/conf/${u}/arp_ignore=8 net/ipv4/conf/${u}/forwarding=0 net/ipv6/conf/${u}/disable_ipv6=1`,
    `ip link set ${u} up`,
  ]);
  await vsctl(box, env, ['--', 'add-br', 'br-phy', '--', 'set', 'bridge', 'br-phy', 'datapath_type=netdev', '--', 'add-port', 'br-phy', box.uplink]);
  const router = `${box.underlayIP.split('.').slice(0, 3).join('.')}.1`;
  await inNetns(box.netns, env, [
    `ip addr add ${box.underlayIP}/${UNDERLAY_PREFIX} dev br-phy`,
    'ip link set br-phy up',
    `ip route add 172.31.0.0/16 via ${router}`,
    ...txOffCommands(['br-phy']),
  ]);
  await store.update(() => void (findBox(store, boxName).phase = 'ready'));
}
