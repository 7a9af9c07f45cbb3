// TLS with real certificates made by `seine certs` (openssl): the controller serves REST over
// HTTPS and its embedded broker over mqtts://; agents log in with a password or with their node
// certificate; a client or server certificate from another CA is refused. Then the same against
// a real mosquitto with a TLS listener where the certificate's CN is the MQTT username.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { agentClientId, CONTROLLER_USERNAME, nodeTopic } from '../../src/api/mqtt.js';
import { RestClient } from '../../src/controller/client/rest-client.js';
import type { Controller } from '../../src/controller/main.js';
import { ensureCa, issueCertificate } from '../../src/lib/certs.js';
import { distProgram } from '../../src/lib/paths.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { requirePrereqs } from '../helpers/prereqs.js';
import { spawnCollect } from '../helpers/spawn.js';
import { acnp, api, startAgent, startController, tempDir, trustOf, tryConnect, waitFor, type TestAgent } from './controller-fixture.js';

const ACNPS = '/apis/crd.antrea.io/v1beta1/clusternetworkpolicies';
const seine = (...args: string[]) => spawnCollect(process.execPath, [distProgram('cli/seine.js'), ...args]);
const seinectl = (...args: string[]) => spawnCollect(process.execPath, [distProgram('cli/seinectl.js'), ...args]);

interface Pki {
  dir: string;
  file: (name: string) => string;
  pem: (name: string) => Buffer;
}

function pki(dir: string): Pki {
  return { dir, file: (n) => path.join(dir, n), pem: (n) => readFileSync(path.join(dir, n)) };
}

async function statusOf(c: Controller, name: string) {
  return (await new RestClient(c.restUrl, { ca: readFileSync(c.config.tls!.caFile), token: trustOf(c.restUrl).token }).request<{ status?: { phase: string; currentNodesRealized: number } }>('GET', `${ACNPS}/${name}`)).status;
}

