// `--runtime containerd`: one containerd per box, as each k3s box runs its own. Its CRI plugin
// reads the box's CNI conf dir (the agent's conf list; a containerd 1.6 CRI plugin has exactly
// one conf dir, so boxes with different conf lists need their own containerd) and runs `seine`
// from the lab's CNI bin dir.
//
// Where it runs: in the host's namespaces, not the box's. The CNI plugin reaches the box's agent
// over the agent's unix socket, a file path, so the network namespace containerd runs in does not
// matter to it. The mount namespace does: containerd bind-mounts each pod's netns under
// /var/run/netns and the agent (and `lab exec`) must see that mount; `ip netns exec` would give
// containerd a private mount namespace whose mounts never reach them.
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { run } from '../lib/exec.js';
import { distProgram } from '../lib/paths.js';
import { CriClient } from '../lib/cri/client.js';
import { cniPluginType } from '../api/cni.js';
import { lastLogLine, spawnDetached, waitStarted } from './lab-processes.js';
import { agentFiles } from './agent-process.js';
import { buildSandboxImage, SANDBOX_IMAGE } from './sandbox-image.js';
import type { BoxState, ProcessRecord } from './state.js';
import type { StateStore } from './state-store.js';

export const CONTAINERD_ROLE = 'containerd';

export function containerdFiles(box: Pick<BoxState, 'ovsDir'>) {
  const dir = path.join(box.ovsDir, 'containerd');
  return {
    dir,
    config: path.join(dir, 'config.toml'),
    root: path.join(dir, 'root'),
    state: path.join(dir, 'state'),
    // Next to the OVS sockets, whose longer names names.ts already checks against sockaddr_un.
    socket: path.join(box.ovsDir, 'cri.sock'),
    log: path.join(box.ovsDir, 'containerd.log'),
  };
}

/** The lab-wide CNI bin dir (holds `seine`) and the sandbox image archive. */
export function runtimeLabFiles(labDir: string) {
  return { cniBinDir: path.join(labDir, 'cni-bin'), image: path.join(labDir, 'sandbox-image.tar') };
}

/** What containerd needs on the machine; a clear error naming the package otherwise. */
export function checkContainerdInstalled(): void {
  const missing = [
    ['containerd', 'containerd'],
    ['containerd-shim-runc-v2', 'containerd'],
    ['ctr', 'containerd'],
    ['runc', 'runc'],
  ].filter(([bin]) => !onPath(bin));
  if (!existsSync('/bin/busybox')) missing.push(['busybox', 'busybox-static']);
  if (missing.length) {
    const pkgs = [...new Set(missing.map(([, p]) => p))].join(' ');
    throw new Error(`--runtime containerd needs ${missing.map(([b]) => b).join(', ')}: apt-get install ${pkgs}`);
  }
}

function onPath(bin: string): boolean {
  const dirs = `${process.env.PATH ?? ''}:/usr/local/sbin:/usr/sbin:/sbin`.split(':').filter(Boolean);
  return dirs.some((d) => existsSync(path.join(d, bin)));
}

/** The CNI bin dir with `seine`: seine-cni under the plugin type's name, run by this node. */
export async function prepareCniBinDir(labDir: string): Promise<void> {
  const { cniBinDir } = runtimeLabFiles(labDir);
  await mkdir(cniBinDir, { recursive: true });
  const wrapper = path.join(cniBinDir, cniPluginType);
  await writeFile(wrapper, `#!/bin/sh\nexec ${shellQuote(process.execPath)} ${shellQuote(distProgram('cni/main.js'))} "$@"\n`);
  await chmod(wrapper, 0o755);
  const loopback = path.join(cniBinDir, 'loopback');
  await writeFile(loopback, LOOPBACK_PLUGIN);
  await chmod(loopback, 0o755);
}

/**
 * containerd's CRI plugin always runs the `loopback` CNI plugin before the pod network (k3s
 * ships it next to its own plugins). Debian's containerd does not, so the lab carries this
 * minimal one: ADD sets lo up in the pod's netns and reports it; DEL and CHECK have nothing to do.
 */
