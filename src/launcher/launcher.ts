// The launcher: what systemd (and the lab's --ota boxes) start, instead of the agent itself. It
// decides which release runs, so that a release that cannot even load is rolled back without
// running a line of it (the boot counter of RAUC/Mender, for one service). Deliberately
// dependency-free — node: builtins only, nothing of any release — and installed outside the
// release tree (/usr/lib/seine/launcher.mjs), so no update can break it.
//
//   <root>/current  → releases/<v>   what runs; only the launcher switches it
//   <root>/previous → releases/<v>   exists while `current` is on trial: the version to go back to.
//                                    The new version confirms its health by removing it (one
//                                    atomic unlink: the commit point).
//   <stateDir>/pending.json           the updater's request {from, to, deadline…}; the launcher
//                                    keeps the start counter (`boots`) and the rollback reason
//                                    (`failure`) in it, for the previous version to report.
//
// Before every start: a pending switch (from = current, to installed) is made (previous → from,
// then current → to). While on trial, every start is counted first; a version that has used
// `maxStarts` starts without confirming, or has not confirmed within its deadline (from its first
// start under this launcher: immune to clock jumps), or that asked for it (pending.failure), is
// rolled back: the reason into pending.json, current → previous, previous removed. Every step is
// durable (fsync of the file, rename, fsync of the directory) and ordered so that a power cut
// between any two leaves a state this same procedure finishes. A pending.json that does not
// parse is no request; while on trial the counting then starts anew from a fresh record.
// The agent gets SEINE_LAUNCHER in its environment (its updater then leaves the switch to us) and,
// on trial, SEINE_TRIAL_DEADLINE (when we stop it).
//
//   node launcher.mjs --root DIR --state-dir DIR [--max-starts 3] [--deadline-seconds 120]
//                     [--restart-delay-ms 2000] [--child-file FILE] -- <agent arguments>
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { access, mkdir, open, readFile, readlink, rename, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

export interface LauncherOptions {
  root: string;
  stateDir: string;
  /** Arguments after the release's dist/cli/seine.js, e.g. agent --config /etc/seine/agent.yaml. */
  args: string[];
  maxStarts: number;
  /** Used when the pending record does not say (it was lost): the updater writes its own. */
  deadlineSeconds: number;
  restartDelayMs: number;
  /** The lab's crash simulation kills the child recorded here ({pid, start}). */
  childFile?: string | undefined;
  node: string;
}

/** The launcher's view of pending.json (the agent validates it with PendingSwitchSchema; fields it does not know are kept). */
export interface Pending {
  from: string;
  to: string;
  switchedAt: number;
  deadline: number;
  boots: number;
  failure?: string;
  [k: string]: unknown;
}

export interface Plan {
  /** The version to start; undefined when nothing runnable is installed. */
  version: string | undefined;
  /** Set while the version is on trial (its pending record, start already counted). */
  trial?: Pending;
  rolledBack?: string;
}

const VERSION = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$/;
export const PROGRAM = path.join('dist', 'cli', 'seine.js');
/** The agent's Node settings for a small box: a copy of src/lib/small-box.ts (nothing is imported here; a unit test keeps them equal). */
export const AGENT_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--optimize-for-size'];
export const AGENT_NODE_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };

/** JSON lines on stderr, like the agent's logger (pino's fields), without depending on it. */
export function log(level: 'info' | 'warn' | 'error', msg: string, fields: Record<string, unknown> = {}): void {
  const rank: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: 99 };
  if (rank[level]! < (rank[process.env.SEINE_LOG_LEVEL ?? 'info'] ?? 30)) return;
  process.stderr.write(JSON.stringify({ level, time: new Date().toISOString(), pid: process.pid, module: 'launcher', ...fields, msg }) + '\n');
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** write-temp → fsync → rename → fsync(dir): the same discipline as src/lib/files.ts (not imported: this file stands alone). */
async function writeDurable(file: string, text: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  const fh = await open(tmp, 'w', 0o644);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
  await fsyncDir(path.dirname(file));
}

