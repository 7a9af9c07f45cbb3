// Pods get their network exactly as on a k3s box: the lab plays containerd. It creates the
// pod's network namespace, then runs the real seine-cni binary with the CNI environment and
// the network config from the conf list the box's agent wrote (name and cniVersion injected
// into the plugin entry, as libcni does). The agent does the work.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { run } from '../lib/exec.js';
import { distProgram } from '../lib/paths.js';
import { CONF_LIST_NAME } from '../agent/cni/conf-file.js';
import type { BoxState, PodState } from './state.js';
import { agentFiles } from './agent-process.js';

export interface PodAttachment {
  ip: string;
  mac: string;
  /** Interface name inside the pod. */
  ifname: string;
  /** The pod's veth peer in the box namespace, a port of br-int. */
  hostIfname: string;
}

const IFNAME = 'eth0';

interface CniResult {
  interfaces?: { name: string; mac?: string; sandbox?: string }[];
  ips?: { address: string; interface?: number }[];
}

export class CniPodAttacher {
  constructor(private readonly env: NodeJS.ProcessEnv) {}

  async attach(box: BoxState, pod: PodState): Promise<PodAttachment> {
    const result = JSON.parse(await this.call('ADD', box, pod)) as CniResult;
    const ip = result.ips?.[0];
    const podIf = ip?.interface !== undefined ? result.interfaces?.[ip.interface] : undefined;
    const hostIf = result.interfaces?.find((i) => !i.sandbox);
    if (!ip || !podIf?.mac || !hostIf) throw new Error(`seine-cni ADD for ${pod.namespace}/${pod.name} returned an incomplete result`);
    return { ip: ip.address.split('/')[0], mac: podIf.mac, ifname: IFNAME, hostIfname: hostIf.name };
  }

  /** DEL is idempotent in the agent; it also cleans up a half-attached pod. */
  async detach(box: BoxState, pod: PodState): Promise<void> {
    await this.call('DEL', box, pod);
  }

  private async call(command: 'ADD' | 'DEL', box: BoxState, pod: PodState): Promise<string> {
    const env = {
      ...this.env,
      CNI_COMMAND: command,
      CNI_CONTAINERID: pod.sandboxId,
      CNI_NETNS: `/var/run/netns/${pod.netns}`,
      CNI_IFNAME: IFNAME,
      CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=${pod.namespace};K8S_POD_NAME=${pod.name};K8S_POD_INFRA_CONTAINER_ID=${pod.sandboxId}`,
      CNI_PATH: path.dirname(distProgram('cni/main.js')),
    };
    const config = await pluginConfig(box);
    const res = await run(process.execPath, [distProgram('cni/main.js')], { env, input: JSON.stringify(config), allowFailure: true });
    if (res.code !== 0) {
      let msg = res.stdout.trim() || res.stderr.trim();
      try {
        const e = JSON.parse(res.stdout) as { code: number; msg: string; details?: string };
        msg = `${e.msg}${e.details ? ` (${e.details})` : ''} [CNI error ${e.code}]`;
      } catch {
        /* not a CNI error document */
      }
      throw new Error(`seine-cni ${command} ${pod.namespace}/${pod.name} on ${box.name}: ${msg}`);
    }
    return res.stdout;
  }
}

/** The first plugin of the box's conf list, with the list's name and cniVersion, as libcni passes it. */
async function pluginConfig(box: BoxState): Promise<Record<string, unknown>> {
  const file = path.join(agentFiles(box).cniConfDir, CONF_LIST_NAME);
  const list = JSON.parse(await readFile(file, 'utf8')) as { name: string; cniVersion: string; plugins: Record<string, unknown>[] };
  return { ...list.plugins[0], name: list.name, cniVersion: list.cniVersion };
}
