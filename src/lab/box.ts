// A simulated box: a network namespace with its own userspace OVS, the integration bridge
// br-int with the pod gateway port, and br-phy holding the box's underlay address with a veth
// uplink into the lab's underlay bridge — the shape ovs-lab.md measured for userspace tunnels,
// so tunnel ports on br-int can be added later without changing the box.
import { run } from '../lib/exec.js';
import { startOvsInstance } from './ovs-instance.js';
import { inNetns, ipBatch, txOffCommands, vsctl } from './ovs-box.js';
import { addNetns } from './netns.js';
import { POD_MTU, UNDERLAY_CIDR, type LabNames } from './names.js';
import type { BoxState, StateStore } from './state.js';

export interface BuildContext {
  names: LabNames;
  env: NodeJS.ProcessEnv;
  store: StateStore;
}

/** The underlay: a namespace holding one Linux bridge that every box's uplink joins. */
export async function createUnderlay({ names, env, store }: BuildContext): Promise<void> {
  const { underlayNetns: ns, underlayBridge: br } = names;
  await addNetns(ns, env, () => store.update((s) => void (s.underlay.created = true)));
  await ipBatch(ns, env, [`link add ${br} type bridge`, `link set ${br} up`]);
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

/** Uplink veth into the underlay, br-phy with the underlay address, br-int with the gateway. */
export async function wireBox({ names, env, store }: BuildContext, boxName: string): Promise<void> {
  const box = findBox(store, boxName);
  const ul = names.underlayNetns;
  await run('ip', ['-n', ul, 'link', 'add', box.underlayPort, 'type', 'veth', 'peer', 'name', box.uplink, 'netns', box.netns], { env });
  await inNetns(ul, env, [`ip link set ${box.underlayPort} master ${names.underlayBridge} up`, ...txOffCommands([box.underlayPort])]);
  await inNetns(box.netns, env, [...txOffCommands([box.uplink]), `ip link set ${box.uplink} up`]);
  await vsctl(box, env, [
    '--', 'add-br', 'br-phy', '--', 'set', 'bridge', 'br-phy', 'datapath_type=netdev',
    '--', 'add-port', 'br-phy', box.uplink,
    '--', 'add-br', 'br-int', '--', 'set', 'bridge', 'br-int', 'datapath_type=netdev',
    '--', 'add-port', 'br-int', box.gatewayIf, '--', 'set', 'interface', box.gatewayIf, 'type=internal', `mtu_request=${POD_MTU}`,
  ]);
  const underlayLen = UNDERLAY_CIDR.split('/')[1];
  const podLen = box.podCIDR.split('/')[1];
  await inNetns(box.netns, env, [
    `ip addr add ${box.underlayIP}/${underlayLen} dev br-phy`,
    'ip link set br-phy up',
    `ip addr add ${box.gatewayIP}/${podLen} dev ${box.gatewayIf}`,
    `ip link set ${box.gatewayIf} up`,
    ...txOffCommands(['br-phy', box.gatewayIf]),
  ]);
  await store.update(() => void (findBox(store, boxName).phase = 'ready'));
}
