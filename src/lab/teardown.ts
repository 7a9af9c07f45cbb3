// Removing a lab: stop what it started, delete the namespaces it created, remove its files.
// Driven only by the state (plus the owner mark on processes), so it never touches anything
// the lab did not create, and it works on any half-built lab a killed `lab up` left behind.
import { readdir, rm, rmdir } from 'node:fs/promises';
import path from 'node:path';
import { isRunning, stopProcesses, type ProcessRef } from '../lib/process.js';
import { inventoryPath } from './inventory-file.js';
import { agentFiles } from './agent-process.js';
import { stopUserspace } from '../agent/wireguard/userspace.js';
import { controllerFiles } from './controller-process.js';
import { nodeRedFiles } from './node-red-process.js';
import { findOwnedProcesses } from './lab-processes.js';
import { deleteNetns } from './netns.js';
import { runtimeLabFiles } from './containerd-process.js';
import { labReleaseKeys } from './ota.js';
import { isShim, removeAllSandboxes, stopSandboxProcesses, unmountContainerd } from './containerd-teardown.js';
import type { LabNames } from './names.js';
import type { LabState } from './state.js';

const isOvs = (role: string) => role === 'ovs-vswitchd' || role === 'ovsdb-server';
const refOf = ({ pid, start }: ProcessRef): ProcessRef => ({ pid, start });

export async function teardown(names: LabNames, state: LabState | undefined): Promise<void> {
  if (state) {
    // Sandboxes first, through CRI, while containerd and the agents still run (runtime containerd).
    await removeAllSandboxes(state.boxes);
    const boxProcs = state.boxes.flatMap((b) => b.processes);
    // Agents and lab-wide services first (they talk to OVS), then the OVS daemons.
    await stopProcesses([...state.processes, ...boxProcs.filter((p) => !isOvs(p.role))].map(refOf).filter(isRunning));
    await stopProcesses(boxProcs.filter((p) => isOvs(p.role)).map(refOf).filter(isRunning));
    // A wireguard-go an agent started itself (no device from the lab): recorded in its state dir.
    await Promise.all(state.boxes.map((b) => stopUserspace(agentFiles(b).stateDir)));
  }
  // Anything started but never recorded (lab up killed between spawn and save).
  for (let round = 0; round < 5; round++) {
    const stragglers = await findOwnedProcesses(names.dir);
    if (stragglers.length === 0) break;
    await stopSandboxProcesses(stragglers.filter(isShim));
    await stopProcesses(stragglers, 500);
  }
  if (state) {
    await unmountContainerd(state.boxes);
    await deleteNetns([
      ...state.pods.map((p) => p.netns),
      ...state.boxes.map((b) => b.netns),
      ...(state.underlay.created ? [state.underlay.netns] : []),
      ...(state.outside?.created ? [state.outside.netns] : []),
    ]);
    const files = [
      ...state.boxes.map((b) => b.ovsDir),
      ...(state.outside ? [state.outside.connectionsLog] : []),
      ...[...state.processes, ...state.boxes.flatMap((b) => b.processes)].map((p) => p.logFile).filter((f): f is string => !!f),
    ];
    await Promise.all(files.map((f) => rm(f, { recursive: true, force: true })));
  }
  await removeLabFiles(names);
}

/** The lab's own files, then the directories if that leaves them empty. */
async function removeLabFiles(names: LabNames): Promise<void> {
  const files = [names.stateFile, inventoryPath(names.dir)];
  const bases = files.map((f) => path.basename(f));
  let entries: string[] = [];
  try {
    entries = await readdir(names.dir);
  } catch {
    return;
  }
  const temps = entries.filter((e) => bases.some((b) => e.startsWith(`${b}.`)) && e.endsWith('.tmp')).map((e) => path.join(names.dir, e));
  await Promise.all([...files, ...temps].map((f) => rm(f, { force: true })));
  // The controller's config, store and MQTT socket (controller-process.ts).
  const controller = controllerFiles(names.dir);
  await Promise.all([controller.config, path.dirname(controller.store), controller.mqttSocket].map((f) => rm(f, { recursive: true, force: true })));
  // Node-RED's user dir: settings, flows, the link to the nodes (node-red-process.ts).
  await rm(nodeRedFiles(names.dir).userDir, { recursive: true, force: true });
  // runtime containerd: the CNI bin dir with `seine` and the sandbox image archive.
  const runtime = runtimeLabFiles(names.dir);
  await Promise.all([runtime.cniBinDir, runtime.image].map((f) => rm(f, { recursive: true, force: true })));
  // The lab's release key pair (ota.ts), made once per lab.
  await rm(labReleaseKeys(names.dir).dir, { recursive: true, force: true });
  await rmdir(path.join(names.dir, 'boxes')).catch(() => undefined);
  // The lock file goes last: removing it while we hold it makes waiters start over.
  await rm(names.lockFile, { force: true });
  await rmdir(names.dir).catch(() => undefined);
}
