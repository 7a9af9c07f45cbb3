// A real mosquitto for a test: its own temp dir, password files, the ACL file and config Seine
// generates (a node listener and a controller listener), optional TLS, on free 127.0.0.1 ports;
// stopped by its PID.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CONTROLLER_USERNAME } from '../../src/api/mqtt.js';
import { mosquittoAcl, mosquittoConfig } from '../../src/controller/broker/mosquitto.js';
import { requirePrereqs } from './prereqs.js';
import { freePort } from '../../src/lib/free-port.js';
export { freePort };

export interface MosquittoTls {
  caFile: string;
  certFile: string;
  keyFile: string;
  /** Clients must present a certificate signed by caFile; its CN is their username (no password). */
  certificateLogin?: boolean;
}

export interface MosquittoOptions {
  /** username → password, written with mosquitto_passwd. */
  users: Record<string, string>;
  /** ACL file content; default: the generated Seine ACL. */
  acl?: string;
  tls?: MosquittoTls;
  /** Lines appended to the generated config (after `user root` and `persistence false`). */
  extra?: readonly string[];
}

export interface Mosquitto {
  /** Where nodes connect (client id = username). */
  url: string;
  port: number;
  /** Where controllers (and test spies with the controller's login) connect. */
  controllerUrl: string;
  /** The broker's PID (for RSS). */
  pid: number;
  stop(): Promise<void>;
}

/** mosquitto with the generated config (mosquittoConfig): a node listener and a controller listener, on free 127.0.0.1 ports. */
export async function startMosquitto(opts: MosquittoOptions): Promise<Mosquitto> {
  requirePrereqs('mosquitto');
  const dir = await mkdtemp(path.join(tmpdir(), 'seine-mosq-'));
  const port = await freePort();
  const controllerPort = await freePort();
  const passwd = path.join(dir, 'passwd');
  const controllerPasswd = path.join(dir, 'passwd-controller');
  // Written in clear, then hashed in place by one mosquitto_passwd -U per file (10k users must not be 10k processes).
  const lines = (controller: boolean) => Object.entries(opts.users).filter(([u]) => (u === CONTROLLER_USERNAME) === controller).map(([u, p]) => `${u}:${p}\n`).join('');
  // mosquitto_passwd -U fails on an empty file (a broker whose clients log in by certificate).
  for (const [f, text] of [[passwd, lines(false)], [controllerPasswd, lines(true)]] as const) {
    await writeFile(f, text);
    if (text) execFileSync('mosquitto_passwd', ['-U', f]);
  }
  await writeFile(path.join(dir, 'acl'), opts.acl ?? mosquittoAcl());
  await writeFile(
    path.join(dir, 'mosquitto.conf'),
    mosquittoConfig({
      nodes: { port, host: '127.0.0.1' }, controllers: { port: controllerPort, host: '127.0.0.1' },
      nodePasswordFile: passwd, controllerPasswordFile: controllerPasswd, aclFile: path.join(dir, 'acl'),
      ...(opts.tls ? { tls: opts.tls } : {}),
      fleetSize: Object.keys(opts.users).length,
      extra: ['user root', 'persistence false', ...(opts.extra ?? [])],
    }),
  );
  const proc: ChildProcess = spawn('mosquitto', ['-c', path.join(dir, 'mosquitto.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      process.kill(proc.pid!, 'SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    }
    await rm(dir, { recursive: true, force: true });
  };
  // Up when its port accepts a TCP connection.
  for (let i = 0; ; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => (s.destroy(), resolve(true))).once('error', () => resolve(false));
    });
    if (up) break;
    if (i > 100 || proc.exitCode !== null) {
      await stop();
      throw new Error(`mosquitto did not start: ${stderr.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const scheme = opts.tls ? 'mqtts' : 'mqtt';
  return { url: `${scheme}://127.0.0.1:${port}`, port, controllerUrl: `${scheme}://127.0.0.1:${controllerPort}`, pid: proc.pid!, stop };
}

