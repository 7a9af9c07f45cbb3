// The sync-fleet bench's simulated boxes, spread over child processes (fleet-agents.ts, at most
// BOXES_PER_PROCESS each): start them connected in bounded batches, wait until every box
// realized a generation of the fleet policy, change one box's pods, stop them (by PID, bounded).
import { fork, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { childExit, withDeadline } from './harness.js';
import type { HostBox, HostReply, HostRequest, RoundTimes } from './fleet-agents.js';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fleet-agents.ts');
/** Each box costs a socket and three SQLite files (WAL): well under a process's 20k descriptors. */
export const BOXES_PER_PROCESS = 2500;
/** Documents each box process runs through a box of its own before the fleet starts (SEINE_BENCH_WARM_UP_DOCS; 0: none). */
const WARM_UP_DOCS = Number(process.env.SEINE_BENCH_WARM_UP_DOCS ?? 500);
/** SEINE_BENCH_AGENT_NODE_ARGS: node flags for the box processes (--cpu-prof --cpu-prof-dir=…). */
const AGENT_NODE_ARGS = (process.env.SEINE_BENCH_AGENT_NODE_ARGS ?? '').split(' ').filter(Boolean);

export class FleetHosts {
  private nextId = 1;
  private readonly pending = new Map<number, (r: HostReply) => void>();
  private readonly owner = new Map<number, ChildProcess>();
  private readonly failures: string[] = [];

  private constructor(private readonly children: ChildProcess[]) {
    for (const c of children) {
      c.on('message', (r: HostReply) => {
        if (r.op === 'error') this.failures.push(r.error);
        const id = 'id' in r ? r.id : undefined;
        const k = id ?? -(children.indexOf(c) + 1);
        const cb = this.pending.get(k);
        if (cb) {
          this.pending.delete(k);
          cb(r);
        }
      });
    }
  }

  get pids(): number[] {
    return this.children.map((c) => c.pid!);
  }

  /**
   * Forks the processes and starts `boxes` (split evenly) against `url`; a batch of `batch` boxes
   * in all (shared between the processes) connects before the next. Resolves when all are connected.
   */
  static async start(opts: { url: string; dir: string; boxes: HostBox[]; batch: number; deadlineMs: number }): Promise<{ hosts: FleetHosts; ms: number }> {
    const n = Math.max(1, Math.ceil(opts.boxes.length / BOXES_PER_PROCESS));
    const children = Array.from({ length: n }, () => fork(CHILD, [], { execArgv: ['--import', 'tsx', ...AGENT_NODE_ARGS], stdio: ['ignore', 'ignore', 'inherit', 'ipc'], env: { ...process.env, SEINE_LOG_LEVEL: process.env.SEINE_LOG_LEVEL ?? 'error' } }));
    const hosts = new FleetHosts(children);
    let t0 = performance.now();
    try {
      // The processes' JIT warm-up (fleet-agents.ts, warmUp), before the boxes and the setup's clock start.
      await withDeadline(Promise.all(children.map(async (c, k) => {
        const dir = path.join(opts.dir, `host-${k}`);
        await mkdir(dir, { recursive: true });
        if (WARM_UP_DOCS <= 0) return;
        const reply = await hosts.ask(c, -(k + 1), { op: 'warm', dir, docs: WARM_UP_DOCS });
        if (reply.op === 'error') throw new Error(`simulated boxes (process ${k}) warming up: ${reply.error}`);
      })), 5 * 60_000, `warming up ${n} simulated box processes`);
      t0 = performance.now();
      await withDeadline(Promise.all(children.map(async (c, k) => {
        const mine = opts.boxes.filter((_, i) => i % n === k);
        for (const b of mine) hosts.owner.set(b.index, c);
        const dir = path.join(opts.dir, `host-${k}`);
        const reply = await hosts.ask(c, -(k + 1), { op: 'start', url: opts.url, dir, boxes: mine, batch: Math.max(1, Math.ceil(opts.batch / n)), connectMs: 60_000 });
        if (reply.op === 'error') throw new Error(`simulated boxes (process ${k}): ${reply.error}`);
      })), opts.deadlineMs, `starting ${opts.boxes.length} simulated boxes in ${n} processes`);
    } catch (err) {
      await hosts.stop();
      throw err;
    }
    return { hosts, ms: performance.now() - t0 };
  }

  /**
   * Until every box realized the fleet policy at `generation` and its report was acknowledged;
   * fails naming how many had not. Returns when the boxes got there (over all processes).
   */
  async realized(generation: number, ms: number, what: string): Promise<RoundTimes> {
    const replies = await withDeadline(Promise.all(this.children.map((c) => {
      const id = this.nextId++;
      return this.ask(c, id, { op: 'wait', id, generation, ms });
    })), ms + 5000, what);
    const behind = replies.reduce((s, r) => s + (r.op === 'waited' ? r.behind ?? 0 : 0), 0);
    if (replies.some((r) => r.op !== 'waited' || r.error)) throw new Error(`${what}: ${behind} boxes had not realized generation ${generation} within ${ms} ms`);
    const times = replies.map((r) => (r.op === 'waited' ? r.times! : undefined)).filter((t): t is RoundTimes => t !== undefined);
    return {
      firstRealized: Math.min(...times.map((t) => t.firstRealized)),
      lastRealized: Math.max(...times.map((t) => t.lastRealized)),
      lastReported: Math.max(...times.map((t) => t.lastReported)),
    };
  }

  /** Box `index` adds (or removes) an app=demo pod: ms until it has (or lost) the demo policy. */
  async podChange(index: number, adding: boolean, ms: number): Promise<number> {
    const c = this.owner.get(index);
    if (!c) throw new Error(`no simulated box ${index}`);
    const id = this.nextId++;
    const r = await withDeadline(this.ask(c, id, { op: 'pod', id, index, adding, ms }), ms + 5000, `box ${index} pod change`);
    if (r.op !== 'pod' || r.ms === undefined) throw new Error(`box ${index} pod change: ${r.op === 'pod' ? r.error : r.op}`);
    return r.ms;
  }

  /** Stops every box (a clean offline status each) and the processes; bounded, then by PID. */
  async stop(): Promise<void> {
    await Promise.all(this.children.map(async (c, k) => {
      if (c.exitCode !== null || c.signalCode) return;
      if (c.connected) {
        await withDeadline(this.ask(c, -(k + 1), { op: 'stop' }), 60_000, 'stopping simulated boxes').catch(() => undefined);
      }
      await childExit(c, 10_000, 'a simulated box process exiting').catch(() => c.kill('SIGKILL'));
    }));
  }

  private ask(c: ChildProcess, id: number, req: HostRequest): Promise<HostReply> {
    return new Promise<HostReply>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`a simulated box process exited (${code}) ${this.failures.length ? `: ${this.failures.join('; ')}` : ''}`));
      c.once('exit', onExit);
      this.pending.set(id, (r) => {
        c.off('exit', onExit);
        resolve(r);
      });
      c.send(req);
    });
  }
}
