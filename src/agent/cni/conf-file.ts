// The CNI network config list the container runtime reads. On k3s it goes to
// /var/lib/rancher/k3s/agent/etc/cni/net.d (not /etc/cni/net.d). Written atomically, and
// only when its content changes, so the runtime never reads half a file (durably: not an empty one
// after a power cut either).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { cniPluginType, cniSpecVersion } from '../../api/cni.js';
import { writeFileDurable } from '../../lib/files.js';

export const CONF_LIST_NAME = '10-seine.conflist';

export function cniConfList(agentSocket: string, mtu?: number): object {
  return {
    cniVersion: cniSpecVersion,
    name: 'seine',
    plugins: [{ type: cniPluginType, agentSocket, ...(mtu ? { mtu } : {}) }],
  };
}

/** Returns true when the file was (re)written. */
export async function writeCniConfList(dir: string, agentSocket: string, mtu?: number): Promise<boolean> {
  const file = path.join(dir, CONF_LIST_NAME);
  const text = JSON.stringify(cniConfList(agentSocket, mtu), null, 2) + '\n';
  const current = await readFile(file, 'utf8').catch(() => undefined);
  if (current === text) return false;
  // Durable too: an empty conf list after a power cut would leave k3s without pod networking.
  await writeFileDurable(file, text, 0o644);
  return true;
}
