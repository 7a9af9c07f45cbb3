// Commands addressed to one box: its private OVS (ovs-vsctl over the box's db socket) and its
// network namespace.
import { run, type RunResult } from '../lib/exec.js';
import { ovsEnv } from './ovs-instance.js';
import type { BoxState } from './state.js';

/** ovs-vsctl against the box's ovsdb; bounded wait so a dead ovs-vswitchd fails fast. */
export function vsctl(box: Pick<BoxState, 'ovsDir'>, env: NodeJS.ProcessEnv, args: string[]): Promise<RunResult> {
  return run('ovs-vsctl', [`--db=unix:${box.ovsDir}/db.sock`, '--timeout=10', ...args], { env: ovsEnv(box.ovsDir, env) });
}

/** Several `ip` commands in one namespace with one process. */
export function ipBatch(netns: string, env: NodeJS.ProcessEnv, lines: string[]): Promise<RunResult> {
  return run('ip', ['-n', netns, '-batch', '-'], { env, input: lines.join('\n') + '\n' });
}

/**
 * Turn off TX checksum offload: with it on, TCP reaches the userspace datapath with partial
 * checksums, conntrack marks it invalid and TCP stalls while ping works (ovs-lab.md).
 */
export const txOffCommands = (devices: string[]) => devices.map((d) => `ethtool -K ${d} tx off >/dev/null`);

export function txOff(netns: string, env: NodeJS.ProcessEnv, devices: string[]): Promise<RunResult> {
  return inNetns(netns, env, txOffCommands(devices));
}

/** Shell commands run in order in a namespace, stopping at the first failure, with one process. */
export function inNetns(netns: string, env: NodeJS.ProcessEnv, commands: string[]): Promise<RunResult> {
  return run('ip', ['netns', 'exec', netns, 'sh', '-ec', commands.join('\n')], { env });
}
