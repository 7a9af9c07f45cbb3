// Secure by default (issue 16): a controller with no TLS settings makes its own CA, server
// certificate and admin token on first start, serves only HTTPS and MQTTS (a plain MQTT CONNECT
// and a plain HTTP request get nothing), reuses its PKI on restart, and writes an admin file
// seinectl works with; node passwords are refused; agents with node certificates of its CA sync,
// also over TLS on the broker's unix socket. `insecure: true` gives the plain listeners back,
// with a loud warning at start.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import mqtt from 'mqtt';
import { parse, stringify } from 'yaml';
import { agentClientId } from '../../src/api/mqtt.js';
import { SeinectlConfigSchema } from '../../src/api/config.js';
import type { Controller } from '../../src/controller/main.js';
import { issueCertificate } from '../../src/lib/certs.js';
import { freePort } from '../../src/lib/free-port.js';
import { distProgram } from '../../src/lib/paths.js';
import { requirePrereqs } from '../helpers/prereqs.js';
import { spawnCollect } from '../helpers/spawn.js';
import { acnp, api, startAgent, startController, tempDir, waitFor, type TestAgent } from './controller-fixture.js';

const ACNPS = '/apis/crd.antrea.io/v1beta1/clusternetworkpolicies';
const seinectl = (env: NodeJS.ProcessEnv, ...args: string[]) =>
  spawnCollect(process.execPath, [distProgram('cli/seinectl.js'), ...args], { env: { PATH: process.env.PATH, ...env } });

/** An MQTT 3.1.1 CONNECT for client id "plain", no credentials. */
const MQTT_CONNECT = Buffer.from([0x10, 0x11, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3c, 0x00, 0x05, 0x70, 0x6c, 0x61, 0x69, 0x6e]);

/** Sends `bytes` on a plain TCP connection; what came back before the server closed (or `ms` passed). */
function plainExchange(port: number, bytes: Buffer | string, ms = 2000): Promise<{ reply: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const sock = net.connect(port, '127.0.0.1', () => sock.write(bytes));
    const done = (closed: boolean) => {
      clearTimeout(timer);
      sock.destroy();
      resolve({ reply: Buffer.concat(chunks), closed });
    };
    const timer = setTimeout(() => done(false), ms);
    sock.on('data', (d) => chunks.push(d));
    sock.on('close', () => done(true));
    sock.on('error', () => undefined);
  });
}

const mode = (f: string) => statSync(f).mode & 0o777;

