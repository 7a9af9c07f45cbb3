// Shared pieces of the CNI integration tests and bench: a box namespace with a private OVS
// instance and br-int (one userspace OVS per namespace: each owns the "ovs-netdev" tap), the
// agent's CNI server in-process on a socket in a temp dir, a small real PodPortConnector
// (ovs-vsctl add-port with Antrea's external_ids), pod namespaces, and the real seine-cni
// binary run exactly as containerd runs it (env + stdin, result on stdout).
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../../src/lib/exec.js';
import { Database } from '../../src/lib/sqlite.js';
import { setLogLevel } from '../../src/lib/log.js';
import { startOvsInstance, stopOvsInstance, type OvsInstance } from '../../src/lab/ovs-instance.js';
import { HostLocalIpam } from '../../src/agent/ipam/host-local.js';
import { PodConfigurator } from '../../src/agent/cni/pod-configurator.js';
import { CniServer } from '../../src/agent/cni/server.js';
import type { PodPort, PodPortConnector, PodRef } from '../../src/agent/cni/pod-network.js';

// The agent logs every call; keep test output readable unless asked (SEINE_LOG_LEVEL=info).
if (!process.env.SEINE_LOG_LEVEL) setLogLevel('error');

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const cniBinary = path.join(repo, 'dist/cni/main.js');

/** The tests drive the compiled binary; a stale one would test old code. */
export function requireBuiltBinary(): void {
  const src = path.join(repo, 'src/cni/main.ts');
  if (!existsSync(cniBinary)) throw new Error(`${cniBinary} is missing: run npm run build`);
  if (statSync(cniBinary).mtimeMs < statSync(src).mtimeMs) throw new Error(`${cniBinary} is older than src/cni/main.ts: run npm run build`);
}

/** Real connector for tests: the agent's own one (src/agent/ovs) adds flows as well. */
export class VsctlPortConnector implements PodPortConnector {
  constructor(readonly inst: Pick<OvsInstance, 'dbRemote' | 'env'>, readonly bridge = 'br-int') {}

  private vsctl(args: string[]) {
    return run('ovs-vsctl', [`--db=${this.inst.dbRemote}`, '--timeout=10', ...args], { env: this.inst.env });
  }

  async connect(hostIfname: string, pod: PodPort): Promise<{ ofport: number }> {
    const ids = { 'container-id': pod.containerId, 'ip-address': pod.ip, 'attached-mac': pod.mac, 'pod-name': pod.name, 'pod-namespace': pod.namespace };
    await this.vsctl([
      '--', '--may-exist', 'add-port', this.bridge, hostIfname,
      '--', 'set', 'interface', hostIfname, ...Object.entries(ids).map(([k, v]) => `external_ids:${k}="${v}"`),
    ]);
    const ofport = Number((await this.vsctl(['get', 'interface', hostIfname, 'ofport'])).stdout.trim());
    if (!(ofport > 0)) {
      const error = (await this.vsctl(['get', 'interface', hostIfname, 'error'])).stdout.trim();
      throw new Error(`OVS gave ${hostIfname} no ofport: ${error}`);
    }
    return { ofport };
  }

  async disconnect(hostIfname: string, _pod: PodRef): Promise<void> {
    await this.vsctl(['--if-exists', 'del-port', this.bridge, hostIfname]);
  }

  /** Container ids that still have a port: what the agent passes to IPAM reconcile. */
  async liveContainerIds(): Promise<Set<string>> {
    const out = await this.vsctl(['--format=json', '--columns=external_ids', 'list', 'interface']);
    const rows = (JSON.parse(out.stdout) as { data: [[string, [string, string][]]][] }).data;
    const ids = new Set<string>();
    for (const [[, pairs]] of rows) for (const [k, v] of pairs) if (k === 'container-id') ids.add(v);
    return ids;
  }

  async portNames(): Promise<string[]> {
    return (await this.vsctl(['list-ports', this.bridge])).stdout.split('\n').filter(Boolean);
  }
}

export interface CniLab {
  dir: string;
  /** The box namespace: OVS and the pods' host veth ends live here. */
  box: { name: string; path: string };
  ovs: OvsInstance;
  socketPath: string;
  dbFile: string;
  podCidr: string;
  connector: VsctlPortConnector;
  db: Database;
  ipam: HostLocalIpam;
  server: CniServer;
  /** Stop the server and close SQLite, then open both again on the same files (an agent restart). */
  restartAgent(): Promise<void>;
  /** Run a command in the box namespace. */
  inBox(cmd: string, args: string[]): ReturnType<typeof run>;
  hostLinkExists(ifname: string): Promise<boolean>;
  stop(): Promise<void>;
}

export interface CniLabOptions {
  podCidr?: string;
  mtu?: number;
}

let labSeq = 0;

