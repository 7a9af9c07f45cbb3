// Real-traffic probes between lab pods for the policy matrix: TCP/UDP echo listeners started in
// pods (python3, recorded as lab processes so `lab down` stops them), one-shot probes that tell
// allowed / dropped (no answer within the timeout) / rejected (an immediate refusal: TCP RST or
// an ICMP unreachable) apart, and long-lived TCP connections to test policy updates on open
// connections.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import type { Lab } from '../../src/lab/lab.js';
import type { PodState } from '../../src/lab/state.js';
import { run } from '../../src/lib/exec.js';
import { sleep } from '../../src/lib/process.js';

export type Proto = 'tcp' | 'udp' | 'icmp';
export type Verdict = 'allowed' | 'dropped' | 'rejected';

const PYTHON = '/usr/bin/python3';

/**
 * Python echo listeners (needs `socket` and `threading` imported): `echo_threads(addr, tcp, udp)`
 * binds every TCP and UDP port first, then returns one unstarted thread per listener, so a caller
 * that prints its readiness after this has every socket bound. Shared with sctp-traffic.ts.
 */
export const ECHO_LISTENERS_PY = String.raw`
def serve_conn(c):
    try:
        while True:
            d = c.recv(4096)
            if not d: break
            c.sendall(d)
    except OSError: pass
    finally: c.close()
def serve_tcp(s):
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve_conn, args=(c,), daemon=True).start()
def serve_udp(s):
    while True:
        d, a = s.recvfrom(4096); s.sendto(d, a)
def echo_threads(addr, tcp, udp):
    ts = []
    for p in tcp:
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, p)); s.listen(64)
        ts.append(threading.Thread(target=serve_tcp, args=(s,), daemon=True))
    for p in udp:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((addr, p))
        ts.append(threading.Thread(target=serve_udp, args=(s,), daemon=True))
    return ts
`;

/** TCP echo on every --tcp port, UDP echo on every --udp port, one thread per listener. */
const SERVER_PY = String.raw`
import socket, sys, threading
tcp = [int(p) for p in sys.argv[1].split(',') if p]
udp = [int(p) for p in sys.argv[2].split(',') if p]
${ECHO_LISTENERS_PY}
ts = echo_threads('0.0.0.0', tcp, udp)
for t in ts: t.start()
print('listening', flush=True)
for t in ts: t.join()
`;

/** One probe: prints `allowed`, `dropped` or `rejected <errno name>`. */
const PROBE_PY = String.raw`
import errno, socket, sys
proto, host, port, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
def refused(e):
    print('rejected', errno.errorcode.get(e.errno, str(e.errno))); sys.exit(0)
if proto == 'tcp':
    s = socket.socket(); s.settimeout(timeout)
    try:
        s.connect((host, port)); s.sendall(b'x')
        if s.recv(16) != b'x': print('dropped no-echo'); sys.exit(0)
        print('allowed')
    except socket.timeout: print('dropped')
    except OSError as e: refused(e)
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(timeout)
    s.connect((host, port))
    try:
        s.send(b'probe'); d = s.recv(64)
        print('allowed' if d == b'probe' else 'dropped wrong-echo')
    except socket.timeout: print('dropped')
    except OSError as e: refused(e)
`;

/** A long-lived TCP connection: each stdin line is sent; prints ok / timeout / closed / error. */
const CONN_PY = String.raw`
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)
print('connected', flush=True)
for line in sys.stdin:
    s.settimeout(float(sys.argv[3]))
    try:
        s.sendall(line.encode()); d = s.recv(4096)
        print('ok' if d else 'closed', flush=True)
    except socket.timeout: print('timeout', flush=True)
    except OSError as e: print('error', e.errno, flush=True)
`;

export class Traffic {
  constructor(private readonly lab: Lab, readonly timeoutS = 1) {}

  private script(name: string): string {
    return path.join(this.lab.dir, name);
  }

  async install(): Promise<void> {
    await writeFile(this.script('echo-server.py'), SERVER_PY);
    await writeFile(this.script('probe.py'), PROBE_PY);
    await writeFile(this.script('conn.py'), CONN_PY);
  }

