// Runs a command that reads a large input on stdin (ovs-ofctl add-flows -), writing the
// input as it is produced. The child starts (ovs-ofctl: ~7 ms of loading and connecting) and
// parses lines on the other core while the agent still formats the rest, instead of waiting
// for one megabyte-sized string. Same result and errors as lib/exec's run().
import { spawn } from 'node:child_process';
import { CommandError, type RunResult } from '../../lib/exec.js';

const sbinPath = (p = '') => [p, '/usr/local/sbin', '/usr/sbin', '/sbin'].filter(Boolean).join(':');

/** `chunks` is consumed lazily: each chunk is produced only when the pipe has room. */
export function runStreaming(cmd: string, args: string[], chunks: Iterable<string>, env: NodeJS.ProcessEnv): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...env, PATH: sbinPath(env.PATH) }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let closed = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (err: NodeJS.ErrnoException) => {
      closed = true;
      reject(err.code === 'ENOENT' ? new Error(`${cmd}: command not found (is its package installed?)`) : err);
    });
    child.on('close', (code, signal) => {
      closed = true;
      const result = { stdout, stderr, code: code ?? (signal ? 128 : 1) };
      if (result.code !== 0) reject(new CommandError([cmd, ...args].join(' '), result));
      else resolve(result);
    });
    child.stdin.on('error', () => {}); // the child may exit (e.g. on a syntax error) before reading everything
    const it = chunks[Symbol.iterator]();
    const pump = () => {
      for (;;) {
        if (closed) return;
        const next = it.next();
        if (next.done) return void child.stdin.end();
        if (!child.stdin.write(next.value)) return void child.stdin.once('drain', pump);
      }
    };
    pump();
  });
}
