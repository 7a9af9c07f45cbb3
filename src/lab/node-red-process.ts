// The lab's Node-RED (4.1.x, the project's own dependency) with the Seine nodes installed: a
// user dir in the lab dir whose node_modules links to the repo's nodes/ package, settings that
// keep it on 127.0.0.1 and off the internet, and a first flow holding a seine-controller that
// points at the lab's controller (through SEINE_CONTROLLER_URL, as the examples do). FlowFuse's
// Dashboard 2.0 is linked in too, for the top-talkers example.
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { parse } from 'yaml';
import { SeinectlConfigSchema } from '../api/config.js';
import { freePort } from '../lib/free-port.js';
import { projectRoot } from '../lib/paths.js';
import { lastLogLine, spawnDetached, waitStarted } from './lab-processes.js';
import type { ProcessRecord } from './state.js';
import type { StateStore } from './state-store.js';

export const NODE_RED_ROLE = 'node-red';
/** The id of the lab's seine-controller config node (the examples use it). Not "seine-controller": Node-RED
 * would take the node's own type for a reference to itself (a circular config dependency). */
export const LAB_CONTROLLER_NODE_ID = 'seine-lab-controller';
export const NODE_RED_PACKAGE = 'node-red-contrib-seine';
export const DASHBOARD_PACKAGE = '@flowfuse/node-red-dashboard';

export function nodeRedFiles(labDir: string) {
  const userDir = path.join(labDir, 'node-red');
  return { userDir, settings: path.join(userDir, 'settings.cjs'), flows: path.join(userDir, 'flows.json'), credentials: path.join(userDir, 'flows_cred.json'), log: path.join(labDir, 'node-red.log') };
}

/** Node-RED settings: local only, no telemetry or update checks, no tours, plain credentials file. */
function settingsFile(port: number): string {
  return `// Written by seine lab up.
module.exports = {
  uiHost: '127.0.0.1',
  uiPort: ${port},
  flowFile: 'flows.json',
  // The lab writes the controller's token and CA in flows_cred.json (0600, in the lab dir);
  // a real install sets a credentialSecret (or keeps the generated one).
  credentialSecret: false,
  diagnostics: { enabled: false },
  telemetry: { enabled: false, updateNotification: false },
  externalModules: { palette: { allowInstall: false } },
  editorTheme: { tours: false, palette: { catalogues: [] }, projects: { enabled: false } },
  logging: { console: { level: 'info', metrics: false, audit: false } },
};
`;
}

/** The first flow: a tab that says what the lab holds, and the seine-controller config node. */
export function initialFlows(): unknown[] {
  return [
    { id: 'seine-lab-tab', type: 'tab', label: 'Seine lab', disabled: false, info: 'The Seine lab\'s controller is configured as "lab controller". Import → Examples → node-red-contrib-seine has ready-made flows.' },
    { id: LAB_CONTROLLER_NODE_ID, type: 'seine-controller', name: 'lab controller', url: '${SEINE_CONTROLLER_URL}', timeout: 10 },
    { id: 'seine-lab-comment', type: 'comment', z: 'seine-lab-tab', name: 'Seine lab: Import → Examples → node-red-contrib-seine', info: '', x: 260, y: 60, wires: [] },
  ];
}

/**
 * The lab controller node's credentials (Node-RED keeps them apart from the flows): the admin
 * token and the CA from the controller's admin file, so it talks HTTPS like every client.
 */
async function writeControllerCredentials(file: string, adminFile: string): Promise<void> {
  const admin = SeinectlConfigSchema.parse(parse(await readFile(adminFile, 'utf8')));
  const ca = admin.certificateAuthority ? await readFile(admin.certificateAuthority, 'utf8') : undefined;
  const existing = await readFile(file, 'utf8').then((t) => JSON.parse(t) as Record<string, unknown>, () => ({}));
  await writeFile(file, JSON.stringify({ ...existing, [LAB_CONTROLLER_NODE_ID]: { token: admin.token, ...(ca ? { ca } : {}) } }, null, 2), { mode: 0o600 });
  await chmod(file, 0o600);
}

/** Starts Node-RED for the lab and waits until its editor answers; recorded before waiting. */
export async function startNodeRed(store: StateStore, env: NodeJS.ProcessEnv, controllerUrl: string): Promise<{ url: string; process: ProcessRecord }> {
  const f = nodeRedFiles(path.dirname(store.file));
  await mkdir(path.join(f.userDir, 'node_modules'), { recursive: true });
  const link = path.join(f.userDir, 'node_modules', NODE_RED_PACKAGE);
  if (!existsSync(link)) await symlink(path.join(projectRoot, 'nodes'), link, 'dir');
  // Dashboard 2.0 (a project dependency) for the "top talkers dashboard" example: <url>/dashboard.
  const dashboard = path.join(projectRoot, 'node_modules', DASHBOARD_PACKAGE);
  const dashboardLink = path.join(f.userDir, 'node_modules', DASHBOARD_PACKAGE);
  if (existsSync(dashboard) && !existsSync(dashboardLink)) {
    await mkdir(path.dirname(dashboardLink), { recursive: true });
    await symlink(dashboard, dashboardLink, 'dir');
  }
  if (!existsSync(path.join(projectRoot, 'nodes', 'dist', 'nodes', 'seine-policy.js'))) throw new Error('the Seine Node-RED nodes are not built (npm run build)');
  const port = await freePort();
  await writeFile(f.settings, settingsFile(port));
  if (!existsSync(f.flows)) await writeFile(f.flows, JSON.stringify(initialFlows(), null, 2));
  const adminFile = store.state.controller?.adminFile;
  if (adminFile) await writeControllerCredentials(f.credentials, adminFile);
  const red = createRequire(import.meta.url).resolve('node-red/red.js');
  const args = [red, '--settings', f.settings, '--userDir', f.userDir];
  const ref = spawnDetached({ command: process.execPath, args, env: { ...env, SEINE_CONTROLLER_URL: controllerUrl, NODE_RED_ENABLE_TOURS: 'false' }, logFile: f.log });
  const record: ProcessRecord = { role: NODE_RED_ROLE, ...ref, command: ['node', ...args].join(' '), logFile: f.log };
  const url = `http://127.0.0.1:${port}`;
  await store.update((s) => {
    s.processes.push(record);
    s.nodeRed = { url, process: record };
  });
  const ready = () => fetch(`${url}/nodes`, { headers: { accept: 'application/json' } }).then((r) => r.ok, () => false);
  await waitStarted('Node-RED', record, ready, async () => `${await lastLogLine(f.log)} (log: ${f.log})`, 60_000);
  return { url, process: record };
}