export class Launcher {
  /** Trial clocks of this launcher's life: monotonic ms of a trial's first start, by `to@switchedAt`. */
  private readonly trialStarted = new Map<string, number>();

  constructor(readonly o: LauncherOptions) {}

  get pendingFile(): string {
    return path.join(this.o.stateDir, 'pending.json');
  }

  link(name: 'current' | 'previous'): string {
    return path.join(this.o.root, name);
  }

  /** The version a link points to (releases/<version>); undefined when absent or not a release. */
  async linkVersion(name: 'current' | 'previous'): Promise<string | undefined> {
    const target = await readlink(this.link(name)).catch(() => undefined);
    if (target === undefined) return undefined;
    const v = path.basename(target);
    return VERSION.test(v) && path.normalize(target) === path.join('releases', v) ? v : undefined;
  }

  async runnable(version: string | undefined): Promise<boolean> {
    if (!version || !VERSION.test(version)) return false;
    return access(path.join(this.o.root, 'releases', version, PROGRAM)).then(() => true, () => false);
  }

  async readPending(): Promise<Pending | undefined> {
    const text = await readFile(this.pendingFile, 'utf8').catch(() => undefined);
    if (text === undefined) return undefined;
    try {
      const p = JSON.parse(text) as Partial<Pending> | null;
      if (!p || typeof p !== 'object' || !VERSION.test(String(p.from)) || !VERSION.test(String(p.to)) || typeof p.switchedAt !== 'number' || typeof p.deadline !== 'number') throw new Error('not a pending switch');
      return { ...p, boots: typeof p.boots === 'number' && p.boots >= 0 ? Math.floor(p.boots) : 0 } as Pending;
    } catch (err) {
      log('warn', 'pending.json does not parse: no update in progress', { file: this.pendingFile, bytes: text.length, err: (err as Error).message });
      return undefined;
    }
  }

  writePending(p: Pending): Promise<void> {
    return writeDurable(this.pendingFile, JSON.stringify(p));
  }

  /** Points a link at releases/<version>: a new link renamed over the old one (atomic), then the directory synced. */
  async setLink(name: 'current' | 'previous', version: string): Promise<void> {
    const link = this.link(name);
    const tmp = `${link}.next`;
    await rm(tmp, { force: true });
    await symlink(path.join('releases', version), tmp);
    await rename(tmp, link);
    await fsyncDir(this.o.root);
  }

  async removePrevious(): Promise<void> {
    await rm(this.link('previous'), { force: true });
    await fsyncDir(this.o.root);
  }

  /** The trial's deadline in ms (the updater's, from the pending record; the launcher's default when it was lost). */
  private deadlineMs(p: Pending): number {
    const d = p.deadline - p.switchedAt;
    return d > 0 ? d : this.o.deadlineSeconds * 1000;
  }

  private trialKey(p: Pending): string {
    return `${p.to}@${p.switchedAt}`;
  }

  /** Monotonic ms left before the trial's deadline (started at its first start under this launcher). */
  trialRemainingMs(p: Pending): number {
    const t0 = this.trialStarted.get(this.trialKey(p)) ?? performance.now();
    return this.deadlineMs(p) - (performance.now() - t0);
  }

