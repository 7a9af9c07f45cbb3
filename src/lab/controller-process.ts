// The lab's controller: `seine controller` on free 127.0.0.1 ports (REST and MQTT) plus a unix
// socket for MQTT, because the agents run in their boxes' network namespaces where the host's
// 127.0.0.1 is out of reach but the file system is shared. Each box gets MQTT credentials,
// kept in its directory so a restarted agent gets them again.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import type { AgentConfigInput, ControllerConfigInput } from '../api/config.js';
import { distProgram } from '../lib/paths.js';
import { lastLogLine, spawnDetached, waitStarted } from './lab-processes.js';
import type { BoxState, ProcessRecord, StateStore } from './state.js';
import { freePort } from '../lib/free-port.js';
import { ensureLabReleaseKeys, labReleaseKeys, labRestSocket } from './ota.js';

export const CONTROLLER_ROLE = 'controller';

export function controllerFiles(labDir: string) {
  return {
    config: path.join(labDir, 'controller.yaml'),
    store: path.join(labDir, 'controller', 'seine.db'),
    mqttSocket: path.join(labDir, 'mqtt.sock'),
    log: path.join(labDir, 'controller.log'),
  };
}

/** Where a box's agent finds its controller section (written by the lab, read by startAgent). */
export const boxControllerFile = (box: Pick<BoxState, 'ovsDir'>) => path.join(box.ovsDir, 'agent-controller.json');


/** Starts the controller and waits for /healthz; the process is recorded before anything waits. */
export async function startController(store: StateStore, env: NodeJS.ProcessEnv): Promise<{ url: string; process: ProcessRecord }> {
  const labDir = path.dirname(store.file);
  const f = controllerFiles(labDir);
  await mkdir(path.dirname(f.store), { recursive: true });
  const [restPort, mqttPort] = [await freePort(), await freePort()];
  // The lab's release key (every lab has one): the controller checks uploads against it.
  await ensureLabReleaseKeys(labDir);
  const cfg: ControllerConfigInput = {
    listen: `127.0.0.1:${restPort}`, brokerListen: `127.0.0.1:${mqttPort}`, brokerSocket: f.mqttSocket, storePath: f.store, restSocket: labRestSocket(labDir),
    releaseKeys: [labReleaseKeys(labDir).publicKey],
  };
  await writeFile(f.config, stringify(cfg));
  return spawnController(store, env, `http://127.0.0.1:${restPort}`);
}

/** Starts `seine controller` with the lab's config file as it is (a restart keeps ports, socket and store). */
export async function spawnController(store: StateStore, env: NodeJS.ProcessEnv, url: string): Promise<{ url: string; process: ProcessRecord }> {
  const f = controllerFiles(path.dirname(store.file));
  const args = [distProgram('cli/seine.js'), 'controller', '--config', f.config];
  const ref = spawnDetached({ command: process.execPath, args, env, logFile: f.log });
  const record: ProcessRecord = { role: CONTROLLER_ROLE, ...ref, command: ['node', ...args].join(' '), logFile: f.log };
  await store.update((s) => {
    s.processes.push(record);
    s.controller = { url, process: record };
  });
  const healthy = () => fetch(`${url}/healthz`).then((r) => r.ok, () => false);
  await waitStarted('the controller', record, healthy, async () => `${await lastLogLine(f.log)} (log: ${f.log})`, 20_000);
  return { url, process: record };
}

/** Creates the box's MQTT credentials through the REST API and keeps the agent's controller section. */
export async function provisionBox(controllerUrl: string, labDir: string, box: BoxState): Promise<void> {
  const res = await fetch(`${controllerUrl}/api/v1/nodes/${box.name}/credentials`, { method: 'POST' });
  if (!res.ok) throw new Error(`${box.name}: creating MQTT credentials failed: HTTP ${res.status} ${await res.text()}`);
  const credentials = (await res.json()) as { username: string; password: string };
  // Stats every 2 s (30 s on boxes): the lab is where people watch counters move.
  const section: NonNullable<AgentConfigInput['controller']> = { url: `mqtt+unix://${controllerFiles(labDir).mqttSocket}`, credentials, statsIntervalSeconds: 2 };
  await writeFile(boxControllerFile(box), JSON.stringify(section), { mode: 0o600 });
}

export async function readBoxControllerSection(box: BoxState): Promise<AgentConfigInput['controller'] | undefined> {
  const text = await readFile(boxControllerFile(box), 'utf8').catch(() => undefined);
  return text ? (JSON.parse(text) as AgentConfigInput['controller']) : undefined;
}
