// A lab started with OTA (`seine lab up --ota`) runs each box's agent as a box would: from
// `<box dir>/seine/current` → `releases/<version>/` under the launcher (src/launcher/launcher.ts,
// what systemd starts on a box), with the updater's state in `<box dir>/update/` and the lab's
// release key (`<lab dir>/release-keys/release.key`, the public half trusted by every box and by
// the controller, which checks uploads against it).
// The first release is this checkout (its dist/ linked, package.json copied); releases the
// updater unpacks find the checkout's node_modules through `<box dir>/seine/node_modules`.
import { copyFile, mkdir, symlink, writeFile, chmod, access } from 'node:fs/promises';
import path from 'node:path';
import type { AgentConfigInput } from '../api/config.js';
import { AGENT_VERSION } from '../agent/sync/index.js';
import { distProgram, projectRoot } from '../lib/paths.js';
import { BIN_WRAPPER } from '../release/bundle.js';
import { generateReleaseKeys, PRIVATE_KEY_FILE, PUBLIC_KEY_FILE } from '../release/signing.js';
import type { BoxState } from './state.js';

export const labReleaseKeys = (labDir: string) => ({ dir: path.join(labDir, 'release-keys'), privateKey: path.join(labDir, 'release-keys', PRIVATE_KEY_FILE), publicKey: path.join(labDir, 'release-keys', PUBLIC_KEY_FILE) });
/** The controller's REST on a unix socket: the boxes' namespaces cannot reach its 127.0.0.1 port. */
export const labRestSocket = (labDir: string) => path.join(labDir, 'rest.sock');

/** The file the launcher keeps its agent's ProcessRef in (the lab kills it on a simulated crash). */
export const supervisedChildFile = (boxDir: string) => path.join(boxDir, 'agent-child.json');

/** The launcher's restart delay in the lab (systemd's RestartSec, small: tests wait on it). */
const LAB_RESTART_DELAY_MS = 300;

/** The launcher's command line for an OTA box (the same as the systemd unit's, with the box's paths). */
export function launcherArgs(box: Pick<BoxState, 'ovsDir'>, agentConfigFile: string, deadlineSeconds: number): string[] {
  const f = otaFiles(box);
  return [
    distProgram('launcher/launcher.js'), '--root', f.root, '--state-dir', f.stateDir, '--deadline-seconds', String(deadlineSeconds),
    '--restart-delay-ms', String(LAB_RESTART_DELAY_MS), '--child-file', supervisedChildFile(box.ovsDir), '--', 'agent', '--config', agentConfigFile,
  ];
}

export function otaFiles(box: Pick<BoxState, 'ovsDir'>) {
  return { root: path.join(box.ovsDir, 'seine'), stateDir: path.join(box.ovsDir, 'update') };
}

/** The lab's release key pair (made once per lab). */
export async function ensureLabReleaseKeys(labDir: string): Promise<void> {
  const k = labReleaseKeys(labDir);
  if (await access(k.publicKey).then(() => true, () => false)) return;
  await generateReleaseKeys(k.dir);
}

/** The box's release layout with this checkout as the installed version. */
export async function prepareOtaBox(box: Pick<BoxState, 'ovsDir'>): Promise<void> {
  const { root } = otaFiles(box);
  const release = path.join(root, 'releases', AGENT_VERSION);
  await mkdir(path.join(release, 'bin'), { recursive: true });
  await symlink(path.join(projectRoot, 'dist'), path.join(release, 'dist'));
  await copyFile(path.join(projectRoot, 'package.json'), path.join(release, 'package.json'));
  await writeFile(path.join(release, 'bin', 'seine'), BIN_WRAPPER);
  await chmod(path.join(release, 'bin', 'seine'), 0o755);
  await symlink(path.join(projectRoot, 'node_modules'), path.join(root, 'node_modules'));
  await symlink(path.join('releases', AGENT_VERSION), path.join(root, 'current'));
}

/** The health deadline of an OTA box (the launcher holds a new version to it too). */
export const OTA_HEALTH_DEADLINE_SECONDS = 30;

/** Test hooks of the update section a lab restart may set (update.failHealthCheck, update.testHaltAt). */
export type OtaUpdateOverrides = Pick<NonNullable<AgentConfigInput['update']>, 'failHealthCheck' | 'testHaltAt'>;

/**
 * The agent config's update section for an OTA box: HTTPS on the REST socket (checked as
 * "localhost", a name of the controller's certificate) with the lab's read-only download token.
 */
export function otaUpdateConfig(box: Pick<BoxState, 'ovsDir'>, labDir: string, download: { token: string; caFile: string }, extra: OtaUpdateOverrides = {}): NonNullable<AgentConfigInput['update']> {
  const f = otaFiles(box);
  return {
    enable: true, root: f.root, stateDir: f.stateDir, publicKey: labReleaseKeys(labDir).publicKey,
    server: 'https://localhost', serverSocket: labRestSocket(labDir), token: download.token, caFile: download.caFile,
    healthDeadlineSeconds: OTA_HEALTH_DEADLINE_SECONDS, ...extra,
  };
}