  /** Decides what to start next; every change on disk is made durable before the start. */
  async settle(): Promise<Plan> {
    let cur = await this.linkVersion('current');
    let prev = await this.linkVersion('previous');
    let p = await this.readPending();
    let onTrial = prev !== undefined && prev !== cur && (await this.runnable(prev));
    // A switch the updater asked for (it unpacked `to`, wrote pending.json and exited).
    if (!onTrial && p && !p.failure && p.from === cur && p.to !== cur && (await this.runnable(p.to))) {
      await this.setLink('previous', p.from); // first: a cut before the next step leaves previous = current, no trial
      await this.setLink('current', p.to);
      p = { ...p, boots: 0 };
      await this.writePending(p);
      log('info', 'switched current to the new version; on trial until it confirms its health', { from: p.from, to: p.to, maxStarts: this.o.maxStarts, deadlineSeconds: this.deadlineMs(p) / 1000 });
      cur = p.to;
      prev = p.from;
      onTrial = true;
    }
    if (!onTrial) {
      if (await access(this.link('previous')).then(() => true, () => false)) await this.removePrevious(); // a finished rollback or switch's leftover
      if (cur === undefined || !(await this.runnable(cur))) {
        log('error', 'current does not point to a runnable release', { current: await readlink(this.link('current')).catch(() => null) });
        return { version: undefined };
      }
      return { version: cur };
    }
    const from = prev!;
    const to = cur!;
    if (!p || p.to !== to || p.from !== from) {
      log('warn', 'the version on trial has no readable pending record: its starts are counted anew', { from, to });
      const now = Date.now();
      p = { from, to, switchedAt: now, deadline: now + this.o.deadlineSeconds * 1000, boots: 0 };
      await this.writePending(p);
    }
    if (p.failure) return this.rollBack(p, p.failure);
    if (!(await this.runnable(to))) return this.rollBack(p, `did not start: releases/${to} has no ${PROGRAM}`);
    if (this.trialRemainingMs(p) <= 0) return this.rollBack(p, `did not confirm health within ${this.deadlineMs(p) / 1000} s`);
    if (p.boots >= this.o.maxStarts) return this.rollBack(p, `did not start: exited ${p.boots} times without confirming health`);
    p = { ...p, boots: p.boots + 1 };
    await this.writePending(p); // counted before the start: a cut during it still counts
    if (!this.trialStarted.has(this.trialKey(p))) this.trialStarted.set(this.trialKey(p), performance.now());
    return { version: to, trial: p };
  }

  /** Back to `from`: the reason first (the previous version reports it), then current, then previous removed. */
  async rollBack(p: Pending, reason: string): Promise<Plan> {
    log('error', 'rolling back', { version: p.to, to: p.from, reason });
    await this.writePending({ ...p, failure: reason });
    await this.setLink('current', p.from);
    await this.removePrevious();
    return { version: p.from, rolledBack: reason };
  }

  /** Records that the trial's deadline passed (the child is then stopped and the next settle rolls back). */
  async expire(p: Pending): Promise<boolean> {
    if ((await this.linkVersion('previous')) !== p.from) return false; // confirmed meanwhile
    const now = await this.readPending();
    await this.writePending({ ...(now && now.to === p.to ? now : p), failure: `did not confirm health within ${this.deadlineMs(p) / 1000} s` });
    return true;
  }

