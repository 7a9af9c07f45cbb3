// Named network namespaces (`ip netns`), the unit of isolation for the underlay, boxes and pods.
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { run } from '../lib/exec.js';

const NETNS_DIR = '/run/netns';

export const netnsExists = (name: string) => existsSync(`${NETNS_DIR}/${name}`);

/**
 * Create a namespace with loopback up. Refuses a name that exists (it is not ours to reuse or,
 * later, delete); `record` runs between that check and the creation, so the lab state names
 * the namespace before it exists.
 */
export async function addNetns(name: string, env: NodeJS.ProcessEnv | undefined, record: () => Promise<void>): Promise<void> {
  if (netnsExists(name)) throw new Error(`network namespace ${name} already exists (left over from another lab?)`);
  await record();
  await run('ip', ['netns', 'add', name], { env });
  await run('ip', ['-n', name, 'link', 'set', 'lo', 'up'], { env });
}

/** Delete those of the named namespaces that exist, in one `ip -batch` call. */
export async function deleteNetns(names: string[]): Promise<void> {
  const existing = [...new Set(names)].filter(netnsExists);
  if (existing.length === 0) return;
  await run('ip', ['-force', '-batch', '-'], { input: existing.map((n) => `netns del ${n}\n`).join(''), allowFailure: true });
  const left = existing.filter(netnsExists);
  if (left.length) throw new Error(`could not delete network namespaces: ${left.join(', ')}`);
}

export async function listNetns(prefix = ''): Promise<string[]> {
  try {
    return (await readdir(NETNS_DIR)).filter((n) => n.startsWith(prefix)).sort();
  } catch {
    return [];
  }
}
