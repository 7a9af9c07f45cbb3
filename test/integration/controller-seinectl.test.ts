// seinectl beyond get/apply: `describe` (kubectl-like, with status, conditions and per-node
// realization), the config file with flags overriding it, and `--local` reading a box's agent
// through its read-only local API (real controller, real agents' sync modules over MQTT, the
// real seinectl binary).
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import http from 'node:http';
import { Gauge, Registry } from 'prom-client';
import { AgentApiServer } from '../../src/agent/api-server.js';
import { FlowStore } from '../../src/agent/flows/store.js';
import type { Controller } from '../../src/controller/main.js';
import { distProgram } from '../../src/lib/paths.js';
import { spawnCollect } from '../helpers/spawn.js';
import { acnp, RecordingRealizer, startAgent, startController, tempDir, waitFor, type TestAgent } from './controller-fixture.js';

const TOKEN = 'admin-token-0123456789abcdef';
const KEY = 'ClusterNetworkPolicy.crd.antrea.io//web-allow';

describe('seinectl: describe, config file, --local', function () {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let controller: Controller;
  const agents: TestAgent[] = [];
  let local: AgentApiServer;
  let flowStore: FlowStore;
  let configPath: string;
  const run = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    spawnCollect(process.execPath, [distProgram('cli/seinectl.js'), ...args], { env: { PATH: process.env.PATH, HOME: tmp.dir, SEINECTL_CONFIG: configPath, ...env } });

  before(async function () {
    tmp = await tempDir('seine-ctl-cli-');
    controller = await startController(tmp.dir, { auth: { adminTokens: [TOKEN], readOnlyTokens: [] } });
    for (const node of ['box1', 'box2']) {
      const password = await controller.nodes.createCredentials(node, 'test');
      const realizer = new RecordingRealizer();
      if (node === 'box2') realizer.failing.set(KEY, 'no room for more flows');
      agents.push(await startAgent({ node, url: controller.brokerUrl, password, dir: tmp.dir, realizer }));
    }
    flowStore = await FlowStore.open(path.join(tmp.dir, 'box1-flows.db'));
    const registry = new Registry();
    new Gauge({ name: 'test_box_gauge', help: 'a gauge', registers: [registry] }).set(7);
    local = new AgentApiServer({ node: 'box1', agentVersion: '0.1.0-test', sync: agents[0]!.sync, registry, store: flowStore }, path.join(tmp.dir, 'box1-api.sock'));
    await local.start('127.0.0.1:0');
    configPath = path.join(tmp.dir, 'seinectl.yaml');
    await writeFile(configPath, stringify({ server: controller.restUrl, token: TOKEN, certificateAuthority: controller.pki!.caFile }));
    await waitFor('both online', async () => (await controller.nodes.list()).every((n) => n.online));
  });

  after(async function () {
    await local?.stop();
    await flowStore?.close();
    for (const a of agents) await a.stop();
    await controller?.stop();
    await tmp?.remove();
  });

  it('the config file gives server, token and CA; --server and --token override it', async function () {
    const manifest = path.join(tmp.dir, 'web.yaml');
    await writeFile(manifest, stringify(acnp('web-allow')));
    const ok = await run(['apply', '-f', manifest]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, 'clusternetworkpolicy/web-allow created\n');
    const badToken = await run(['--token', 'wrong-token-0123456789', 'get', 'acnp']);
    assert.equal(badToken.code, 1);
    assert.match(badToken.stderr, /unknown bearer token/);
    const envToken = await run(['get', 'acnp'], { SEINE_TOKEN: 'wrong-token-0123456789' });
    assert.match(envToken.stderr, /unknown bearer token/, 'SEINE_TOKEN overrides the file');
    const badServer = await run(['--server', 'http://127.0.0.1:1', 'get', 'acnp']);
    assert.match(badServer.stderr, /^seinectl: cannot reach the controller at http:\/\/127\.0\.0\.1:1: .*ECONNREFUSED/);
  });

  it('a missing or invalid config file is a clear error naming the field', async function () {
    const missing = await run(['get', 'acnp'], { SEINECTL_CONFIG: path.join(tmp.dir, 'nope.yaml') });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /nope\.yaml: no such file \(SEINECTL_CONFIG\)/);
    const bad = path.join(tmp.dir, 'bad.yaml');
    await writeFile(bad, 'server: ftp://x\ntokn: y\n');
    const invalid = await run(['get', 'acnp'], { SEINECTL_CONFIG: bad });
    assert.match(invalid.stderr, /bad\.yaml: server: expected an http:\/\/ or https:\/\/ URL/);
    assert.match(invalid.stderr, /tokn/);
  });

  it('describe shows metadata, spec, status with conditions and each node\'s realization', async function () {
    await waitFor('both nodes reported', async () => (await controller.nodes.reports()).size === 2 && [...(await controller.nodes.reports()).values()].every((r) => r.objects[KEY]));
    const r = await run(['describe', 'acnp', 'web-allow']);
    assert.equal(r.code, 0, r.stderr);
    const out = r.stdout;
    assert.match(out, /^Name:\s+web-allow$/m);
    assert.match(out, /^Kind:\s+ClusterNetworkPolicy$/m);
    assert.match(out, /^UID:\s+[0-9a-f-]{36}$/m);
    assert.match(out, /^Spec:\n[\s\S]*^ {2}priority: 5$/m);
    assert.match(out, /^ {2}Phase:\s+Failed$/m);
    assert.match(out, /^ {2}Nodes Realized:\s+1\/2$/m);
    assert.match(out, /Realized\s+False\s+NodeFailure\s+box2: no room for more flows/);
    assert.match(out, /^ {2}box1\s+yes\s+1\s+Realized$/m);
    assert.match(out, /^ {2}box2\s+yes\s+1\s+Failed\s+no room for more flows$/m);
    const missing = await run(['describe', 'acnp', 'nope']);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, 'seinectl: clusternetworkpolicy nope not found\n');
  });

  it('--local reads the box\'s agent: its policies, its node, describe; writes are refused', async function () {
    const sock = ['--local', '--agent-socket', path.join(tmp.dir, 'box1-api.sock')];
    const get = await run([...sock, 'get', 'acnp']);
    assert.equal(get.code, 0, get.stderr);
    assert.match(get.stdout, /^web-allow\s+application\s+5\s+1\s+1\s+<unknown>$/m);
    const nodes = await run([...sock, 'get', 'nodes', '-o', 'json']);
    const [n] = JSON.parse(nodes.stdout);
    assert.equal(n.name, 'box1');
    assert.equal(n.online, true);
    assert.equal(n.realizedGeneration, agents[0]!.sync.generation);
    const d = await run([...sock, 'describe', 'acnp', 'web-allow']);
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stdout, /^ {2}Phase:\s+Realized$/m);
    assert.match(d.stdout, /^ {2}box1\s+yes\s+1\s+Realized$/m);
    const w = await run([...sock, 'delete', 'acnp', 'web-allow']);
    assert.equal(w.code, 1);
    assert.match(w.stderr, /read-only: change objects through the controller/);
    const gone = await run([...sock, 'get', 'acnp', 'other']);
    assert.match(gone.stderr, /clusternetworkpolicy other is not enforced on box1/);
    const noAgent = await run(['--local', '--agent-socket', path.join(tmp.dir, 'none.sock'), 'get', 'nodes']);
    assert.match(noAgent.stderr, /^seinectl: cannot reach the agent at .*none\.sock: connect ENOENT/);
  });

  it('the agent API serves the same routes on its unix socket and its TCP listener', async function () {
    const overSocket = (p: string, method = 'GET') => new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = http.request({ socketPath: local.socketPath, path: p, method }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => (text += c)).on('end', () => resolve({ status: res.statusCode!, text }));
      });
      req.on('error', reject).end();
    });
    const overTcp = async (p: string, method = 'GET') => {
      const res = await fetch(`${local.url}${p}`, { method });
      return { status: res.status, text: await res.text() };
    };
    assert.match(local.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    for (const get of [overSocket, overTcp]) {
      assert.deepEqual(JSON.parse((await get('/healthz')).text), { status: 'ok' });
      assert.equal(JSON.parse((await get('/api/v1/nodes')).text)[0].name, 'box1');
      assert.equal(JSON.parse((await get('/apis/crd.antrea.io/v1beta1/clusternetworkpolicies/web-allow')).text).metadata.name, 'web-allow');
      assert.match((await get('/metrics')).text, /^test_box_gauge 7$/m);
      assert.deepEqual(JSON.parse((await get('/flows?pod=default/x')).text), { records: [] });
      const bad = await get('/flows?rollup=day');
      assert.equal(bad.status, 400);
      assert.match(JSON.parse(bad.text).message, /^rollup: expected minute or hour/);
      assert.equal((await get('/api/v1/nodes', 'POST')).status, 405);
    }
    // An agent opens its API before its metrics and flow store exist: 503 until they are attached.
    const early = new AgentApiServer({ node: 'box1', agentVersion: '0.1.0-test', sync: agents[0]!.sync }, path.join(tmp.dir, 'early-api.sock'));
    await early.start('127.0.0.1:0');
    try {
      assert.equal((await fetch(`${early.url}/metrics`)).status, 503);
      assert.equal((await fetch(`${early.url}/api/v1/nodes`)).status, 200);
      const registry = new Registry();
      new Gauge({ name: 'test_late_gauge', help: 'a gauge', registers: [registry] }).set(1);
      early.attach({ registry });
      assert.match(await (await fetch(`${early.url}/metrics`)).text(), /^test_late_gauge 1$/m);
      assert.equal((await fetch(`${early.url}/flows`)).status, 404, 'no flow store: the exporter is disabled');
    } finally {
      await early.stop();
    }
  });
});
