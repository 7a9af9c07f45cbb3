// The lab's boxes with `--encryption wireguard`: the kernel here has no WireGuard, so each box
// gets a wireguard-go (foreground, one per box namespace, recorded and stopped by PID like every
// lab process) before its agent starts; the agent adopts the device. The lab also plays the
// Kubernetes API's part for keys: after an agent is ready it copies the public key the agent
// published into the box's Node annotation (Antrea's node.antrea.io/wireguard-public-key).
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { WireGuardKeySchema } from '../api/wireguard.js';
import { publicKeyFile } from '../agent/wireguard/index.js';
import { uapiSocket } from '../agent/wireguard/uapi.js';
import { agentFiles } from './agent-process.js';
import { lastLogLine, spawnDetached, waitStarted } from './lab-processes.js';
import type { BoxState, ProcessRecord } from './state.js';
import type { StateStore } from './state-store.js';

export const WIREGUARD_ROLE = 'wireguard-go';

/** Starts the box's wireguard-go; resolves when its UAPI socket answers to the file system. */
export async function startWireGuardGo(store: StateStore, box: BoxState, env: NodeJS.ProcessEnv): Promise<ProcessRecord> {
  const dev = box.wireGuardDevice;
  if (!dev) throw new Error(`${box.name} has no WireGuard device name`);
  const logFile = path.join(box.ovsDir, 'wireguard-go.log');
  const args = ['-f', dev];
  const ref = spawnDetached({ command: 'wireguard-go', args, netns: box.netns, env, logFile });
  const record: ProcessRecord = { role: WIREGUARD_ROLE, ...ref, command: ['wireguard-go', ...args].join(' '), logFile };
  await store.update((s) => void s.boxes.find((b) => b.name === box.name)!.processes.push(record));
  await waitStarted(`${box.name}: wireguard-go`, record, async () => existsSync(uapiSocket(dev)), () => lastLogLine(logFile), 10_000);
  return record;
}

/** Copies the agent's public key into the box state, hence its Node's annotation in the inventory. */
export async function publishWireGuardKey(store: StateStore, boxName: string): Promise<string> {
  const box = store.state.boxes.find((b) => b.name === boxName)!;
  const file = publicKeyFile(agentFiles(box).stateDir);
  const key = WireGuardKeySchema.parse((await readFile(file, 'utf8')).trim(), { path: [file] } as never);
  if (box.wireGuardPublicKey !== key) await store.update(() => void (box.wireGuardPublicKey = key));
  return key;
}
