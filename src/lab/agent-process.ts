// One Seine agent per box, as on a real box: the lab writes its config (userspace datapath,
// the box's private OVS, the lab's inventory file), starts `seine agent` in the box's
// namespace, and waits until the agent has written its CNI conf list — its last start-up step.
import { access, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import path from 'node:path';
import { stringify } from 'yaml';
import type { AgentConfigInput } from '../api/config.js';
import { CONF_LIST_NAME } from '../agent/cni/conf-file.js';
import { distProgram } from '../lib/paths.js';
import { AGENT_NODE_ENV, AGENT_NODE_FLAGS } from '../lib/small-box.js';
import { agentTrafficMode } from './encap.js';
import { inventoryPath } from './inventory-file.js';
import { controllerFiles, labDownloadToken, readBoxControllerSection } from './controller-process.js';
import { lastLogLine, spawnDetached, waitStarted } from './lab-processes.js';
import type { BoxState, ProcessRecord } from './state.js';
import type { StateStore } from './state-store.js';
import { launcherArgs, OTA_HEALTH_DEADLINE_SECONDS, otaUpdateConfig, type OtaUpdateOverrides } from './ota.js';

export const AGENT_ROLE = 'agent';
/** Antrea's agent API port; the lab's agents serve /metrics and /flows on 127.0.0.1 of their box namespace. */
export const AGENT_API_PORT = 10350;

export function agentFiles(box: Pick<BoxState, 'ovsDir'>) {
  const dir = box.ovsDir;
  return {
    config: path.join(dir, 'agent.yaml'),
    stateDir: path.join(dir, 'agent'),
    cniSocket: path.join(dir, 'cni.sock'),
    cniConfDir: path.join(dir, 'net.d'),
    log: path.join(dir, 'agent.log'),
  };
}

export function agentConfig(box: BoxState, labDir: string): AgentConfigInput {
  const f = agentFiles(box);
  return {
    nodeName: box.name,
    datapathType: 'netdev',
    ...agentTrafficMode(box.encap),
    ...(box.wireGuardDevice ? { trafficEncryptionMode: 'wireGuard' as const, wireGuard: { interfaceName: box.wireGuardDevice } } : {}),
    podCIDR: box.podCIDR,
    stateDir: f.stateDir,
    cniSocket: f.cniSocket,
    cniConfDir: f.cniConfDir,
    ovsdbRemote: `unix:${path.join(box.ovsDir, 'db.sock')}`,
    ovsRunDir: box.ovsDir,
    inventory: { source: 'file', path: inventoryPath(labDir) },
    // Each box is its own network namespace: every agent can take Antrea's agent API port there.
    apiListen: `127.0.0.1:${AGENT_API_PORT}`,
  };
}

/** Writes the config and starts the agent; the process is recorded before anything waits on it. */
export async function startAgent(store: StateStore, box: BoxState, env: NodeJS.ProcessEnv, update: OtaUpdateOverrides = {}): Promise<ProcessRecord> {
  const f = agentFiles(box);
  const controller = await readBoxControllerSection(box);
  const labDir = path.dirname(store.file);
  const download = box.ota ? { token: await labDownloadToken(labDir), caFile: controllerFiles(labDir).caFile } : undefined;
  const ota = download ? otaUpdateConfig(box, labDir, download, update) : undefined;
  await writeFile(f.config, stringify({ ...agentConfig(box, labDir), ...(controller ? { controller } : {}), ...(ota ? { update: ota } : {}) }), { mode: 0o600 });
  // OTA boxes: the launcher runs <box>/seine/current, restarts it and rolls it back, as on a box.
  // Node runs with the box's settings (src/lib/small-box.ts), the launcher too, as the systemd unit starts it.
  const args = box.ota
    ? [...AGENT_NODE_FLAGS, ...launcherArgs(box, f.config, OTA_HEALTH_DEADLINE_SECONDS)]
    : [...AGENT_NODE_FLAGS, distProgram('cli/seine.js'), 'agent', '--config', f.config];
  const ref = spawnDetached({ command: process.execPath, args, netns: box.netns, env: { ...AGENT_NODE_ENV, ...env }, logFile: f.log });
  const record: ProcessRecord = { role: AGENT_ROLE, ...ref, command: ['node', ...args].join(' '), logFile: f.log };
  await store.update((s) => void s.boxes.find((b) => b.name === box.name)!.processes.push(record));
  return record;
}

/**
 * Ready when the CNI socket answers (the agent opens it after converging the datapath) and the
 * conf list is there. A restarted agent's old socket file refuses connections until then.
 */
export async function waitAgentReady(box: BoxState, agent: ProcessRecord, timeoutMs = 30_000): Promise<void> {
  const f = agentFiles(box);
  const confList = path.join(f.cniConfDir, CONF_LIST_NAME);
  const ready = async () => (await socketAnswers(f.cniSocket)) && (await access(confList).then(() => true, () => false));
  await waitStarted(`${box.name}: the agent`, agent, ready, () => lastLogLine(agent.logFile), timeoutMs);
}

function socketAnswers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection(socketPath);
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

/** The agent's last error (or last line) from its JSON log, for a one-line message. */
