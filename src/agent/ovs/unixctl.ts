// OVS daemons' control socket (unixctl) spoken directly: JSON-RPC 1.0 on a unix socket, the
// protocol ovs-appctl uses — {"method": "dpctl/dump-conntrack", "params": ["-m", …], "id": n}
// answered by {"id": n, "result": "<the text ovs-appctl prints>", "error": null}. One request
// per connection, as ovs-appctl does; a call costs no process start (~10 ms per ovs-appctl
// run here, more on a loaded box) and the reply is the same text.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import path from 'node:path';

export class UnixctlError extends Error {
  constructor(readonly method: string, message: string) {
    super(`${method}: ${message}`);
    this.name = 'UnixctlError';
  }
}

/** Calls `method` on the daemon listening on `socketPath`; resolves with its result text. */
export function unixctlCall(socketPath: string, method: string, params: readonly string[] = [], timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(socketPath);
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (err: Error | undefined, result?: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(result!);
    };
    const timer = setTimeout(() => finish(new UnixctlError(method, `no reply from ${socketPath} within ${timeoutMs} ms`)), timeoutMs);
    sock.on('connect', () => sock.write(JSON.stringify({ method, params, id: 0 })));
    // The reply is one JSON object (a 10k-entry dump is ~2.5 MB in ~40 chunks). Scanning each
    // chunk into a growing string costs a copy of the whole text per chunk; instead the chunks
    // are kept and parsed once one ends in '}' (a '}' that is not the end just fails to parse).
    sock.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      let end = chunk.length - 1;
      while (end >= 0 && (chunk[end] === 0x0a || chunk[end] === 0x20 || chunk[end] === 0x0d || chunk[end] === 0x09)) end--;
      if (end < 0 || chunk[end] !== 0x7d) return;
      let reply: { result?: unknown; error?: unknown };
      try {
        reply = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof reply;
      } catch {
        return;
      }
      if (reply.error !== null && reply.error !== undefined) return finish(new UnixctlError(method, String(reply.error).trim()));
      finish(undefined, typeof reply.result === 'string' ? reply.result : '');
    });
    sock.on('error', (err) => finish(new UnixctlError(method, `${socketPath}: ${err.message}`)));
    sock.on('close', () => finish(new UnixctlError(method, `${socketPath} closed the connection before replying`)));
  });
}

/**
 * The control socket of a daemon: `target` as ovs-appctl takes it — a socket path, or a
 * daemon name whose pid file in the run directory (OVS_RUNDIR, else /var/run/openvswitch) names
 * `<name>.<pid>.ctl`.
 */
export async function unixctlSocket(target: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (target.includes('/')) return target;
  const runDir = env.OVS_RUNDIR ?? '/var/run/openvswitch';
  const pid = (await readFile(path.join(runDir, `${target}.pid`), 'utf8')).trim();
  if (!/^\d+$/.test(pid)) throw new Error(`${runDir}/${target}.pid: expected a process id`);
  return path.join(runDir, `${target}.${pid}.ctl`);
}

/** The box's vswitchd control socket: the lab names it ovs-vswitchd.ctl; a system OVS finds it by pid file. */
export function vswitchdTarget(runDir: string): string {
  const ctl = path.join(runDir, 'ovs-vswitchd.ctl');
  return existsSync(ctl) ? ctl : 'ovs-vswitchd';
}
