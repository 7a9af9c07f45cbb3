// wireguard-go when the kernel has no WireGuard (Debian's package, needs /dev/net/tun). The agent
// runs it in the foreground (-f) in a session of its own, so it is a process the agent knows by
// PID — not a daemon that forked away — and records {pid, start} in the state dir. It outlives
// the agent on purpose: the device keeps forwarding, with its peers, while the agent restarts
// (a kill -9 included); the next agent adopts the device and finds the record. It is stopped by
// that PID only: when encryption is turned off (the agent's next start) or by whoever removes
// the box (the lab's teardown). The start time in the record keeps a reused PID safe.
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { spawnCounted } from '../../lib/exec.js';
import { createLogger } from '../../lib/log.js';
import { isRunning, processRef, sleep, stopProcesses, type ProcessRef } from '../../lib/process.js';

const log = createLogger('wireguard');

export const userspaceRecordFile = (stateDir: string) => path.join(stateDir, 'wireguard', 'wireguard-go.json');
export const userspaceLogFile = (stateDir: string) => path.join(stateDir, 'wireguard', 'wireguard-go.log');

const RecordSchema = z.object({ pid: z.number().int().positive(), start: z.number().int().nonnegative(), device: z.string(), command: z.string() });
export type UserspaceRecord = z.infer<typeof RecordSchema>;

/** The recorded wireguard-go if it still runs (same PID and start time), else undefined. */
export function runningUserspace(stateDir: string): UserspaceRecord | undefined {
  let rec: UserspaceRecord;
  try {
    rec = RecordSchema.parse(JSON.parse(readFileSync(userspaceRecordFile(stateDir), 'utf8')));
  } catch {
    return undefined; // none recorded, or a torn file: nothing we can signal safely
  }
  return isRunning(rec) ? rec : undefined;
}

/**
 * Starts `command -f dev` and records it; resolves when the device and its UAPI socket exist.
 * `ready()` says whether they do. A process that exits first fails the start with its last log line.
 */
export async function startUserspace(stateDir: string, command: string, dev: string, ready: () => boolean, timeoutMs = 10_000): Promise<ProcessRef> {
  const old = runningUserspace(stateDir);
  // One that runs without its device (stuck, or the device was deleted under it) is replaced.
  if (old) await stopProcesses([old]);
  const logFile = userspaceLogFile(stateDir);
  await mkdir(path.dirname(logFile), { recursive: true, mode: 0o700 });
  const fd = openSync(logFile, 'a');
  let ref: ProcessRef;
  try {
    const child = spawnCounted(command, ['-f', dev], { detached: true, stdio: ['ignore', fd, fd] });
    const failed = new Promise<never>((_, reject) => child.once('error', reject));
    failed.catch(() => undefined);
    if (child.pid === undefined) await failed; // ENOENT: not installed
    child.unref();
    ref = processRef(child.pid!);
  } finally {
    closeSync(fd);
  }
  const record: UserspaceRecord = { ...ref, device: dev, command };
  await writeFile(userspaceRecordFile(stateDir), JSON.stringify(record) + '\n', { mode: 0o600 });
  const deadline = Date.now() + timeoutMs;
  while (!ready()) {
    if (!isRunning(ref)) throw new Error(`${command} -f ${dev} exited during start-up: ${await lastLine(logFile)}`);
    if (Date.now() > deadline) {
      await stopProcesses([ref]);
      throw new Error(`${command} -f ${dev} did not create the device in ${timeoutMs / 1000} s (log: ${logFile})`);
    }
    await sleep(20);
  }
  log.info({ device: dev, wireguardGoPid: ref.pid, logFile }, `${command} started`);
  return ref;
}

/** Stops the recorded wireguard-go (by its PID) and forgets it. Returns whether one ran. */
export async function stopUserspace(stateDir: string): Promise<boolean> {
  const rec = runningUserspace(stateDir);
  if (rec) {
    await stopProcesses([rec]);
    log.info({ device: rec.device, wireguardGoPid: rec.pid }, `${rec.command} stopped`);
  }
  if (existsSync(userspaceRecordFile(stateDir))) await rm(userspaceRecordFile(stateDir), { force: true });
  return rec !== undefined;
}

async function lastLine(file: string): Promise<string> {
  const lines = (await readFile(file, 'utf8').catch(() => '')).trim().split('\n').filter(Boolean);
  return lines.at(-1) ?? 'no output';
}