const LOOPBACK_PLUGIN = `#!/bin/sh
conf=$(cat)
ver=$(printf '%s' "$conf" | sed -n 's/.*"cniVersion" *: *"\\([^"]*\\)".*/\\1/p')
case "$CNI_COMMAND" in
ADD)
  nsenter --net="$CNI_NETNS" ip link set lo up || { printf '{"cniVersion":"%s","code":999,"msg":"loopback: cannot set lo up in %s"}' "$ver" "$CNI_NETNS"; exit 1; }
  printf '{"cniVersion":"%s","interfaces":[{"name":"lo","mac":"00:00:00:00:00:00","sandbox":"%s"}],"ips":[{"version":"4","interface":0,"address":"127.0.0.1/8"}],"dns":{}}' "$ver" "$CNI_NETNS" ;;
VERSION)
  printf '{"cniVersion":"1.0.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0"]}' ;;
esac
exit 0
`;

const shellQuote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

export function containerdConfig(box: BoxState, labDir: string): string {
  const f = containerdFiles(box);
  const q = JSON.stringify; // TOML basic strings accept JSON string escapes
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return [
    'version = 2',
    `root = ${q(f.root)}`,
    `state = ${q(f.state)}`,
    // Plugins that probe for kernels and tools the lab does not use: faster, quieter start-up.
    'disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]',
    '[grpc]',
    `  address = ${q(f.socket)}`,
    '[ttrpc]',
    `  address = ${q(`${f.socket}.ttrpc`)}`,
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = ${q(path.join(f.dir, 'opt'))}`,
    `[${cri}]`,
    `  sandbox_image = ${q(SANDBOX_IMAGE)}`,
    '  stream_server_address = "127.0.0.1"',
    '  stream_server_port = "0"',
    '  enable_cdi = false',
    // kubelet asks for oom_score_adj -998 for sandboxes; a lab host (a VM or a container without
    // CAP_SYS_RESOURCE) may refuse that, and runc then fails. Cap it at containerd's own score.
    '  restrict_oom_score_adj = true',
    `[${cri}.cni]`,
    `  bin_dir = ${q(runtimeLabFiles(labDir).cniBinDir)}`,
    `  conf_dir = ${q(agentFiles(box).cniConfDir)}`,
    '  max_conf_num = 1',
    `[${cri}.containerd]`,
    '  snapshotter = "overlayfs"',
    '  default_runtime_name = "runc"',
    `[${cri}.containerd.runtimes.runc]`,
    '  runtime_type = "io.containerd.runc.v2"',
    '',
  ].join('\n');
}

/** Starts the box's containerd (recorded before anything waits on it) and waits for CRI to answer. */
export async function startContainerd(store: StateStore, box: BoxState, env: NodeJS.ProcessEnv): Promise<ProcessRecord> {
  const f = containerdFiles(box);
  const labDir = path.dirname(store.file);
  await mkdir(f.dir, { recursive: true });
  await writeFile(f.config, containerdConfig(box, labDir));
  const ref = spawnDetached({ command: 'containerd', args: ['--config', f.config], env, logFile: f.log });
  const record: ProcessRecord = { role: CONTAINERD_ROLE, ...ref, command: `containerd --config ${f.config}`, logFile: f.log };
  await store.update((s) => void s.boxes.find((b) => b.name === box.name)!.processes.push(record));
  await waitContainerdReady(box, record);
  return record;
}

export async function waitContainerdReady(box: BoxState, proc: ProcessRecord, timeoutMs = 30_000): Promise<void> {
  const client = new CriClient(containerdFiles(box).socket, 2000);
  const ready = async () => existsSync(containerdFiles(box).socket) && (await client.version().then(() => true, () => false));
  try {
    await waitStarted(`${box.name}: containerd`, proc, ready, () => lastLogLine(proc.logFile), timeoutMs);
  } finally {
    client.close();
  }
}

/** Imports the lab's sandbox image into the box's containerd (CRI's k8s.io namespace). */
export async function importSandboxImage(box: BoxState, labDir: string, env: NodeJS.ProcessEnv): Promise<void> {
  const image = await buildSandboxImage(runtimeLabFiles(labDir).image);
  await run('ctr', ['--address', containerdFiles(box).socket, '--namespace', 'k8s.io', 'image', 'import', image], { env });
}

/** Mount points under `dir` (overlay rootfs, shm), deepest first, for teardown to unmount. */
export function mountsUnder(dir: string): string[] {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  let text = '';
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const points = text.split('\n').map((l) => l.split(' ')[4]).filter((p): p is string => !!p && p.startsWith(prefix));
  return [...new Set(points.map((p) => p.replace(/\\040/g, ' ')))].sort((a, b) => b.length - a.length);
}
