// Run external programs (ip, ovs-vsctl, ovs-ofctl, ethtool …) with errors that name the
// command and carry its stderr, so a failed step is diagnosable from one log line.
import { spawn, type ChildProcess, type ChildProcessWithoutNullStreams, type SpawnOptions } from 'node:child_process';

export interface RunOptions {
  /** Text written to the child's stdin (then closed). */
  input?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Resolve instead of throwing on a non-zero exit. */
  allowFailure?: boolean;
  timeoutMs?: number;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

export class CommandError extends Error {
  constructor(readonly command: string, readonly result: RunResult) {
    super(`${command} exited ${result.code}: ${(result.stderr || result.stdout).trim().split('\n').slice(-3).join(' | ')}`);
    this.name = 'CommandError';
  }
}

// Debian keeps ip, ovs-* and friends in sbin; make sure they are found for non-login shells.
const sbinPath = (p = '') => [p, '/usr/local/sbin', '/usr/sbin', '/sbin'].filter(Boolean).join(':');

// Every process this program starts, by command name. Spawns are what make a busy box slow (each
// costs milliseconds, more on ARM and under load), so the agent exports these counts and a test
// holds its steady state to none of ovs-ofctl, ip, nsenter or conntrack. All spawning in src/
// goes through this module (test/unit/layers.test.ts).
const spawned = new Map<string, number>();

/** Processes started so far, by command basename. */
export function spawnCounts(): ReadonlyMap<string, number> {
  return spawned;
}

/** `child_process.spawn`, counted. */
export function spawnCounted(cmd: string, args: readonly string[], options: SpawnOptions): ChildProcess {
  const name = cmd.slice(cmd.lastIndexOf('/') + 1);
  spawned.set(name, (spawned.get(name) ?? 0) + 1);
  return spawn(cmd, args, options);
}

export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const env = { ...(opts.env ?? process.env) };
    env.PATH = sbinPath(env.PATH);
    const child = spawnCounted(cmd, args, { env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] }) as ChildProcessWithoutNullStreams;
    let stdout = '';
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs) timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(err.code === 'ENOENT' ? new Error(`${cmd}: command not found (is its package installed?)`) : err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result = { stdout, stderr, code: code ?? (signal ? 128 : 1) };
      if (result.code !== 0 && !opts.allowFailure) reject(new CommandError([cmd, ...args].join(' '), result));
      else resolve(result);
    });
    child.stdin.on('error', () => {}); // child may exit before reading stdin
    child.stdin.end(opts.input ?? '');
  });
}

/** Run inside a network namespace (`ip netns exec`). */
export function runInNetns(netns: string, cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return run('ip', ['netns', 'exec', netns, cmd, ...args], opts);
}