describe('secure by default: a controller with no TLS settings', function () {
  this.timeout(60_000);
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let c: Controller;
  const agents: TestAgent[] = [];

  before(async function () {
    requirePrereqs('openssl');
    tmp = await tempDir('seine-secure-');
    c = await startController(tmp.dir, { brokerSocket: path.join(tmp.dir, 'mqtt.sock') });
  });

  after(async function () {
    for (const a of agents) await a.stop();
    await c?.stop();
    await tmp?.remove();
  });

  it('serves only HTTPS and MQTTS, with a CA, server certificate and admin file it made (keys and admin file 0600)', function () {
    assert.match(c.restUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.match(c.brokerUrl, /^mqtts:\/\/127\.0\.0\.1:\d+$/);
    const pki = c.pki!;
    assert.equal(path.dirname(pki.caFile), path.join(tmp.dir, 'pki'));
    assert.match(pki.caFingerprint, /^sha256:[0-9a-f]{64}$/);
    for (const f of [pki.caKeyFile!, pki.keyFile, c.adminFile!, path.join(tmp.dir, 'admin-token.sha256')]) assert.equal(mode(f), 0o600, f);
    const admin = SeinectlConfigSchema.parse(parse(readFileSync(c.adminFile!, 'utf8')));
    assert.deepEqual([admin.server, admin.certificateAuthority], [c.restUrl, pki.caFile]);
    // Only the token's hash is kept beside it.
    assert.doesNotMatch(readFileSync(path.join(tmp.dir, 'admin-token.sha256'), 'utf8'), new RegExp(admin.token!));
  });

  it('a plain MQTT CONNECT gets no CONNACK and a plain HTTP request gets no HTTP answer', async function () {
    const mqttPort = Number(new URL(c.brokerUrl).port);
    const m = await plainExchange(mqttPort, MQTT_CONNECT);
    assert.notEqual(m.reply[0], 0x20, `a CONNACK came back: ${m.reply.toString('hex')}`);
    assert.ok(m.closed, 'the broker closes the plain connection');
    const viaMqttJs = await new Promise<string>((resolve) => {
      const client = mqtt.connect(c.brokerUrl.replace('mqtts:', 'mqtt:'), { reconnectPeriod: 0, connectTimeout: 2000, clientId: agentClientId('box1') });
      client.once('connect', () => resolve('connected'));
      client.once('error', (err) => resolve(`error: ${err.message}`));
      client.once('close', () => resolve('closed'));
    });
    assert.notEqual(viaMqttJs, 'connected');

    const restPort = Number(new URL(c.restUrl).port);
    const h = await plainExchange(restPort, 'GET /api/v1/nodes HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    assert.doesNotMatch(h.reply.toString('latin1'), /HTTP\/1\.[01] \d{3}/, 'no HTTP response to plain HTTP');
    await assert.rejects(new Promise((resolve, reject) => http.get(`http://127.0.0.1:${restPort}/healthz`, resolve).on('error', reject)));
  });

  it('REST needs the admin token; seinectl works with the admin file alone; node passwords are refused', async function () {
    assert.equal((await api(c.restUrl, 'GET', '/api/v1/nodes', undefined, null)).status, 401);
    const ok = await seinectl({ SEINECTL_CONFIG: c.adminFile! }, 'get', 'nodes', '-o', 'json');
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(JSON.parse(ok.stdout), []);
    const noCa = await seinectl({}, '--server', c.restUrl, 'get', 'nodes');
    assert.equal(noCa.code, 1);
    assert.match(noCa.stderr, /self-signed certificate|unable to verify/);
    const refused = await api(c.restUrl, 'POST', '/api/v1/nodes/box1/credentials');
    assert.equal(refused.status, 403);
    assert.match(refused.body.message, /insecure: true/);
  });

  it('agents with node certificates of its CA sync over mqtts:// and over TLS on the unix socket (mqtts+unix://)', async function () {
    const pkiDir = path.dirname(c.pki!.caFile);
    for (const node of ['box1', 'box2']) {
      await c.nodes.register(node, 'test');
      await issueCertificate(pkiDir, { commonName: node, usages: ['clientAuth'], outDir: path.join(tmp.dir, node) });
    }
    const tls = (node: string) => ({ ca: c.pki!.ca, cert: readFileSync(path.join(tmp.dir, node, `${node}.crt`)), key: readFileSync(path.join(tmp.dir, node, `${node}.key`)) });
    agents.push(await startAgent({ node: 'box1', url: c.brokerUrl, tls: tls('box1'), dir: tmp.dir }));
    agents.push(await startAgent({ node: 'box2', url: `mqtts+unix://${path.join(tmp.dir, 'mqtt.sock')}`, tls: tls('box2'), dir: tmp.dir }));
    await waitFor('both online', async () => (await c.nodes.list()).length === 2 && (await c.nodes.list()).every((n) => n.online));
    assert.equal((await api(c.restUrl, 'POST', ACNPS, acnp('secure-web'))).status, 200);
    await waitFor('Realized 2/2', async () => {
      const s = (await api(c.restUrl, 'GET', `${ACNPS}/secure-web`)).body.status;
      return s?.phase === 'Realized' && s.currentNodesRealized === 2;
    });
    // The socket is TLS too: plain MQTT on it gets no CONNACK.
    const plain = await new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      const sock = net.connect(path.join(tmp.dir, 'mqtt.sock'), () => sock.write(MQTT_CONNECT));
      const timer = setTimeout(() => sock.destroy(), 2000);
      sock.on('data', (d) => chunks.push(d));
      sock.on('close', () => (clearTimeout(timer), resolve(Buffer.concat(chunks))));
      sock.on('error', () => undefined);
    });
    assert.notEqual(plain[0], 0x20);
  });

  it('a restart reuses the CA, server certificate and admin token', async function () {
    const before = { fp: c.pki!.caFingerprint, cert: c.pki!.cert, admin: readFileSync(c.adminFile!, 'utf8') };
    for (const a of agents.splice(0)) await a.stop();
    await c.stop();
    c = await startController(tmp.dir, { brokerSocket: path.join(tmp.dir, 'mqtt.sock') });
    assert.equal(c.pki!.caFingerprint, before.fp);
    assert.ok(c.pki!.cert.equals(before.cert), 'the same server certificate');
    const token = (t: string) => SeinectlConfigSchema.parse(parse(t)).token;
    assert.equal(token(readFileSync(c.adminFile!, 'utf8')), token(before.admin));
    const ok = await seinectl({ SEINECTL_CONFIG: c.adminFile! }, 'get', 'acnp');
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /secure-web/);
  });
});

describe('secure by default: the seine controller CLI', function () {
  this.timeout(60_000);
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let child: ChildProcess | undefined;

  before(async () => (tmp = await tempDir('seine-secure-cli-')));
  after(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child!.once('exit', r));
    }
    await tmp?.remove();
  });

  it('`seine controller credentials` is refused without insecure: true', async function () {
    const config = path.join(tmp.dir, 'secure.yaml');
    await writeFile(config, stringify({ storePath: path.join(tmp.dir, 'secure', 'seine.db') }));
    const r = await spawnCollect(process.execPath, [distProgram('cli/seine.js'), 'controller', 'credentials', 'box1', '--config', config]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /node passwords are only for a controller with insecure: true/);
  });

  it('insecure: true serves plain HTTP and MQTT and says so loudly at start', async function () {
    const [rest, broker] = [await freePort(), await freePort()];
    const config = path.join(tmp.dir, 'insecure.yaml');
    await writeFile(config, stringify({ insecure: true, listen: `127.0.0.1:${rest}`, brokerListen: `127.0.0.1:${broker}`, storePath: path.join(tmp.dir, 'plain', 'seine.db') }));
    child = spawn(process.execPath, [distProgram('cli/seine.js'), 'controller', '--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (log += d));
    await waitFor('controller ready', () => /controller ready/.test(log), 20_000);
    const warning = log.split('\n').map((l) => (l ? (JSON.parse(l) as { level: string; msg: string; rest?: string }) : undefined)).find((l) => l?.msg.startsWith('INSECURE'));
    assert.ok(warning, log);
    assert.equal(warning.level, 'warn');
    assert.match(warning.msg, new RegExp(`plain HTTP on http://127.0.0.1:${rest} and plain MQTT on mqtt://127.0.0.1:${broker}`));
    assert.match(warning.msg, /REST has no tokens/);
    const res = await fetch(`http://127.0.0.1:${rest}/api/v1/nodes`);
    assert.equal(res.status, 200, 'open on loopback without tokens, as before');
    const m = await plainExchange(broker, MQTT_CONNECT);
    assert.equal(m.reply[0], 0x20, 'plain MQTT answers with a CONNACK');
    assert.equal(statSync(path.join(tmp.dir, 'plain')).isDirectory(), true);
    assert.throws(() => statSync(path.join(tmp.dir, 'plain', 'pki')), /ENOENT/, 'no PKI made');
  });
});
