// Controller replicas: two `seine controller` processes on one real PostgreSQL store and one
// real mosquitto (started here), taking the nodes' reports through the MQTT 5 shared
// subscription $share/seine-controllers/…; agents (the real AgentSync with a recording
// realizer — no datapath here) connect to mosquitto with their own credentials and the
// generated ACL. Desired publishing is idempotent across replicas; one replica killed with
// SIGKILL, the other carries on: an apply through it is realized and reported Realized.
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { stringify } from 'yaml';
import { CONTROLLER_USERNAME } from '../../src/api/mqtt.js';
import { mosquittoAcl } from '../../src/controller/broker/mosquitto.js';
import { distProgram } from '../../src/lib/paths.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { requirePrereqs } from '../helpers/prereqs.js';
import { acnp, api, startAgent, tempDir, waitFor, type TestAgent } from './controller-fixture.js';

const ACNPS = '/apis/crd.antrea.io/v1beta1/clusternetworkpolicies';
const KEY = (n: string) => `ClusterNetworkPolicy.crd.antrea.io//${n}`;
const GROUP = 'seine-controllers';

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

const exited = (p: ChildProcess) => (p.exitCode !== null || p.signalCode !== null ? Promise.resolve() : new Promise((r) => p.once('exit', r)));

describe('controller replicas (PostgreSQL store, mosquitto, MQTT 5 shared subscriptions)', function () {
  this.timeout(90_000);
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let pgServer: TestPostgres | undefined;
  let mosquitto: ChildProcess | undefined;
  const controllers: ChildProcess[] = [];
  const agents: TestAgent[] = [];
  const rest: string[] = [];
  let brokerUrl = '';
  let passwd = '';

  const addBrokerUser = (user: string, password: string) => {
    execFileSync('mosquitto_passwd', ['-b', passwd, user, password]);
    process.kill(mosquitto!.pid!, 'SIGHUP'); // reload the password file
  };
  const status = async (server: string, name: string) => (await api(server, 'GET', `${ACNPS}/${name}`)).body?.status;

  before(async function () {
    requirePrereqs('mosquitto', 'postgres');
    tmp = await tempDir('seine-replicas-');
    pgServer = await startPostgres();
    const storeUrl = await pgServer.createDatabase('fleet');

    const mqttPort = await freePort();
    passwd = path.join(tmp.dir, 'passwd');
    await writeFile(passwd, '');
    const controllerPassword = 'controller-secret-123';
    execFileSync('mosquitto_passwd', ['-b', passwd, CONTROLLER_USERNAME, controllerPassword]);
    await writeFile(path.join(tmp.dir, 'acl'), mosquittoAcl());
    await writeFile(
      path.join(tmp.dir, 'mosquitto.conf'),
      `user root\nlistener ${mqttPort} 127.0.0.1\nallow_anonymous false\npassword_file ${passwd}\nacl_file ${path.join(tmp.dir, 'acl')}\npersistence false\n`,
    );
    mosquitto = spawn('mosquitto', ['-c', path.join(tmp.dir, 'mosquitto.conf')], { stdio: 'ignore' });
    brokerUrl = `mqtt://127.0.0.1:${mqttPort}`;

    for (const name of ['a', 'b']) {
      const port = await freePort();
      const config = path.join(tmp.dir, `controller-${name}.yaml`);
      await writeFile(config, stringify({
        listen: `127.0.0.1:${port}`, broker: brokerUrl, brokerCredentials: { username: CONTROLLER_USERNAME, password: controllerPassword },
        storeUrl, sharedSubscriptionGroup: GROUP, storePath: path.join(tmp.dir, `unused-${name}.db`),
      }));
      controllers.push(spawn(process.execPath, [distProgram('cli/seine.js'), 'controller', '--config', config], { stdio: ['ignore', 'ignore', 'inherit'] }));
      rest.push(`http://127.0.0.1:${port}`);
      // One after the other: the first runs the migrations (the second would wait on the lock anyway).
      await waitFor(`replica ${name} healthy`, () => fetch(`${rest.at(-1)}/healthz`).then((r) => r.ok, () => false), 20_000);
    }

    const passwords = new Map<string, string>();
    for (const node of ['box1', 'box2']) {
      const cred = (await api(rest[0]!, 'POST', `/api/v1/nodes/${node}/credentials`)).body as { password: string };
      addBrokerUser(node, cred.password);
      passwords.set(node, cred.password);
    }
    for (const [node, password] of passwords) {
      // mosquitto reloads its password file on SIGHUP asynchronously: the agent retries with backoff meanwhile.
      agents.push(await startAgent({ node, url: brokerUrl, password, dir: tmp.dir }));
    }
    await waitFor('both agents connected', () => agents.every((a) => a.sync.connected), 15_000);
  });

  after(async function () {
    for (const a of agents) await a.stop().catch(() => undefined);
    for (const c of controllers) {
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
      await exited(c);
    }
    if (mosquitto) {
      mosquitto.kill('SIGTERM');
      await exited(mosquitto);
    }
    await pgServer?.stop();
    await tmp?.remove();
  });

  it('both replicas serve one store; an apply through one is realized on every box and Realized as the other sees it', async function () {
    // Node passwords were made through replica a; replica b reads them from the same store.
    assert.deepEqual(((await api(rest[1]!, 'GET', '/api/v1/nodes')).body as { name: string }[]).map((n) => n.name), ['box1', 'box2']);
    assert.equal((await api(rest[0]!, 'POST', ACNPS, acnp('one'))).status, 200);
    await waitFor('one realized on both boxes', () => agents.every((a) => a.realizer.last?.has(KEY('one'))), 15_000);
    await waitFor('Realized 2/2 as replica b sees it', async () => {
      const s = await status(rest[1]!, 'one');
      return s?.phase === 'Realized' && s.currentNodesRealized === 2;
    }, 15_000);
    // Replica b's periodic resync saw the same documents: nothing was published twice with a new generation.
    await new Promise((r) => setTimeout(r, 1500));
    for (const a of agents) {
      assert.equal(a.sync.rejectedTotal, 0, `${a.node}: ${JSON.stringify(a.sync.rejected)}`);
      assert.equal(a.realizer.calls.filter((c) => c.has(KEY('one'))).length, 1, `${a.node} realized 'one' more than once`);
    }
    const nodes = (await api(rest[1]!, 'GET', '/api/v1/nodes')).body as { name: string; desiredGeneration: number; realizedGeneration: number; online: boolean }[];
    for (const n of nodes) {
      assert.equal(n.realizedGeneration, n.desiredGeneration, `${n.name}: realized ${n.realizedGeneration} of ${n.desiredGeneration}`);
      assert.ok(n.online, `${n.name} online as replica b sees it`);
    }
  });

  it('replica a killed (SIGKILL): replica b carries on, an apply through it is realized and reported by the boxes', async function () {
    const a = controllers[0]!;
    a.kill('SIGKILL');
    await exited(a);
    assert.equal((await api(rest[1]!, 'POST', ACNPS, acnp('two'))).status, 200);
    await waitFor('two realized on both boxes', () => agents.every((x) => x.realizer.last?.has(KEY('two'))), 15_000);
    // Reports now reach only replica b (the shared subscription's one remaining member).
    await waitFor('two Realized 2/2 through replica b', async () => {
      const s = await status(rest[1]!, 'two');
      return s?.phase === 'Realized' && s.currentNodesRealized === 2;
    }, 15_000);
    const one = await status(rest[1]!, 'one');
    assert.equal(one.phase, 'Realized', 'the earlier object stays realized');
  });
});
