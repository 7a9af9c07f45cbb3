// Offline first and crash safety: an agent realizes its persisted desired state with no broker;
// a change made while it is away is applied on reconnect; the controller survives kill -9 with
// its state intact and agents resync.
// The same with real boxes and real traffic (3-box lab, 30 s broker outage): policy-e2e.test.ts.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import { distProgram } from '../../src/lib/paths.js';
import { acnp, api, startAgent, startController, tempDir, waitFor } from './controller-fixture.js';
import { freePort } from '../../src/lib/free-port.js';

const KEY = (n: string) => `ClusterNetworkPolicy.crd.antrea.io//${n}`;
const ACNPS = '/apis/crd.antrea.io/v1beta1/clusternetworkpolicies';

describe('controller offline first and restarts', function () {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  beforeEach(async () => (tmp = await tempDir()));
  afterEach(async () => tmp.remove());

  it('with no broker the agent realizes its persisted state; a change made meanwhile arrives on reconnect', async function () {
    const ports = { listen: `127.0.0.1:${await freePort()}`, brokerListen: `127.0.0.1:${await freePort()}` };
    let c = await startController(tmp.dir, ports);
    const password = await c.nodes.createCredentials('box1', 't');
    let agent = await startAgent({ node: 'box1', url: c.brokerUrl, password, dir: tmp.dir });
    await api(c.restUrl, 'POST', ACNPS, acnp('a'));
    await waitFor('a realized', () => agent.realizer.last?.has(KEY('a')));
    const url = c.brokerUrl;

    // Broker and controller gone, agent restarted: it enforces what it had, before any connection.
    await agent.stop();
    await c.stop();
    agent = await startAgent({ node: 'box1', url, password, dir: tmp.dir });
    assert.ok(agent.realizer.calls.length >= 1, 'realized at start without a broker');
    assert.ok(agent.realizer.last!.has(KEY('a')));
    assert.equal(agent.sync.connected, false);

    // The controller comes back and a policy changes; the agent reconnects (backoff) and applies it.
    c = await startController(tmp.dir, ports);
    await api(c.restUrl, 'POST', ACNPS, acnp('b'));
    await waitFor('b realized after reconnect', () => agent.realizer.last?.has(KEY('b')), 15_000);
    const status = await waitFor('status Realized', async () => {
      const s = (await api(c.restUrl, 'GET', `${ACNPS}/b`)).body.status;
      return s?.phase === 'Realized' && s.desiredNodesRealized > 0 ? s : undefined;
    });
    assert.equal(status.currentNodesRealized, 1);
    await agent.stop();
    await c.stop();
  });

  it('an agent that was away gets the retained desired state on connect (change while disconnected)', async function () {
    const c = await startController(tmp.dir);
    const password = await c.nodes.createCredentials('box1', 't');
    const first = await startAgent({ node: 'box1', url: c.brokerUrl, password, dir: tmp.dir });
    await waitFor('online', async () => (await c.nodes.list())[0]!.online);
    await first.stop();
    await waitFor('offline', async () => !(await c.nodes.list())[0]!.online);
    await api(c.restUrl, 'POST', ACNPS, acnp('while-away'));
    const again = await startAgent({ node: 'box1', url: c.brokerUrl, password, dir: tmp.dir });
    await waitFor('while-away realized', () => again.realizer.last?.has(KEY('while-away')));
    await again.stop();
    await c.stop();
  });

  it('controller kill -9 and restart: objects, uids, generations, nodes intact; the agent resyncs', async function () {
    const ports = { listen: `127.0.0.1:${await freePort()}`, brokerListen: `127.0.0.1:${await freePort()}` };
    const config = path.join(tmp.dir, 'controller.yaml');
    // Plain on purpose (this is about surviving kill -9, and it makes a node password over REST).
    await writeFile(config, stringify({ ...ports, storePath: path.join(tmp.dir, 'store', 'seine.db'), insecure: true }));
    const rest = `http://${ports.listen}`;
    const run = () => {
      const p = spawn(process.execPath, [distProgram('cli/seine.js'), 'controller', '--config', config], { stdio: 'ignore' });
      return p;
    };
    const ready = () => waitFor('controller healthz', () => fetch(`${rest}/healthz`).then((r) => r.ok, () => false), 20_000);
    let proc = run();
    await ready();
    const cred = (await api(rest, 'POST', '/api/v1/nodes/box1/credentials')).body;
    const agent = await startAgent({ node: 'box1', url: `mqtt://${ports.brokerListen}`, password: cred.password, dir: tmp.dir });
    await api(rest, 'POST', ACNPS, acnp('survivor'));
    await api(rest, 'PUT', `${ACNPS}/survivor`, acnp('survivor', 9));
    const before = (await waitFor('Realized', async () => {
      const o = (await api(rest, 'GET', `${ACNPS}/survivor`)).body;
      return o.status?.phase === 'Realized' && o.status.desiredNodesRealized > 0 && o.status.observedGeneration === 2 ? o : undefined;
    }));

    proc.kill('SIGKILL');
    await new Promise((r) => proc.once('exit', r));
    proc = run();
    await ready();
    const after = (await api(rest, 'GET', `${ACNPS}/survivor`)).body;
    assert.deepEqual(
      [after.metadata.uid, after.metadata.generation, after.metadata.resourceVersion, after.spec.priority],
      [before.metadata.uid, 2, before.metadata.resourceVersion, 9],
    );
    // The agent reconnects to the new broker and the node is online and realized again.
    await waitFor('node online again', async () => (await api(rest, 'GET', '/api/v1/nodes')).body[0]?.online, 15_000);
    await api(rest, 'POST', ACNPS, acnp('after-restart'));
    await waitFor('after-restart realized', () => agent.realizer.last?.has(KEY('after-restart')), 15_000);
    const audit = (await api(rest, 'GET', '/api/v1/audit')).body;
    assert.ok(audit.length >= 4);
    await agent.stop();
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
  });
});
