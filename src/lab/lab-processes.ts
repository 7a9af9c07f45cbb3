// Processes the lab starts: OVS daemons per box now, an agent per box, a controller and
// Node-RED later. Each is recorded as a ProcessRef in the state; in addition every process the
// lab spawns carries SEINE_LAB_OWNER=<lab dir> in its environment, so `lab down` also finds one
// started by a `lab up` that was killed before it could record it — and nothing else.
import { openSync, closeSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { isRunning, processRef, sleep, type ProcessRef } from '../lib/process.js';

export const OWNER_ENV = 'SEINE_LAB_OWNER';

/** Environment for everything the lab spawns. */
export function labEnv(dir: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, ...extra, [OWNER_ENV]: dir };
}

/** Live processes whose environment marks them as spawned by the lab in `dir`. */
export async function findOwnedProcesses(dir: string): Promise<ProcessRef[]> {
  const marker = `${OWNER_ENV}=${dir}`;
  const refs: ProcessRef[] = [];
  for (const entry of await readdir('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    let environ: string;
    try {
      environ = await readFile(`/proc/${pid}/environ`, 'latin1');
    } catch {
      continue; // exited, or a kernel thread
    }
    if (!environ.split('\0').includes(marker)) continue;
    try {
      refs.push(processRef(pid));
    } catch {
      /* exited meanwhile */
    }
  }
  return refs;
}

export interface DetachedSpec {
  command: string;
  args: string[];
  /** Network namespace to run in (`ip netns exec`, which execs in place: the PID stays). */
  netns?: string;
  env: NodeJS.ProcessEnv;
  /** stdout and stderr go here (appended). */
  logFile: string;
}

/** Start a long-running process that outlives the CLI call that started it. */
export function spawnDetached(spec: DetachedSpec): ProcessRef {
  const [cmd, args] = spec.netns ? ['ip', ['netns', 'exec', spec.netns, spec.command, ...spec.args]] : [spec.command, spec.args];
  const fd = openSync(spec.logFile, 'a');
  try {
    const env = { ...spec.env, PATH: `${spec.env.PATH ?? ''}:/usr/local/sbin:/usr/sbin:/sbin` };
    const child = spawn(cmd, args, { detached: true, stdio: ['ignore', fd, fd], env });
    if (child.pid === undefined) throw new Error(`could not start ${spec.command}`);
    child.unref();
    // Record the start time right away; it identifies this process for as long as it lives.
    return processRef(child.pid);
  } finally {
    closeSync(fd);
  }
}

/**
 * Waits until `ready()` says yes for a process the lab just started; fails fast, with
 * `whyDead()`'s explanation, if the process exits first, and after `timeoutMs` otherwise.
 */
export async function waitStarted(what: string, proc: ProcessRef & { logFile?: string }, ready: () => Promise<boolean>, whyDead: () => Promise<string>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await ready()) return;
    if (!isRunning(proc)) throw new Error(`${what} exited during start-up: ${await whyDead()}`);
    if (Date.now() > deadline) throw new Error(`${what} was not ready after ${timeoutMs / 1000} s (log: ${proc.logFile})`);
    await sleep(50);
  }
}

/** Why a lab process died, from its log: the last error line, or its last line. */
export async function lastLogLine(file?: string): Promise<string> {
  if (!file) return 'no log';
  const lines = (await readFile(file, 'utf8').catch(() => '')).trim().split('\n').filter(Boolean);
  for (const line of [...lines].reverse()) {
    try {
      const o = JSON.parse(line) as { level?: string; msg?: string; err?: { message?: string } };
      if (o.level === 'error' || o.level === 'fatal') return o.err?.message ?? o.msg ?? line;
    } catch {
      return line; // a plain line, e.g. the CLI's own one-line error
    }
  }
  return lines.at(-1) ?? 'no output';
}