describe('TLS: seine certs, HTTPS REST, mqtts to the embedded broker, node certificates', function () {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let good: Pki;
  let rogue: Pki;
  let controller: Controller;
  const agents: TestAgent[] = [];

  before(async function () {
    requirePrereqs('openssl');
    tmp = await tempDir('seine-tls-');
    good = pki(path.join(tmp.dir, 'pki'));
    rogue = pki(path.join(tmp.dir, 'rogue'));
    for (const args of [['controller', '--ip', '127.0.0.1', '--dns', 'localhost'], ['node', 'box1', 'box2']]) {
      const r = await seine('certs', ...args, '--dir', good.dir);
      assert.equal(r.code, 0, r.stderr);
    }
    // Another CA with a certificate for the same node name.
    await ensureCa(rogue.dir, 'Rogue CA');
    await issueCertificate(rogue.dir, { commonName: 'box1', usages: ['clientAuth', 'serverAuth'], ips: ['127.0.0.1'] });
    controller = await startController(tmp.dir, { tls: { caFile: good.file('ca.crt'), certFile: good.file('controller.crt'), keyFile: good.file('controller.key') } });
    assert.match(controller.restUrl, /^https:/);
    assert.match(controller.brokerUrl, /^mqtts:/);
  });

  after(async function () {
    for (const a of agents) await a.stop();
    await controller?.stop();
    await tmp?.remove();
  });

  it('seine certs: a CA, node certificates (CN = node, client use) and a controller certificate (server use, SANs) that openssl verifies', async function () {
    const text = (f: string) => execFileSync('openssl', ['x509', '-in', good.file(f), '-noout', '-subject', '-ext', 'extendedKeyUsage,subjectAltName'], { encoding: 'utf8' });
    assert.match(text('box1.crt'), /CN = box1[\s\S]*TLS Web Client Authentication/);
    assert.match(text('controller.crt'), new RegExp(`CN = ${CONTROLLER_USERNAME}[\\s\\S]*TLS Web Server Authentication[\\s\\S]*IP Address:127.0.0.1`));
    assert.match(execFileSync('openssl', ['verify', '-CAfile', good.file('ca.crt'), good.file('box1.crt'), good.file('controller.crt')], { encoding: 'utf8' }), /box1.crt: OK\n.*controller.crt: OK/);
    const bad = await seine('certs', 'node', 'Box_1', '--dir', good.dir);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /invalid node name "Box_1"/);
  });

  it('REST over HTTPS: trusted with the fleet CA; refused with the system CAs or another CA', async function () {
    const nodes = await new RestClient(controller.restUrl, { ca: good.pem('ca.crt'), token: trustOf(controller.restUrl).token }).request<unknown[]>('GET', '/api/v1/nodes');
    assert.deepEqual(nodes, []);
    await assert.rejects(new RestClient(controller.restUrl).request('GET', '/api/v1/nodes'), /self-signed certificate|unable to verify/);
    await assert.rejects(new RestClient(controller.restUrl, { ca: rogue.pem('ca.crt') }).request('GET', '/api/v1/nodes'), /self-signed certificate|unable to verify/);
    await assert.rejects(api(controller.restUrl.replace('https:', 'http:'), 'GET', '/healthz'));
  });

  it('an agent with a password over mqtts and an agent with only its node certificate both realize a policy', async function () {
    const password = await controller.nodes.createCredentials('box1', 'test');
    await controller.nodes.createCredentials('box2', 'test');
    agents.push(await startAgent({ node: 'box1', url: controller.brokerUrl, password, tls: { ca: good.pem('ca.crt') }, dir: tmp.dir }));
    agents.push(await startAgent({ node: 'box2', url: controller.brokerUrl, tls: { ca: good.pem('ca.crt'), cert: good.pem('box2.crt'), key: good.pem('box2.key') }, dir: tmp.dir }));
    await waitFor('both online', async () => (await controller.nodes.list()).every((n) => n.online));
    await new RestClient(controller.restUrl, { ca: good.pem('ca.crt'), token: trustOf(controller.restUrl).token }).request('POST', ACNPS, JSON.stringify(acnp('tls-web')));
    const status = await waitFor('Realized 2/2', async () => { const s = await statusOf(controller, 'tls-web'); return s?.phase === 'Realized' && s.currentNodesRealized === 2 ? s : undefined; });
    assert.equal(status!.currentNodesRealized, 2);
  });

  it('refuses: a node certificate from another CA, a certificate used for another node, an unregistered node\'s certificate, a server of another CA, plain MQTT', async function () {
    const url = controller.brokerUrl;
    const ca = good.pem('ca.crt');
    const refusedBefore = controller.broker!.counters.authFailures;
    await assert.rejects(tryConnect(url, { ca, cert: rogue.pem('box1.crt'), key: rogue.pem('box1.key'), clientId: agentClientId('box1'), username: 'box1' }), /Not authorized|Bad username/i);
    await assert.rejects(tryConnect(url, { ca, cert: good.pem('box1.crt'), key: good.pem('box1.key'), clientId: agentClientId('box2'), username: 'box2' }), /Not authorized|Bad username/i);
    await assert.rejects(tryConnect(url, { ca, cert: good.pem('box1.crt'), key: good.pem('box1.key'), clientId: agentClientId('box2') }), /Not authorized|Bad username/i);
    assert.equal(controller.broker!.counters.authFailures, refusedBefore + 3);
    const r = await seine('certs', 'node', 'box9', '--dir', good.dir);
    assert.equal(r.code, 0, r.stderr);
    await assert.rejects(tryConnect(url, { ca, cert: good.pem('box9.crt'), key: good.pem('box9.key'), clientId: agentClientId('box9') }), /Not authorized|Bad username/i);
    // The agent's side: a broker whose certificate another CA signed is not trusted.
    await assert.rejects(tryConnect(url, { ca: rogue.pem('ca.crt'), cert: good.pem('box1.crt'), key: good.pem('box1.key'), clientId: agentClientId('box1') }), /self-signed certificate|unable to verify/);
    await assert.rejects(tryConnect(url.replace('mqtts:', 'mqtt:'), { username: 'box1', password: 'x', clientId: agentClientId('box1'), connectTimeout: 1000 }));
  });

  it('a node logged in by certificate is held to its own topics (box2 reads nothing of box1, cannot write there)', async function () {
    const ca = good.pem('ca.crt');
    const b = await tryConnect(controller.brokerUrl, { ca, cert: good.pem('box2.crt'), key: good.pem('box2.key'), clientId: agentClientId('box2') });
    const got: string[] = [];
    b.on('message', (t) => got.push(t));
    const grants = await b.subscribeAsync(nodeTopic('box1', 'desired'), { qos: 1 }).catch(() => [{ qos: 128 }]);
    assert.equal(grants[0]?.qos, 128);
    const denied = controller.broker!.counters.deniedPublish;
    await b.publishAsync(nodeTopic('box1', 'reported'), 'forged', { qos: 0 }).catch(() => undefined);
    await waitFor('publish denied', () => controller.broker!.counters.deniedPublish === denied + 1, 3000);
    assert.deepEqual(got, []);
    await b.endAsync(true);
  });

  it('seinectl over HTTPS with --certificate-authority; a clear error without it', async function () {
    const ok = await seinectl('--server', controller.restUrl, '--token', trustOf(controller.restUrl).token!, '--certificate-authority', good.file('ca.crt'), 'get', 'nodes');
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^box1\s+Online/m);
    const bad = await seinectl('--server', controller.restUrl, '--token', trustOf(controller.restUrl).token!, 'get', 'nodes');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^seinectl: cannot reach the controller at https:\/\/127\.0\.0\.1:\d+: (self-signed certificate|unable to verify)/);
  });
});