export async function startCniLab(opts: CniLabOptions = {}): Promise<CniLab> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'seine-cni-'));
  const box = await addNetns(`box${++labSeq}`);
  let ovs: OvsInstance | undefined;
  try {
    await run('ip', ['-n', box.name, 'link', 'set', 'lo', 'up']);
    ovs = await startOvsInstance(path.join(dir, 'ovs'), box.name);
    await run('ovs-vsctl', [`--db=${ovs.dbRemote}`, 'add-br', 'br-int', '--', 'set', 'bridge', 'br-int', 'datapath_type=netdev'], { env: ovs.env });
    const connector = new VsctlPortConnector(ovs);
    const podCidr = opts.podCidr ?? '10.244.7.0/24';
    const dbFile = path.join(dir, 'agent.db');
    const socketPath = path.join(dir, 'run', 'cni.sock');
    const lab = { dir, box, ovs, socketPath, dbFile, podCidr, connector } as CniLab;
    lab.inBox = (cmd, args) => run('nsenter', [`--net=${box.path}`, cmd, ...args]);
    lab.hostLinkExists = async (ifname) => (await run('ip', ['-n', box.name, 'link', 'show', 'dev', ifname], { allowFailure: true })).code === 0;
    const openAgent = async () => {
      lab.db = await Database.open(dbFile);
      lab.ipam = await HostLocalIpam.open(lab.db, podCidr);
      const podNetwork = new PodConfigurator({ ipam: lab.ipam, connector, defaultMtu: opts.mtu ?? 1450, userspaceDatapath: true, hostNetns: box.path });
      lab.server = new CniServer({ socketPath, podNetwork });
      await lab.server.start();
    };
    const closeAgent = async () => {
      await lab.server?.stop();
      await lab.db?.close();
    };
    lab.restartAgent = async () => {
      await closeAgent();
      await openAgent();
    };
    lab.stop = async () => {
      await closeAgent().catch(() => {});
      await stopOvsInstance(ovs!, false);
      await delNetns(box.name);
      await rm(dir, { recursive: true, force: true });
    };
    await openAgent();
    return lab;
  } catch (err) {
    if (ovs) await stopOvsInstance(ovs, false).catch(() => {});
    await delNetns(box.name);
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

// ---- pod namespaces -----------------------------------------------------------------------

/** A prefix unique to this test process, so cleanup only ever touches our namespaces. */
export const netnsPrefix = `seinecni-${process.pid}`;

export async function addNetns(suffix: string): Promise<{ name: string; path: string }> {
  const name = `${netnsPrefix}-${suffix}`;
  await run('ip', ['netns', 'add', name]);
  return { name, path: `/var/run/netns/${name}` };
}

export async function delNetns(name: string): Promise<void> {
  await run('ip', ['netns', 'del', name], { allowFailure: true });
}

/** Remove every namespace this process created (after hooks). */
export async function delAllNetns(): Promise<void> {
  const out = await run('ip', ['netns', 'list'], { allowFailure: true });
  for (const line of out.stdout.split('\n')) {
    const name = line.split(' ')[0];
    if (name.startsWith(`${netnsPrefix}-`)) await delNetns(name);
  }
}

// ---- the binary ---------------------------------------------------------------------------

export interface CniCallSpec {
  command?: string;
  containerId?: string;
  netns?: string;
  ifname?: string;
  args?: string;
  cniPath?: string;
}

export interface CniOutcome {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** Parsed stdout (undefined when empty). */
  json?: Record<string, any>;
  ms: number;
}

export function podArgs(namespace: string, name: string, containerId: string): string {
  return `IgnoreUnknown=1;K8S_POD_NAMESPACE=${namespace};K8S_POD_NAME=${name};K8S_POD_INFRA_CONTAINER_ID=${containerId}`;
}

export function netConf(socketPath: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { cniVersion: '1.0.0', name: 'seine', type: 'seine', agentSocket: socketPath, ...extra };
}

/**
 * Run `node dist/cni/main.js` with only the CNI_* variables and PATH, as containerd does
 * (no NODE_EXTRA_CA_CERTS or other shell baggage: it costs node ~80 ms at start-up).
 * Pass `env` entries as undefined to leave a variable out, `config` as a string to send raw stdin.
 */
export function runCni(spec: CniCallSpec, config: Record<string, unknown> | string, env: Record<string, string | undefined> = {}): Promise<CniOutcome> {
  const base: Record<string, string | undefined> = {
    PATH: process.env.PATH,
    CNI_COMMAND: spec.command ?? 'ADD',
    CNI_CONTAINERID: spec.containerId,
    CNI_NETNS: spec.netns,
    CNI_IFNAME: spec.ifname ?? 'eth0',
    CNI_ARGS: spec.args,
    CNI_PATH: spec.cniPath ?? '/opt/cni/bin',
  };
  const merged: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...base, ...env })) if (v !== undefined) merged[k] = v;
  const input = typeof config === 'string' ? config : JSON.stringify(config);
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [cniBinary], { env: merged, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = performance.now() - t0;
      let json: Record<string, any> | undefined;
      if (stdout.trim()) {
        try {
          json = JSON.parse(stdout);
        } catch {
          return reject(new Error(`seine-cni printed non-JSON: ${stdout}`));
        }
      }
      resolve({ exitCode: code ?? -1, stdout, stderr, json, ms });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}

/** A container id like containerd's (64 hex). */
export function containerId(): string {
  return [...crypto.getRandomValues(new Uint8Array(32))].map((b) => b.toString(16).padStart(2, '0')).join('');
}
