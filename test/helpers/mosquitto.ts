// A real mosquitto for a test: its own temp dir, password file, ACL file (the one Seine
// generates), optional TLS listener, on a free 127.0.0.1 port; stopped by its PID.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { mosquittoAcl } from '../../src/controller/broker/mosquitto.js';
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
}

export interface Mosquitto {
  url: string;
  port: number;
  stop(): Promise<void>;
}


export async function startMosquitto(opts: MosquittoOptions): Promise<Mosquitto> {
  requirePrereqs('mosquitto');
  const dir = await mkdtemp(path.join(tmpdir(), 'seine-mosq-'));
  const port = await freePort();
  const passwd = path.join(dir, 'passwd');
  await writeFile(passwd, '');
  for (const [u, p] of Object.entries(opts.users)) execFileSync('mosquitto_passwd', ['-b', passwd, u, p]);
  await writeFile(path.join(dir, 'acl'), opts.acl ?? mosquittoAcl());
  const tls = opts.tls
    ? [`cafile ${opts.tls.caFile}`, `certfile ${opts.tls.certFile}`, `keyfile ${opts.tls.keyFile}`, ...(opts.tls.certificateLogin ? ['require_certificate true', 'use_identity_as_username true'] : [])]
    : [];
  await writeFile(
    path.join(dir, 'mosquitto.conf'),
    [`user root`, `listener ${port} 127.0.0.1`, ...tls, `allow_anonymous false`, `password_file ${passwd}`, `acl_file ${path.join(dir, 'acl')}`, `persistence false`, ''].join('\n'),
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
  return { url: `${opts.tls ? 'mqtts' : 'mqtt'}://127.0.0.1:${port}`, port, stop };
}

