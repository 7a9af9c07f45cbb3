// Shared pieces for the controller tests: a controller on free 127.0.0.1 ports with its store
// in a temp dir, agents' sync modules with their own SQLite, a realizer that records what it
// got (the boundary these tests stop at), REST calls and manifests.
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import mqtt, { type MqttClient } from 'mqtt';
import { parse } from 'yaml';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ControllerConfigSchema, SeinectlConfigSchema, type ControllerConfigInput } from '../../src/api/config.js';
import type { DesiredObject, NodeReported } from '../../src/api/node-state.js';
import { AgentSync, type AgentSyncOptions } from '../../src/agent/sync/agent-sync.js';
import { RealizerRegistry, type RealizeOutcome, type Realizer } from '../../src/agent/sync/realizers.js';
import { Controller, type ControllerSeams } from '../../src/controller/main.js';
import { Database } from '../../src/lib/sqlite.js';
import { Backoff } from '../../src/lib/backoff.js';
import { agentClientId } from '../../src/api/mqtt.js';

export async function tempDir(prefix = 'seine-ctl-'): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

export function controllerConfig(dir: string, extra: Partial<ControllerConfigInput> = {}) {
  return ControllerConfigSchema.parse({ listen: '127.0.0.1:0', brokerListen: '127.0.0.1:0', storePath: path.join(dir, 'controller.db'), ...extra });
}

/** What a test client of a controller needs: its CA (TLS) and the admin token from its admin file. */
interface ClientTrust {
  ca?: Buffer;
  caFile?: string;
  token?: string;
}
const trust = new Map<string, ClientTrust>();

/** The CA and admin token for a controller's REST or MQTT URL (empty for an insecure one). */
export function trustOf(url: string): ClientTrust {
  return trust.get(url) ?? {};
}

/** seinectl's flags for a controller started here: --server, and its CA and admin token when it has them. */
export function clientFlags(url: string): string[] {
  const t = trustOf(url);
  return ['--server', url, ...(t.caFile ? ['--certificate-authority', t.caFile] : []), ...(t.token ? ['--token', t.token] : [])];
}

/**
 * A controller with the secure defaults (its own PKI and admin file in `dir`) unless `extra` says
 * insecure: true. api() and startAgent() find its CA and admin token by URL.
 */
export async function startController(dir: string, extra: Partial<ControllerConfigInput> = {}, seams?: ControllerSeams): Promise<Controller> {
  const c = await Controller.start(controllerConfig(dir, extra), seams);
  if (c.pki) {
    const token = c.adminFile ? SeinectlConfigSchema.parse(parse(readFileSync(c.adminFile, 'utf8'))).token : undefined;
    const t = { ca: c.pki.ca, caFile: c.pki.caFile, ...(token ? { token } : {}) };
    trust.set(c.restUrl, t);
    trust.set(c.brokerUrl, t);
  }
  return c;
}

/** Records every set it is asked to realize; can be told to fail named objects. */
export class RecordingRealizer implements Realizer {
  readonly calls: Map<string, DesiredObject>[] = [];
  failing = new Map<string, string>();

  async realize(objects: ReadonlyMap<string, DesiredObject>): Promise<ReadonlyMap<string, RealizeOutcome>> {
    this.calls.push(new Map(objects));
    return new Map([...objects.keys()].map((k): [string, RealizeOutcome] => [k, this.failing.has(k) ? { ok: false, reason: this.failing.get(k)! } : { ok: true }]));
  }

  get last(): Map<string, DesiredObject> | undefined {
    return this.calls.at(-1);
  }
}

export interface TestAgent {
  node: string;
  sync: AgentSync;
  realizer: RecordingRealizer;
  db: Database;
  stop(): Promise<void>;
}