  /** Starts and restarts the agent for ever; SIGTERM/SIGINT stop it and then the launcher. */
  run(): void {
    let child: ChildProcess | undefined;
    let stopping = false;
    let deadlineTimer: NodeJS.Timeout | undefined;
    const again = (ms: number) => setTimeout(() => void start().catch((err) => fatal(err)), ms);
    const fatal = (err: unknown) => {
      // A broken disk or state dir: retry, as systemd would restart us anyway.
      log('error', 'launcher step failed; retrying', { err: (err as Error).message });
      again(Math.max(this.o.restartDelayMs, 1000));
    };
    const start = async () => {
      if (stopping) return;
      const plan = await this.settle();
      if (stopping) return;
      if (!plan.version) {
        again(5000);
        return;
      }
      const program = path.join(this.o.root, 'releases', plan.version, PROGRAM);
      // SEINE_LAUNCHER tells the updater a launcher makes the switch (src/agent/update/index.ts);
      // SEINE_TRIAL_DEADLINE (epoch ms) lets a version on trial give up with its own, better
      // reason just before we would stop it.
      const env: NodeJS.ProcessEnv = { ...AGENT_NODE_ENV, ...process.env, SEINE_LAUNCHER: String(process.pid) };
      delete env.SEINE_TRIAL_DEADLINE;
      if (plan.trial) env.SEINE_TRIAL_DEADLINE = String(Math.round(Date.now() + this.trialRemainingMs(plan.trial)));
      const c = spawn(this.o.node, [...AGENT_NODE_FLAGS, program, ...this.o.args], { stdio: 'inherit', env });
      child = c;
      log('info', 'started the agent', { version: plan.version, pid: c.pid, ...(plan.trial ? { trialStart: plan.trial.boots, of: this.o.maxStarts } : {}) });
      if (c.pid && this.o.childFile) writeChildRef(this.o.childFile, c.pid);
      if (plan.trial) {
        const p = plan.trial;
        deadlineTimer = setTimeout(() => {
          void this.expire(p).then((expired) => {
            if (!expired || c.exitCode !== null || c.signalCode !== null) return;
            log('error', 'the version on trial did not confirm its health in time: stopping it', { version: p.to });
            c.kill('SIGTERM');
            setTimeout(() => c.exitCode === null && c.signalCode === null && c.kill('SIGKILL'), 5000).unref();
          }, fatal);
        }, Math.max(0, this.trialRemainingMs(p)));
      }
      c.on('exit', (code, signal) => {
        clearTimeout(deadlineTimer);
        if (stopping) process.exit(0);
        log('warn', 'agent exited; starting again', { version: plan.version, code, signal, restartInMs: this.o.restartDelayMs });
        again(this.o.restartDelayMs);
      });
    };
    for (const sig of ['SIGTERM', 'SIGINT'] as const) {
      process.on(sig, () => {
        stopping = true;
        if (!child || child.exitCode !== null || child.signalCode !== null) process.exit(0);
        child.kill(sig);
      });
    }
    void start().catch(fatal);
  }
}

/** {pid, start}: the start time tells our child apart from a later process reusing its pid (as src/lib/process.ts). */
function writeChildRef(file: string, pid: number): void {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const start = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    writeFileSync(file, JSON.stringify({ pid, start }));
  } catch (err) {
    log('warn', 'child not recorded', { file, err: (err as Error).message });
  }
}

export function parseArgs(argv: string[]): LauncherOptions {
  const dash = argv.indexOf('--');
  const flags = dash < 0 ? argv : argv.slice(0, dash);
  const args = dash < 0 ? [] : argv.slice(dash + 1);
  const get = (name: string) => {
    const i = flags.indexOf(`--${name}`);
    return i < 0 ? undefined : flags[i + 1];
  };
  const num = (name: string, def: number, min: number) => {
    const v = get(name);
    if (v === undefined) return def;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${name}: expected a number ≥ ${min}, got ${v}`);
    return n;
  };
  const root = get('root');
  const stateDir = get('state-dir');
  if (!root || !stateDir || !path.isAbsolute(root) || !path.isAbsolute(stateDir) || args.length === 0) {
    throw new Error('usage: launcher --root ABS_DIR --state-dir ABS_DIR [--max-starts 3] [--deadline-seconds 120] [--restart-delay-ms 2000] [--child-file FILE] -- agent --config FILE');
  }
  return {
    root, stateDir, args, node: process.execPath,
    maxStarts: num('max-starts', 3, 1), deadlineSeconds: num('deadline-seconds', 120, 1), restartDelayMs: num('restart-delay-ms', 2000, 0),
    childFile: get('child-file'),
  };
}

function main(): void {
  let o: LauncherOptions;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (err) {
    log('error', (err as Error).message);
    process.exit(2);
  }
  new Launcher(o).run();
}

const invoked = process.argv[1] ? (() => { try { return realpathSync(process.argv[1]!); } catch { return undefined; } })() : undefined;
if (invoked === new URL(import.meta.url).pathname) main();
