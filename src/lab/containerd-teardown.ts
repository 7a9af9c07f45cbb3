// Removing a box's containerd and everything it started. A box's containerd is the lab's own,
// so every sandbox it knows is the lab's: each is stopped and removed through CRI while the
// agents still answer CNI DEL. What that cannot reach (containerd or an agent already dead) is
// cleaned by hand: the sandbox processes the shims started, the mounts under its state dir.
import { readdirSync, readFileSync } from 'node:fs';
import { run } from '../lib/exec.js';
import { createLogger } from '../lib/log.js';
import { isRunning, processRef, stopProcesses, type ProcessRef } from '../lib/process.js';
import { CriClient } from '../lib/cri/client.js';
import { CONTAINERD_ROLE, containerdFiles, mountsUnder } from './containerd-process.js';
import { removeSandbox } from './pod-runtime-cri.js';
import type { BoxState } from './state.js';

const log = createLogger('lab');

const hasContainerd = (b: BoxState) => b.processes.some((p) => p.role === CONTAINERD_ROLE);

/** Before the processes stop: remove every sandbox of every box's running containerd. */
export async function removeAllSandboxes(boxes: BoxState[]): Promise<void> {
  await Promise.all(boxes.filter((b) => b.processes.some((p) => p.role === CONTAINERD_ROLE && isRunning(p))).map(async (box) => {
    const cri = new CriClient(containerdFiles(box).socket, 30_000);
    try {
      const sandboxes = await cri.listPodSandbox();
      await Promise.all(sandboxes.map((s) => removeSandbox(cri, s.id)));
    } catch (err) {
      log.warn({ err, box: box.name }, 'could not remove the sandboxes through CRI; killing them');
    } finally {
      cri.close();
    }
  }));
}

/**
 * Processes whose parent is one of `parents` (a shim's children are the sandboxes' init
 * processes; killing the shim alone would leave them to init).
 */
export function childrenOf(parents: ProcessRef[]): ProcessRef[] {
  const pids = new Set(parents.filter(isRunning).map((p) => p.pid));
  if (pids.size === 0) return [];
  const out: ProcessRef[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (pids.has(ppid)) out.push(processRef(pid));
    } catch {
      /* exited */
    }
  }
  return out;
}

/** containerd's shims: lab-owned processes named containerd-shim*. */
export function isShim(ref: ProcessRef): boolean {
  try {
    return readFileSync(`/proc/${ref.pid}/comm`, 'utf8').startsWith('containerd-shim');
  } catch {
    return false;
  }
}

/** Kill what the shims started, then let the caller stop the shims themselves. */
export async function stopSandboxProcesses(shims: ProcessRef[]): Promise<void> {
  const children = childrenOf(shims.filter(isShim));
  if (children.length) await stopProcesses(children, 500);
}

/** After every process is gone: unmount rootfs and shm mounts so the dirs can be removed. */
export async function unmountContainerd(boxes: BoxState[]): Promise<void> {
  for (const box of boxes.filter(hasContainerd)) {
    for (const point of mountsUnder(containerdFiles(box).dir)) {
      await run('umount', ['-l', point], { allowFailure: true });
    }
  }
}