export async function startAgent(opts: {
  node: string; url: string; password?: string; tls?: AgentSyncOptions['tls']; dir: string; realizer?: RecordingRealizer; registerAcnp?: boolean;
  protocolVersion?: 4 | 5;
  /** What the agent reports as its inventory (default testInventory(node)). */
  inventory?: () => NodeReported['inventory'];
}): Promise<TestAgent> {
  const db = await Database.open(path.join(opts.dir, `${opts.node}.db`));
  const realizers = new RealizerRegistry();
  const realizer = opts.realizer ?? new RecordingRealizer();
  if (opts.registerAcnp !== false) realizers.registerRealizer({ kind: 'ClusterNetworkPolicy', group: 'crd.antrea.io' }, realizer);
  // A TLS controller's CA unless the test brings its own TLS options.
  const ca = trustOf(opts.url).ca;
  const tls = opts.tls ?? (ca ? { ca } : undefined);
  const sync = await AgentSync.open({
    node: opts.node, url: opts.url, username: opts.node, db, realizers, agentVersion: '0.1.0-test',
    ...(opts.password !== undefined ? { password: opts.password } : {}), ...(tls ? { tls } : {}),
    ...(opts.protocolVersion ? { protocolVersion: opts.protocolVersion } : {}),
    backoff: new Backoff({ initialMs: 50, maxMs: 500 }),
    inventory: opts.inventory ?? (() => testInventory(opts.node)),
  });
  await sync.start();
  return {
    node: opts.node, sync, realizer, db,
    stop: async () => {
      await sync.stop();
      await db.close();
    },
  };
}

const agentIndex = new Map<string, number>();

/**
 * What a test agent reports: a web and a db pod in `default`, so the controller's span puts the
 * fixture's acnp() (app=web) and netpol() (app=db) on every test agent.
 */
export function testInventory(node: string): NodeReported['inventory'] {
  if (!agentIndex.has(node)) agentIndex.set(node, agentIndex.size + 1);
  const i = agentIndex.get(node)!;
  return {
    pods: [
      { namespace: 'default', name: `web-${node}`, ips: [`10.42.${i}.2`], labels: { app: 'web' } },
      { namespace: 'default', name: `db-${node}`, ips: [`10.42.${i}.3`], labels: { app: 'db' } },
    ],
    namespaces: { default: { 'kubernetes.io/metadata.name': 'default' } },
  };
}

export function acnp(name: string, priority = 5, tier?: string) {
  return {
    apiVersion: 'crd.antrea.io/v1beta1',
    kind: 'ClusterNetworkPolicy',
    metadata: { name },
    spec: {
      priority,
      ...(tier ? { tier } : {}),
      appliedTo: [{ podSelector: { matchLabels: { app: 'web' } } }],
      ingress: [{ action: 'Allow', from: [{ podSelector: { matchLabels: { app: 'client' } } }], ports: [{ protocol: 'TCP', port: 80 }] }],
    },
  };
}

export function netpol(name: string, namespace = 'default') {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name, namespace },
    spec: { podSelector: { matchLabels: { app: 'db' } }, policyTypes: ['Ingress'] },
  };
}

export interface ApiReply<T = any> {
  status: number;
  body: T;
}

/**
 * A REST call; to a TLS controller started here with its CA and (unless `token` is given, or
 * null for none) its admin token.
 */
export async function api<T = any>(base: string, method: string, urlPath: string, body?: unknown, token?: string | null): Promise<ApiReply<T>> {
  const t = trustOf(base);
  const bearer = token === null ? undefined : (token ?? t.token);
  const { status, text } = await request(new URL(`${base}${urlPath}`), method, {
    'content-type': 'application/json', ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
  }, body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body), t.ca);
  return { status, body: text ? JSON.parse(text) : undefined };
}

/** A raw HTTP(S) request to a controller started here (its CA trusted); the body as text. */
export function rawRequest(url: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; text: string }> {
  const u = new URL(url);
  return request(u, opts.method ?? 'GET', opts.headers ?? {}, opts.body, trustOf(u.origin).ca);
}

function request(url: URL, method: string, headers: Record<string, string>, body: string | undefined, ca: Buffer | undefined): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = (url.protocol === 'https:' ? https : http).request(url, { method, headers, ...(ca ? { ca } : {}) }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d)).on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Connects once, no retries; resolves the client or rejects with the reason. */
export function tryConnect(url: string, opts: mqtt.IClientOptions): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 3000, clean: true, ...opts });
    c.once('connect', () => resolve(c));
    c.once('error', (err) => {
      c.end(true);
      reject(err);
    });
    c.once('close', () => reject(new Error('connection closed before CONNACK')));
  });
}

/** A password login as `username` (client id bound to it), trusting the controller's CA when it has one. */
export function connectAs(url: string, username: string, password: string, clientId = agentClientId(username)): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const ca = trustOf(url).ca;
    const c = mqtt.connect(url, { clientId, username, password, reconnectPeriod: 0, clean: true, connectTimeout: 3000, ...(ca ? { ca } : {}) });
    c.once('connect', () => resolve(c));
    c.once('error', (err) => {
      c.end(true);
      reject(err);
    });
  });
}
