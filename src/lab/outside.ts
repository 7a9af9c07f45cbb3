// The lab's outside namespace: a host beyond the underlay router (its own subnet, routed by the
// underlay namespace), so traffic from the boxes to it leaves "the cluster" as it would leave a
// site: pods reach it through their box (masqueraded to the box IP, or SNATed to an Egress IP),
// and it reaches the boxes' underlay addresses (NodePorts). It runs the outside server
// (outside-server.ts), which records the source address of every connection, and the lab's DNS
// server (outside-dns.ts: dnsmasq for the `*.seine.test` names, on its extra addresses).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { distProgram } from '../lib/paths.js';
import { run } from '../lib/exec.js';
import { addNetns } from './netns.js';
import { inNetns, txOffCommands } from './ovs-box.js';
import { lastLogLine, spawnDetached, waitStarted } from './lab-processes.js';
import { parseConnectionLog, type OutsideConnection } from './outside-server.js';
import type { BuildContext } from './box.js';
import { extraAddressCommands, startOutsideDns } from './outside-dns.js';
import type { OutsideState, ProcessRecord } from './state.js';

export const OUTSIDE_ROLE = 'outside-server';
/** The outside subnet: .1 is the underlay router's leg, .10 the outside host. */
export const OUTSIDE_SUBNET = '172.31.254';
export const OUTSIDE_IP = `${OUTSIDE_SUBNET}.10`;
export const OUTSIDE_ROUTER = `${OUTSIDE_SUBNET}.1`;
export const OUTSIDE_PREFIX = 24;
/** TCP and UDP port of the outside server. */
export const OUTSIDE_PORT = 8080;
/** The outside host's end of its link (alone in its namespace). */
const OUTSIDE_IF = 'eth0';

export function outsideState(labDir: string, netns: string, routerPort: string): OutsideState {
  return {
    netns,
    ip: OUTSIDE_IP,
    router: OUTSIDE_ROUTER,
    routerPort,
    port: OUTSIDE_PORT,
    connectionsLog: path.join(labDir, 'outside-connections.log'),
    created: false,
  };
}

/** Namespace, link to the underlay router, addresses and routes; then the server, waited for. */
export async function createOutside({ env, store, names }: BuildContext): Promise<void> {
  const o = store.state.outside!;
  await addNetns(o.netns, env, () => store.update((s) => void (s.outside!.created = true)));
  const ul = names.underlayNetns;
  await run('ip', ['-n', ul, 'link', 'add', o.routerPort, 'type', 'veth', 'peer', 'name', OUTSIDE_IF, 'netns', o.netns], { env });
  await inNetns(ul, env, [
    `ip addr add ${o.router}/${OUTSIDE_PREFIX} dev ${o.routerPort}`,
    `ip link set ${o.routerPort} up`,
    ...txOffCommands([o.routerPort]),
  ]);
  await inNetns(o.netns, env, [
    `ip addr add ${o.ip}/${OUTSIDE_PREFIX} dev ${OUTSIDE_IF}`,
    ...extraAddressCommands(OUTSIDE_SUBNET, OUTSIDE_PREFIX, OUTSIDE_IF),
    `ip link set ${OUTSIDE_IF} up`,
    `ip route add default via ${o.router}`,
    ...txOffCommands([OUTSIDE_IF]),
  ]);
  await startOutsideProcess(store, env);
  await startOutsideDns({ env, store }, OUTSIDE_SUBNET);
}

async function startOutsideProcess(store: BuildContext['store'], env: NodeJS.ProcessEnv): Promise<ProcessRecord> {
  const o = store.state.outside!;
  const logFile = path.join(path.dirname(store.file), `${OUTSIDE_ROLE}.log`);
  const args = [distProgram('cli/seine.js'), 'lab', 'outside', 'serve', '--port', String(o.port), '--log', o.connectionsLog];
  const ref = spawnDetached({ command: process.execPath, args, netns: o.netns, env, logFile });
  const record: ProcessRecord = { role: OUTSIDE_ROLE, ...ref, command: ['node', ...args].join(' '), logFile };
  await store.update((s) => void s.processes.push(record));
  const listening = async () => (await run('ip', ['netns', 'exec', o.netns, 'ss', '-Htln', `sport = :${o.port}`], { allowFailure: true })).stdout.trim() !== '';
  await waitStarted('the outside server', record, listening, () => lastLogLine(logFile), 15_000);
  return record;
}

/** Every connection the outside server has seen, oldest first. */
export async function readOutsideConnections(o: Pick<OutsideState, 'connectionsLog'>): Promise<OutsideConnection[]> {
  return parseConnectionLog(await readFile(o.connectionsLog, 'utf8').catch(() => ''));
}