  /** Starts the echo listeners in a pod (a lab process) and waits until they answer locally. */
  async listen(pod: PodState, tcp: number[], udp: number[]): Promise<void> {
    await this.lab.startProcess({
      role: `listen-${pod.namespace}-${pod.name}`,
      command: 'ip',
      args: ['netns', 'exec', pod.netns, PYTHON, '-u', this.script('echo-server.py'), tcp.join(','), udp.join(',')],
    });
    const end = Date.now() + 5000;
    for (;;) {
      const checks = await Promise.all([
        ...tcp.map((p) => this.probeIn(pod.netns, '127.0.0.1', 'tcp', p)),
        ...udp.map((p) => this.probeIn(pod.netns, '127.0.0.1', 'udp', p)),
      ]);
      if (checks.every((c) => c.verdict === 'allowed')) return;
      if (Date.now() > end) throw new Error(`listeners in ${pod.namespace}/${pod.name} not up: ${checks.map((c) => c.detail).join(', ')}`);
      await sleep(100);
    }
  }

  private async probeIn(netns: string, host: string, proto: Proto, port: number): Promise<{ verdict: Verdict; detail: string; ms: number }> {
    const t0 = Date.now();
    if (proto === 'icmp') {
      // A reject answers with an ICMP unreachable: ping prints "From <ip> … Unreachable/Prohibited/filtered".
      const r = await run('ip', ['netns', 'exec', netns, 'ping', '-n', '-c1', '-W', String(this.timeoutS), host], { allowFailure: true });
      const ms = Date.now() - t0;
      if (r.code === 0 && / 1 received/.test(r.stdout)) return { verdict: 'allowed', detail: 'echo reply', ms };
      const err = r.stdout.split('\n').find((l) => /^From /.test(l));
      return err ? { verdict: 'rejected', detail: err.trim(), ms } : { verdict: 'dropped', detail: 'no reply', ms };
    }
    const r = await run('ip', ['netns', 'exec', netns, PYTHON, this.script('probe.py'), proto, host, String(port), String(this.timeoutS)], { allowFailure: true });
    const ms = Date.now() - t0;
    const out = r.stdout.trim();
    const verdict = (out.split(' ')[0] || 'error') as Verdict;
    if (!['allowed', 'dropped', 'rejected'].includes(verdict)) throw new Error(`probe failed: ${r.stderr || out}`);
    return { verdict, detail: out, ms };
  }

  /** One connection attempt from a pod to a pod (ICMP: one echo request). */
  probe(from: PodState, to: PodState, proto: Proto, port = 0): Promise<{ verdict: Verdict; detail: string; ms: number }> {
    return this.probeIn(from.netns, to.ip!, proto, port);
  }

  /** Opens a TCP connection that stays open; `exchange()` sends a line and waits for the echo. */
  async open(from: PodState, to: PodState, port: number): Promise<OpenConnection> {
    const child = spawn('ip', ['netns', 'exec', from.netns, PYTHON, '-u', this.script('conn.py'), to.ip!, String(port), String(this.timeoutS)]);
    const conn = new OpenConnection(child);
    const first = await conn.next(5000);
    if (first !== 'connected') {
      conn.close();
      throw new Error(`could not open ${from.name} -> ${to.name}:${port}: ${first}`);
    }
    return conn;
  }
}

export class OpenConnection {
  private readonly lines: string[] = [];
  private waiter: ((l: string) => void) | undefined;
  private readonly rl: Interface;
  private stderr = '';

  constructor(private readonly child: ChildProcessWithoutNullStreams) {
    this.rl = createInterface({ input: child.stdout });
    this.rl.on('line', (l) => {
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = undefined;
        w(l);
      } else this.lines.push(l);
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    child.on('close', () => this.waiter?.(`exited: ${this.stderr.trim()}`));
  }

  next(ms: number): Promise<string> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.waiter = undefined;
        resolve('no answer from the client');
      }, ms);
      this.waiter = (line) => {
        clearTimeout(t);
        resolve(line);
      };
    });
  }

  /** Sends one line on the open connection: 'ok' when it came back. */
  async exchange(): Promise<string> {
    this.child.stdin.write('hello\n');
    return this.next(5000);
  }

  close(): void {
    this.rl.close();
    this.child.stdin.end();
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
  }
}
