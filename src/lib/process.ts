// Processes the project starts are remembered as {pid, start}: the start time (clock ticks
// since boot, /proc/<pid>/stat field 22) tells our process apart from a later one that
// reused its PID, so cleanup never signals a process we did not create.
import { readFileSync } from 'node:fs';

export interface ProcessRef {
  pid: number;
  start: number;
}

export function processStart(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm (field 2) may contain spaces and parentheses: split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[19]);
  } catch {
    return undefined;
  }
}

export function processRef(pid: number): ProcessRef {
  const start = processStart(pid);
  if (start === undefined) throw new Error(`process ${pid} is not running`);
  return { pid, start };
}

export function isRunning(ref: ProcessRef): boolean {
  return processStart(ref.pid) === ref.start && !isZombie(ref.pid);
}

function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

/** SIGTERM, then SIGKILL after a grace period; processes already gone (or reused PIDs) are left alone. */
export async function stopProcesses(refs: ProcessRef[], graceMs = 2000): Promise<void> {
  const signal = (ref: ProcessRef, sig: NodeJS.Signals) => {
    if (!isRunning(ref)) return;
    try {
      process.kill(ref.pid, sig);
    } catch {
      /* exited meanwhile */
    }
  };
  refs.forEach((r) => signal(r, 'SIGTERM'));
  const deadline = Date.now() + graceMs;
  while (refs.some(isRunning) && Date.now() < deadline) await sleep(20);
  refs.forEach((r) => signal(r, 'SIGKILL'));
  while (refs.some(isRunning)) await sleep(20);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
