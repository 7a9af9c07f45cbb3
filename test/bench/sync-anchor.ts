// The raw anchor for the sync benches: a bare aedes broker in its own process (no auth, no ACL,
// no store) and plain MQTT clients exchanging the same messages as one sync round — the
// controller's desired envelope to each node (QoS 1, retained) and each node's reported envelope
// back (QoS 1) — timed from the first publish until every reply is in. Nagle is off on the raw
// broker's and clients' TCP sockets, as on Seine's (its embedded broker and src/lib/mqtt-nodelay.ts):
// with it on, every message waits for a delayed ACK (~40 ms) and the anchor would flatter Seine.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import mqtt, { type MqttClient } from 'mqtt';
import { ENVELOPE_VERSION, nodeTopic, type DesiredEnvelope, type ReportedEnvelope } from '../../src/api/mqtt.js';
import type { DesiredObject } from '../../src/api/node-state.js';
import { projectRoot } from '../../src/lib/paths.js';
import { disableNagle } from '../../src/lib/mqtt-nodelay.js';
import type { NodeReported } from '../../src/api/node-state.js';
import { freePort } from '../../src/lib/free-port.js';
import { childExit, withDeadline } from './harness.js';

const BROKER_JS = `
import { Aedes } from 'aedes';
import net from 'node:net';
const [socketPath] = process.argv.slice(1);
const aedes = await Aedes.createBroker();
const servers = [net.createServer({ noDelay: true }, aedes.handle), ...(socketPath ? [net.createServer(aedes.handle)] : [])];
servers[0].listen(0, '127.0.0.1', () => {
  if (socketPath) servers[1].listen(socketPath, () => console.log(servers[0].address().port));
  else console.log(servers[0].address().port);
});
`;

export interface RawBroker {
  url: string;
  /** mqtt+unix:// URL when started with a socket path. */
  socketUrl?: string;
  pid: number;
  stop(): Promise<void>;
}

/**
 * A bare mosquitto (anonymous, no ACL, no persistence) on a free 127.0.0.1 port: the anchor
 * when Seine runs against mosquitto. `extra` are the same tuning lines Seine's mosquitto got.
 */
export async function startRawMosquitto(extra: readonly string[] = []): Promise<RawBroker> {
  const dir = await mkdtemp(path.join(tmpdir(), 'seine-raw-mosq-'));
  const port = await freePort();
  const conf = path.join(dir, 'mosquitto.conf');
  await writeFile(conf, [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false', ...(process.getuid?.() === 0 ? ['user root'] : []), ...extra, ''].join('\n'));
  const child = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await childExit(child, 10_000, 'the raw mosquitto exiting on SIGTERM').catch(() => child.kill('SIGKILL'));
    }
    await rm(dir, { recursive: true, force: true });
  };
  for (const end = performance.now() + 10_000; ;) {
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => (s.destroy(), resolve(true))).once('error', () => resolve(false));
    });
    if (up) break;
    if (performance.now() > end || child.exitCode !== null) {
      await stop();
      throw new Error('the raw mosquitto did not start');
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url: `mqtt://127.0.0.1:${port}`, pid: child.pid!, stop };
}

/** A bare aedes in a child process (the controller also runs in its own process). */
export async function startRawBroker(socketPath?: string): Promise<RawBroker> {
  const child: ChildProcess = spawn(process.execPath, ['--input-type=module', '-e', BROKER_JS, '--', ...(socketPath ? [socketPath] : [])], {
    cwd: projectRoot, stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await withDeadline(new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', (l) => resolve(Number(l)));
    child.once('exit', (code) => reject(new Error(`raw aedes exited with ${code}`)));
  }), 30_000, 'the raw aedes printing its port').catch((err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });
  return {
    url: `mqtt://127.0.0.1:${port}`,
    ...(socketPath ? { socketUrl: `mqtt+unix://${socketPath}` } : {}),
    pid: child.pid!,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await childExit(child, 10_000, 'the raw aedes exiting on SIGTERM').catch(() => child.kill('SIGKILL'));
    },
  };
}

