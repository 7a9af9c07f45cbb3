// The lab's controller: `seine controller` on free 127.0.0.1 ports with the secure defaults, like
// any controller: its own CA and server certificate in <lab>/controller/pki, HTTPS REST, MQTTS,
// and the admin file <lab>/controller/seinectl.yaml that seinectl finds by itself. The agents run
// in their boxes' network namespaces where the host's 127.0.0.1 is out of reach but the file
// system is shared: they reach the broker over TLS on a unix socket (mqtts+unix://), each with a
// node certificate (CN = box name) it got by enrolling with a join token, as a real box does.
// Box files are kept in the box's directory so a restarted agent finds them.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import { SeinectlConfigSchema, type AgentConfigInput, type ControllerConfigInput } from '../api/config.js';
import { loadConfigFile } from '../api/config-file.js';
import type { JoinTokenResponse } from '../api/enrollment.js';
import { RestClient } from '../controller/client/rest-client.js';
import { hashToken } from '../controller/rest/auth.js';
import { distProgram } from '../lib/paths.js';
import { lastLogLine, spawnDetached, waitStarted } from './lab-processes.js';
import type { BoxState, ProcessRecord } from './state.js';
import type { StateStore } from './state-store.js';
import { freePort } from '../lib/free-port.js';
import { ensureLabReleaseKeys, labReleaseKeys, labRestSocket } from './ota.js';
import { labAdminFile } from './names.js';

export const CONTROLLER_ROLE = 'controller';

export function controllerFiles(labDir: string) {
  const dir = path.join(labDir, 'controller');
  return {
    config: path.join(labDir, 'controller.yaml'),
    store: path.join(dir, 'seine.db'),
    mqttSocket: path.join(labDir, 'mqtt.sock'),
    log: path.join(labDir, 'controller.log'),
    /** The controller's own PKI (pkiDir's default beside the store). */
    pkiDir: path.join(dir, 'pki'),
    caFile: path.join(dir, 'pki', 'ca.crt'),
    /** seinectl's config for this controller (written by the controller). */
    adminFile: labAdminFile(labDir),
    /** A read-only REST token for the OTA boxes' release downloads (the config holds its hash). */
    downloadToken: path.join(dir, 'download.token'),
  };
}

/** Where a box's agent finds its controller section (written by the lab, read by startAgent). */
export const boxControllerFile = (box: Pick<BoxState, 'ovsDir'>) => path.join(box.ovsDir, 'agent-controller.json');

/** The read-only token OTA boxes download releases with (made with the lab's controller config). */
export async function labDownloadToken(labDir: string): Promise<string> {
  return (await readFile(controllerFiles(labDir).downloadToken, 'utf8')).trim();
}

/** Starts the controller and waits for /healthz; the process is recorded before anything waits. */
export async function startController(store: StateStore, env: NodeJS.ProcessEnv): Promise<{ url: string; process: ProcessRecord }> {
  const labDir = path.dirname(store.file);
  const f = controllerFiles(labDir);
  await mkdir(path.dirname(f.store), { recursive: true });
  const [restPort, mqttPort] = [await freePort(), await freePort()];
  const downloadToken = randomBytes(24).toString('base64url');
  await writeFile(f.downloadToken, `${downloadToken}\n`, { mode: 0o600 });
  // The lab's release key (every lab has one): the controller checks uploads against it.
  await ensureLabReleaseKeys(labDir);
  const cfg: ControllerConfigInput = {
    listen: `127.0.0.1:${restPort}`, brokerListen: `127.0.0.1:${mqttPort}`, brokerSocket: f.mqttSocket, storePath: f.store, restSocket: labRestSocket(labDir),
    // Admin tokens are left out: the controller makes one and writes the admin file.
    auth: { readOnlyTokens: [hashToken(downloadToken)] },
    releaseKeys: [labReleaseKeys(labDir).publicKey],
  };
  await writeFile(f.config, stringify(cfg));
  return spawnController(store, env, `https://127.0.0.1:${restPort}`, `mqtts://127.0.0.1:${mqttPort}`);
}

/** Starts `seine controller` with the lab's config file as it is (a restart keeps ports, socket, store and PKI). */
export async function spawnController(store: StateStore, env: NodeJS.ProcessEnv, url: string, mqttUrl?: string): Promise<{ url: string; process: ProcessRecord }> {
  const f = controllerFiles(path.dirname(store.file));
  const args = [distProgram('cli/seine.js'), 'controller', '--config', f.config];
  const ref = spawnDetached({ command: process.execPath, args, env, logFile: f.log });
  const record: ProcessRecord = { role: CONTROLLER_ROLE, ...ref, command: ['node', ...args].join(' '), logFile: f.log };
  await store.update((s) => {
    s.processes.push(record);
    s.controller = { url, ...(mqttUrl ? { mqttUrl } : {}), adminFile: f.adminFile, process: record };
  });
  // Healthy once /healthz answers over HTTPS with the CA it made (and the admin file is written).
  const healthy = async () => {
    const ca = await readFile(f.caFile).catch(() => undefined);
    if (!ca || !(await readFile(f.adminFile).then(() => true, () => false))) return false;
    return new RestClient(url, { ca, timeoutMs: 2000 }).request('GET', '/healthz').then(() => true, () => false);
  };
  await waitStarted('the controller', record, healthy, async () => `${await lastLogLine(f.log)} (log: ${f.log})`, 20_000);
  return { url, process: record };
}

/**
 * Registers the box as `seinectl node add` does (the controller runs): a one-time join token and
 * the CA fingerprint go into the agent's controller section, and the agent enrolls at its first
 * start over the REST socket (its key is made in its state dir and never leaves it), then
 * renews its certificate by itself. MQTT is TLS over the broker's socket.
 */
export async function provisionBox(labDir: string, box: BoxState): Promise<void> {
  const f = controllerFiles(labDir);
  const admin = await loadConfigFile(f.adminFile, SeinectlConfigSchema);
  const rest = new RestClient(admin.server!, { token: admin.token, ca: await readFile(f.caFile), timeoutMs: 10_000 });
  const join = await rest.request<JoinTokenResponse>('POST', `/api/v1/nodes/${box.name}/join-token`, JSON.stringify({ ttlSeconds: 3600 }), { 'content-type': 'application/json' });
  // Stats every 2 s (30 s on boxes): the lab is where people watch counters move.
  const section: NonNullable<AgentConfigInput['controller']> = {
    url: `mqtts+unix://${f.mqttSocket}`,
    enrollment: { server: 'https://localhost', serverSocket: labRestSocket(labDir), token: join.token, caFingerprint: join.caFingerprint },
    statsIntervalSeconds: 2,
  };
  await writeFile(boxControllerFile(box), JSON.stringify(section), { mode: 0o600 });
}

export async function readBoxControllerSection(box: BoxState): Promise<AgentConfigInput['controller'] | undefined> {
  const text = await readFile(boxControllerFile(box), 'utf8').catch(() => undefined);
  return text ? (JSON.parse(text) as AgentConfigInput['controller']) : undefined;
}