describe('TLS: mosquitto with a TLS listener, certificate CN as the MQTT username', function () {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let good: Pki;
  let rogue: Pki;
  let broker: Mosquitto;
  let controller: Controller;
  let agent: TestAgent;

  before(async function () {
    requirePrereqs('openssl', 'mosquitto');
    tmp = await tempDir('seine-tls-mosq-');
    good = pki(path.join(tmp.dir, 'pki'));
    rogue = pki(path.join(tmp.dir, 'rogue'));
    await ensureCa(good.dir);
    await issueCertificate(good.dir, { commonName: CONTROLLER_USERNAME, fileName: 'controller', usages: ['serverAuth', 'clientAuth'], ips: ['127.0.0.1'] });
    for (const n of ['box1', 'box2']) await issueCertificate(good.dir, { commonName: n, usages: ['clientAuth'] });
    await ensureCa(rogue.dir, 'Rogue CA');
    await issueCertificate(rogue.dir, { commonName: 'box2', usages: ['clientAuth'] });
    broker = await startMosquitto({ users: {}, tls: { caFile: good.file('ca.crt'), certFile: good.file('controller.crt'), keyFile: good.file('controller.key'), certificateLogin: true } });
    // No brokerCredentials: the controller logs in with its certificate.
    controller = await startController(tmp.dir, { broker: broker.controllerUrl, tls: { caFile: good.file('ca.crt'), certFile: good.file('controller.crt'), keyFile: good.file('controller.key') } });
    await controller.nodes.createCredentials('box1', 'test');
    agent = await startAgent({ node: 'box1', url: broker.url, tls: { ca: good.pem('ca.crt'), cert: good.pem('box1.crt'), key: good.pem('box1.key') }, dir: tmp.dir });
  });

  after(async function () {
    await agent?.stop();
    await controller?.stop();
    await broker?.stop();
    await tmp?.remove();
  });

  it('controller and agent over mqtts with certificates: apply → Realized', async function () {
    await new RestClient(controller.restUrl, { ca: good.pem('ca.crt'), token: trustOf(controller.restUrl).token }).request('POST', ACNPS, JSON.stringify(acnp('mosq-tls')));
    // 1/1: the agent's report puts box1 in the policy's span (before it, Realized 0/0 says nothing).
    await waitFor('Realized 1/1', async () => {
      const st = await statusOf(controller, 'mosq-tls');
      return st?.phase === 'Realized' && st.currentNodesRealized === 1;
    });
    assert.equal(agent.sync.connected, true);
  });

  it('box2\'s certificate reads nothing of box1 and cannot write box1\'s topics; a certificate of another CA is refused', async function () {
    const ca = good.pem('ca.crt');
    const b = await tryConnect(broker.url, { ca, cert: good.pem('box2.crt'), key: good.pem('box2.key'), clientId: agentClientId('box2') });
    const got: string[] = [];
    b.on('message', (t) => got.push(t));
    await b.subscribeAsync(nodeTopic('box1', 'desired'), { qos: 1 }).catch(() => undefined);
    await b.publishAsync(nodeTopic('box1', 'reported'), 'forged', { qos: 1 }).catch(() => undefined);
    const spy = await tryConnect(broker.controllerUrl, { ca, cert: good.pem('controller.crt'), key: good.pem('controller.key'), clientId: 'seine-test-spy' });
    const seen: string[] = [];
    spy.on('message', (t, p) => seen.push(`${t}=${p.toString()}`));
    await spy.subscribeAsync(nodeTopic('box1', 'reported'), { qos: 1 });
    await b.publishAsync(nodeTopic('box1', 'reported'), 'forged', { qos: 1 }).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(got, [], 'box2 received box1\'s desired document');
    assert.deepEqual(seen.filter((s) => s.endsWith('=forged')), []);
    await b.endAsync(true);
    await spy.endAsync(true);
    await assert.rejects(tryConnect(broker.url, { ca, cert: rogue.pem('box2.crt'), key: rogue.pem('box2.key'), clientId: agentClientId('box2') }));
    await assert.rejects(tryConnect(broker.url, { ca, clientId: agentClientId('box2'), username: 'box2', password: 'x' }));
  });
});
