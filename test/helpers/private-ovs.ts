// A private OVS instance for a test, in its own network namespace: the userspace datapath
// creates persistent tap devices (ovs-netdev, one per internal port) that would collide with
// any other OVS in the same namespace and outlive vswitchd; deleting the namespace removes them.
import { startOvsInstance, stopOvsInstance, type OvsInstance } from '../../src/lab/ovs-instance.js';
import { readFile } from 'node:fs/promises';
import { run } from '../../src/lib/exec.js';
import { processRef, stopProcesses } from '../../src/lib/process.js';

export async function startPrivateOvs(tag: string): Promise<OvsInstance> {
  const netns = `seine-ovst-${process.pid}-${tag}`;
  await run('ip', ['netns', 'add', netns]);
  try {
    await run('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
    return await startOvsInstance(`/tmp/seine-ovs-test-${process.pid}-${tag}`, netns);
  } catch (err) {
    await run('ip', ['netns', 'del', netns], { allowFailure: true });
    throw err;
  }
}

export async function stopPrivateOvs(inst: OvsInstance): Promise<void> {
  await stopOvsInstance(inst);
  if (inst.netns) await run('ip', ['netns', 'del', inst.netns], { allowFailure: true });
}

/** Kills ovs-vswitchd and starts it again on the same database (the bridge comes back empty). */
export async function restartVswitchd(inst: OvsInstance): Promise<void> {
  await stopProcesses([inst.vswitchd]);
  const args = [
    `unix:${inst.dbSocket}`, `--pidfile=${inst.dir}/ovs-vswitchd.pid`, `--unixctl=${inst.vswitchdCtl}`,
    '--detach', `--log-file=${inst.dir}/ovs-vswitchd.log`,
  ];
  await (inst.netns ? run('ip', ['netns', 'exec', inst.netns, 'ovs-vswitchd', ...args], { env: inst.env }) : run('ovs-vswitchd', args, { env: inst.env }));
  inst.vswitchd = processRef(Number((await readFile(`${inst.dir}/ovs-vswitchd.pid`, 'utf8')).trim()));
}
