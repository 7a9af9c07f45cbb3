// Controller replicas: two `seine controller` processes on one real PostgreSQL store and one
// real mosquitto (started here), taking the nodes' reports through the MQTT 5 shared
// subscription $share/seine-controllers/…; the agents of a 2-box lab are pointed at mosquitto
// (its unix socket) with their own credentials and the generated ACL. Desired publishing is
// idempotent across replicas; one replica killed with SIGKILL, the other carries on: a change
// applied through it is enforced on the boxes (real traffic) and reported Realized; restarted
// beside the other, it leaves the boxes' presence as the other knows it (online).
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { stringify } from 'yaml';
import { CONTROLLER_USERNAME } from '../../src/api/mqtt.js';
import { mosquittoAcl } from '../../src/controller/broker/mosquitto.js';
import type { Lab } from '../../src/lab/lab.js';
import { boxControllerFile } from '../../src/lab/controller-process.js';
import { specFromFlags } from '../../src/lab/spec.js';
import type { LabState, PodState } from '../../src/lab/state.js';
import { distProgram } from '../../src/lib/paths.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { requirePrereqs } from '../helpers/prereqs.js';
import { api, tempDir, waitFor } from './controller-fixture.js';
import { eventually, newLab, ping, reachable, removeLab } from './lab-fixture.js';
import { freePort } from '../../src/lib/free-port.js';

const ACNPS = '/apis/crd.antrea.io/v1beta1/clusternetworkpolicies';
const policy = (action: 'Drop' | 'Allow') => ({
  apiVersion: 'crd.antrea.io/v1beta1', kind: 'ClusterNetworkPolicy', metadata: { name: 'clients' },
  spec: {
    priority: 5, tier: 'securityops', appliedTo: [{ podSelector: { matchLabels: { app: 'demo' } } }],
    ingress: [{ action, name: 'from-clients', from: [{ podSelector: { matchLabels: { role: 'client' } } }] }],
  },
});
interface NodeRow { name: string; online: boolean; desiredGeneration: number; realizedGeneration: number | null }
const GROUP = 'seine-controllers';

const exited = (p: ChildProcess) => (p.exitCode !== null || p.signalCode !== null ? Promise.resolve() : new Promise((r) => p.once('exit', r)));