export function connectRaw(url: string, clientId: string): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, { clientId, clean: true, reconnectPeriod: 0, connectTimeout: 30_000 });
    disableNagle(c);
    c.once('connect', () => resolve(c));
    c.once('error', reject);
    c.once('close', () => reject(new Error(`raw client ${clientId}: connection closed before CONNACK`)));
  });
}

export function desiredEnvelope(node: string, generation: number, objects: Record<string, DesiredObject>): DesiredEnvelope {
  return { v: ENVELOPE_VERSION, node, generation, ts: Date.now(), kind: 'desired', payload: { node, generation, objects } };
}

export function reportedEnvelope(node: string, generation: number, objects: Record<string, DesiredObject>, inventory: NodeReported['inventory'] = { pods: [] }): ReportedEnvelope {
  const realized = Object.fromEntries(Object.entries(objects).map(([k, o]) => [k, { generation: o.generation, phase: 'Realized' as const }]));
  return {
    v: ENVELOPE_VERSION, node, generation, ts: Date.now(), kind: 'reported',
    payload: { node, observedGeneration: generation, objects: realized, errors: [], inventory, agentVersion: '0.1.0', uptimeSeconds: 1 },
  };
}

/**
 * `nodes` echo clients answer each desired message with a reported one; `round()` publishes one
 * desired message per node and resolves with the ms until all replies arrived. `inventory(i)` is
 * what node i's replies carry (the same inventory the measured agents report).
 */
export async function rawRoundTrips(url: string, nodes: string[], objects: (generation: number) => Record<string, DesiredObject>, inventory?: (index: number) => NodeReported['inventory']): Promise<{ round(): Promise<number>; close(): Promise<void>; connectMs: number }> {
  const t0 = performance.now();
  const controller = await connectRaw(url, 'raw-controller');
  const agents: MqttClient[] = [];
  for (let i = 0; i < nodes.length; i += 50) {
    agents.push(...(await Promise.all(nodes.slice(i, i + 50).map(async (node, k) => {
      const c = await connectRaw(url, `raw-${node}`);
      const inv = inventory?.(i + k);
      c.on('message', (_t, payload) => {
        const d = JSON.parse(payload.toString()) as DesiredEnvelope & { generation: number };
        // An echo still waiting for its PUBACK when the clients close is not an error.
        c.publishAsync(nodeTopic(node, 'reported'), JSON.stringify(reportedEnvelope(node, d.generation, d.payload.objects, inv)), { qos: 1 }).catch(() => {});
      });
      await c.subscribeAsync(nodeTopic(node, 'desired'), { qos: 1 });
      return c;
    }))));
  }
  const connectMs = performance.now() - t0;
  await controller.subscribeAsync('seine/v1/nodes/+/reported', { qos: 1 });
  let generation = 1;
  let waiting: { left: number; done: () => void } | undefined;
  controller.on('message', () => {
    if (waiting && --waiting.left === 0) waiting.done();
  });
  return {
    connectMs,
    async round() {
      const g = ++generation;
      const doc = objects(g);
      const t0 = performance.now();
      const all = new Promise<void>((done) => (waiting = { left: nodes.length, done }));
      await Promise.all(nodes.map((node) => controller.publishAsync(nodeTopic(node, 'desired'), JSON.stringify(desiredEnvelope(node, g, doc)), { qos: 1, retain: true })));
      await all;
      return performance.now() - t0;
    },
    async close() {
      await Promise.all([controller, ...agents].map((c) => c.endAsync(true)));
    },
  };
}

/** VmRSS of a process in MiB. */
export async function rssMiB(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const m = /VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** CPU time (user + system) a process has used so far, in ms (/proc/<pid>/stat; NaN once it is gone). */
export async function cpuMs(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  // The fields after the command name (which may hold spaces): state is the 1st, utime the 12th, stime the 13th.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return f.length > 13 ? ((Number(f[11]) + Number(f[12])) * 1000) / CLOCK_TICKS : NaN;
}

/** USER_HZ: 100 on every Linux this runs on (getconf CLK_TCK). */
const CLOCK_TICKS = 100;