describe('controller replicas (PostgreSQL store, mosquitto, MQTT 5 shared subscriptions)', function () {
  this.timeout(180_000);
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let lab: Lab | undefined;
  let state: LabState;
  let pgServer: TestPostgres | undefined;
  let mosquitto: ChildProcess | undefined;
  const controllers: ChildProcess[] = [];
  /** How each replica was started (a restart starts it the same way). */
  const startArgs: string[][] = [];
  const pod = (name: string) => state.pods.find((p) => p.name === name)!;
  const canPing = async (from: PodState, to: PodState) => (await ping(from, to.ip!, 1)).ok;
  const nodes = async (server: string) => (await api(server, 'GET', '/api/v1/nodes')).body as NodeRow[];
  const rest: string[] = [];
  let brokerUrl = '';
  let storeUrl = '';
  let passwd = '';
  let mosquittoLog = '';
  /** From mosquitto's own log: reports agents sent, and reports delivered to each controller client. */
  const reportTraffic = async () => {
    const lines = (await readFile(mosquittoLog, 'utf8')).split('\n').filter((l) => /'seine\/v1\/nodes\/[^/']+\/reported'/.test(l));
    const sent = lines.filter((l) => /Received PUBLISH from seine-agent-/.test(l)).length;
    const delivered = new Map<string, number>();
    for (const l of lines) {
      const m = /Sending PUBLISH to (seine-controller-[0-9a-f]+)/.exec(l);
      if (m) delivered.set(m[1]!, (delivered.get(m[1]!) ?? 0) + 1);
    }
    return { sent, delivered };
  };

  const addBrokerUser = (user: string, password: string) => {
    execFileSync('mosquitto_passwd', ['-b', passwd, user, password]);
    process.kill(mosquitto!.pid!, 'SIGHUP'); // reload the password file
  };
  const status = async (server: string, name: string) => (await api(server, 'GET', `${ACNPS}/${name}`)).body?.status;

  before(async function () {
    requirePrereqs('root', 'ovs', 'ip', 'ethtool', 'ping', 'mosquitto', 'postgres');
    tmp = await tempDir('seine-replicas-');
    lab = await newLab('replicas');
    await lab.up(specFromFlags(2, 1));
    await lab.labelPod({ namespace: 'default', name: 'box2-pod1' }, [{ key: 'role', value: 'client' }]);
    state = await lab.current();
    assert.ok(await reachable(pod('box2-pod1'), pod('box1-pod1').ip!), 'traffic flows before any policy');
    pgServer = await startPostgres();
    storeUrl = await pgServer.createDatabase('fleet');

    const mqttPort = await freePort();
    const socket = path.join(lab.dir, 'mosquitto.sock');
    passwd = path.join(tmp.dir, 'passwd');
    mosquittoLog = path.join(tmp.dir, 'mosquitto.log');
    await writeFile(passwd, '');
    const controllerPassword = 'controller-secret-123';
    execFileSync('mosquitto_passwd', ['-b', passwd, CONTROLLER_USERNAME, controllerPassword]);
    await writeFile(path.join(tmp.dir, 'acl'), mosquittoAcl());
    await writeFile(
      path.join(tmp.dir, 'mosquitto.conf'),
      // The unix socket is how the boxes' agents (in their network namespaces) reach it, as the lab's own broker.
      `user root\nlistener ${mqttPort} 127.0.0.1\nlistener 0 ${socket}\nallow_anonymous false\npassword_file ${passwd}\nacl_file ${path.join(tmp.dir, 'acl')}\npersistence false\nlog_dest file ${mosquittoLog}\nlog_type all\n`,
    );
    mosquitto = spawn('mosquitto', ['-c', path.join(tmp.dir, 'mosquitto.conf')], { stdio: 'ignore' });
    brokerUrl = `mqtt://127.0.0.1:${mqttPort}`;

    for (const name of ['a', 'b']) {
      const port = await freePort();
      const config = path.join(tmp.dir, `controller-${name}.yaml`);
      await writeFile(config, stringify({
        listen: `127.0.0.1:${port}`, broker: brokerUrl, brokerCredentials: { username: CONTROLLER_USERNAME, password: controllerPassword },
        sharedSubscriptionGroup: GROUP, storePath: path.join(tmp.dir, `unused-${name}.db`),
        ...(name === 'a' ? { storeUrl } : {}),
        // Plain on purpose: replicas behind a plain mosquitto with node passwords (TLS is covered elsewhere).
        insecure: true,
      }));
      // Replica b gets its store by flag, as an operator would start a second one.
      const args = [distProgram('cli/seine.js'), 'controller', '--config', config, ...(name === 'b' ? ['--store', storeUrl] : [])];
      startArgs.push(args);
      controllers.push(spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] }));
      rest.push(`http://127.0.0.1:${port}`);
      // One after the other: the first runs the migrations (the second would wait on the lock anyway).
      await waitFor(`replica ${name} healthy`, () => fetch(`${rest.at(-1)}/healthz`).then((r) => r.ok, () => false), 20_000);
    }

    // Each box gets its credentials through replica a (stored in PostgreSQL, added to mosquitto's
    // password file) and its agent is restarted pointing at mosquitto.
    for (const box of state.boxes) {
      const cred = (await api(rest[0]!, 'POST', `/api/v1/nodes/${box.name}/credentials`)).body as { username: string; password: string };
      addBrokerUser(box.name, cred.password);
      await writeFile(boxControllerFile(box), JSON.stringify({ url: `mqtt+unix://${socket}`, credentials: cred }), { mode: 0o600 });
    }
    for (const box of state.boxes) await lab.restartAgent(box.name);
    await waitFor('both boxes online through mosquitto', async () => (await nodes(rest[1]!)).filter((n) => n.online).length === 2, 20_000);
  });

  after(async function () {
    for (const c of controllers) {
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
      await exited(c);
    }
    if (mosquitto) {
      mosquitto.kill('SIGTERM');
      await exited(mosquitto);
    }
    await pgServer?.stop();
    if (lab) await removeLab(lab);
    await tmp?.remove();
  });

  it('both replicas serve one store; a policy applied through one is enforced on both boxes and Realized as the other sees it', async function () {
    assert.deepEqual((await nodes(rest[1]!)).map((n) => n.name), ['box1', 'box2']);
    const before = await nodes(rest[1]!);
    assert.equal((await api(rest[0]!, 'POST', ACNPS, policy('Drop'))).status, 200);
    await eventually('box2-pod1 dropped at box1-pod1', async () => !(await canPing(pod('box2-pod1'), pod('box1-pod1'))), 20_000);
    await waitFor('Realized 2/2 as replica b sees it', async () => {
      const s = await status(rest[1]!, 'clients');
      return s?.phase === 'Realized' && s.currentNodesRealized === 2;
    }, 20_000);
    // Replica b's periodic look at the store saw the same documents: one new generation per node, not two.
    await new Promise((r) => setTimeout(r, 2500));
    for (const n of await nodes(rest[1]!)) {
      const old = before.find((b) => b.name === n.name)!;
      assert.equal(n.desiredGeneration, old.desiredGeneration + 1, `${n.name}: desired generation ${old.desiredGeneration} → ${n.desiredGeneration}`);
      assert.equal(n.realizedGeneration, n.desiredGeneration, `${n.name}: realized ${n.realizedGeneration} of ${n.desiredGeneration}`);
    }
    // The shared subscription: every report reached exactly one replica, and both replicas took some.
    const { sent, delivered } = await reportTraffic();
    const total = [...delivered.values()].reduce((x, y) => x + y, 0);
    assert.ok(sent >= 4, `only ${sent} reports sent`);
    assert.equal(total, sent, `${sent} reports sent, ${total} delivered to controllers: ${JSON.stringify([...delivered])}`);
    assert.equal(delivered.size, 2, `reports went to ${delivered.size} replica(s): ${JSON.stringify([...delivered])}`);
  });

  it('replica a killed (SIGKILL): replica b carries on, a change applied through it is enforced on the boxes and reported', async function () {
    const a = controllers[0]!;
    a.kill('SIGKILL');
    await exited(a);
    assert.equal((await api(rest[1]!, 'POST', ACNPS, policy('Allow'))).status, 200);
    await eventually('box2-pod1 reaches box1-pod1 again', () => canPing(pod('box2-pod1'), pod('box1-pod1')), 20_000);
    // Reports now reach only replica b (the shared subscription's one remaining member).
    await waitFor('generation 2 Realized 2/2 through replica b', async () => {
      const s = await status(rest[1]!, 'clients');
      return s?.phase === 'Realized' && s.observedGeneration === 2 && s.currentNodesRealized === 2;
    }, 20_000);
  });

  it('replica a restarted beside b: the boxes b knows online stay online (a replica starting beside a running one marks nobody offline)', async function () {
    const onlineAt = async (server: string) => (await nodes(server)).filter((n) => n.online).map((n) => n.name);
    assert.deepEqual(await onlineAt(rest[1]!), ['box1', 'box2']);
    // A restarted replica's first publication makes every box say online again within moments, so
    // a wrong "offline" lasts only that long (long enough for Egress to move its IPs): the store
    // itself notes every row that goes from online to offline.
    const db = new pg.Client({ connectionString: storeUrl });
    await db.connect();
    try {
      await db.query(`CREATE TABLE went_offline (name TEXT NOT NULL);
        CREATE FUNCTION note_offline() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
          IF OLD.online = 1 AND NEW.online = 0 THEN INSERT INTO went_offline VALUES (NEW.name); END IF; RETURN NEW; END $$;
        CREATE TRIGGER note_offline AFTER UPDATE ON nodes FOR EACH ROW EXECUTE FUNCTION note_offline();`);
      controllers[0] = spawn(process.execPath, startArgs[0]!, { stdio: ['ignore', 'ignore', 'inherit'] });
      await waitFor('replica a healthy again', () => fetch(`${rest[0]}/healthz`).then((r) => r.ok, () => false), 20_000);
      await new Promise((r) => setTimeout(r, 2500));
      for (const server of rest) assert.deepEqual(await onlineAt(server), ['box1', 'box2'], `${server}: boxes offline after the restart`);
      const { rows } = await db.query<{ name: string }>('SELECT name FROM went_offline');
      assert.deepEqual(rows.map((r) => r.name), [], 'the restarted replica marked boxes offline that replica b knew online');
    } finally {
      await db.end();
    }
  });
});
