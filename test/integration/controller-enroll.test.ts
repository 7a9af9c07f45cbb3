// Enrollment, renewal and revocation against a real controller (HTTPS REST, mqtts embedded
// broker, its CA signing with the openssl CLI) and the real agent sync module: a box with only
// a join token and the CA fingerprint enrolls, syncs and renews its short-lived certificate
// without losing its session for long; used, expired, unknown and foreign tokens are refused
// with their reason; a wrong fingerprint is refused before the token is sent; a deleted node's
// session goes within 2 s and its certificate is refused everywhere afterwards.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { SeineNodeFileSchema } from '../../src/api/config.js';
import type { JoinTokenResponse } from '../../src/api/enrollment.js';
import { CONTROLLER_USERNAME, agentClientId, nodeTopic } from '../../src/api/mqtt.js';
import { EnrollmentError, enroll, renew } from '../../src/agent/identity/enroll-client.js';
import { NodeIdentity } from '../../src/agent/identity/node-identity.js';
import type { Controller } from '../../src/controller/main.js';
import { caFingerprint, createKeyAndCsr, ensureCa, issueCertificate } from '../../src/lib/certs.js';
import { distProgram } from '../../src/lib/paths.js';
import { requirePrereqs } from '../helpers/prereqs.js';
import { spawnCollect } from '../helpers/spawn.js';
import { acnp, startAgent, startController, tempDir, tryConnect, waitFor, type TestAgent } from './controller-fixture.js';

const ADMIN = 'admin-token-for-enroll-tests';
const VALIDITY_SECONDS = 9;
const seinectl = (...args: string[]) => spawnCollect(process.execPath, [distProgram('cli/seinectl.js'), ...args]);

/** HTTPS JSON call trusting the fleet CA (fetch cannot be given a CA). */
async function call<T = any>(c: Controller, method: string, p: string, body?: unknown, token: string | undefined = ADMIN, client?: { cert: Buffer; key: Buffer }): Promise<{ status: number; body: T }> {
  const https = await import('node:https');
  return new Promise((resolve, reject) => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const req = https.request(new URL(p, c.restUrl), {
      method, ca: readFileSync(c.config.tls!.caFile), agent: false, ...(client ?? {}),
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...(text ? { 'content-length': String(Buffer.byteLength(text)) } : {}) },
    }, (res) => {
      let out = '';
      res.setEncoding('utf8').on('data', (d: string) => (out += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: out ? JSON.parse(out) : undefined }));
    });
    req.on('error', reject);
    req.end(text);
  });
}

/** The serial of the client certificate the broker sees for the node's session. */
function sessionSerial(c: Controller, node: string): string | undefined {
  const clients = (c.broker as unknown as { aedes: { clients: Record<string, { conn: { getPeerCertificate?: () => { serialNumber?: string } } }> } }).aedes.clients;
  return clients[agentClientId(node)]?.conn.getPeerCertificate?.()?.serialNumber;
}

describe('enrollment: join tokens, pinned CA, node certificates, renewal, revocation', function () {
  this.timeout(60_000);
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let controller: Controller;
  let fingerprint: string;
  const agents: TestAgent[] = [];
  const identities: NodeIdentity[] = [];

  const addNode = async (node: string, ttlSeconds?: number) => {
    const r = await call<JoinTokenResponse>(controller, 'POST', `/api/v1/nodes/${node}/join-token`, ttlSeconds ? { ttlSeconds } : {});
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body;
  };
  const pkiDir = (name: string) => path.join(tmp.dir, 'boxes', name, 'pki');

  before(async function () {
    requirePrereqs('openssl');
    tmp = await tempDir('seine-enroll-');
    const pki = path.join(tmp.dir, 'pki');
    const ca = await ensureCa(pki);
    const server = await issueCertificate(pki, { commonName: 'controller', usages: ['serverAuth'], ips: ['127.0.0.1'], dnsNames: ['localhost'] });
    controller = await startController(tmp.dir, {
      tls: { caFile: ca.certFile, caKeyFile: ca.keyFile, certFile: server.certFile, keyFile: server.keyFile },
      auth: { adminTokens: [ADMIN] },
      nodeCertificateValiditySeconds: VALIDITY_SECONDS,
    });
    fingerprint = caFingerprint(readFileSync(ca.certFile));
  });

  after(async function () {
    for (const i of identities) i.stop();
    for (const a of agents) await a.stop();
    await controller?.stop();
    await tmp?.remove();
  });

  it('a fresh agent with only a join token and the CA fingerprint enrolls, syncs and renews without losing its session for long', async function () {
    const t = await addNode('box1');
    assert.equal(t.caFingerprint, fingerprint);
    assert.match(t.token, /^[0-9a-f]{16}\.[A-Za-z0-9_-]{32}$/);
    // The printed seine-node.yaml is one the box's first boot accepts.
    const file = SeineNodeFileSchema.parse(parseYaml(t.nodeFile));
    assert.equal(file.joinToken, t.token);
    assert.equal(file.caFingerprint, fingerprint);
    assert.equal(file.server, controller.restUrl);

    const identity = await NodeIdentity.load({ node: 'box1', pkiDir: pkiDir('box1'), server: controller.restUrl, token: t.token, caFingerprint: t.caFingerprint });
    identities.push(identity);
    const first = identity.certificate;
    assert.equal(first.subject, 'CN=box1');
    assert.ok(first.checkIssued(new X509Certificate(readFileSync(controller.config.tls!.caFile))), 'signed by the fleet CA');
    assert.ok((Date.parse(first.validTo) - Date.now()) / 1000 <= VALIDITY_SECONDS + 1, `short validity: ${first.validTo}`);
    assert.equal(statSync(NodeIdentity.files(pkiDir('box1')).node).mode & 0o777, 0o600);

    const agent = await startAgent({ node: 'box1', url: controller.brokerUrl, tls: identity.tls, dir: tmp.dir });
    agents.push(agent);
    await waitFor('box1 connected with its node certificate', () => agent.sync.connected);
    assert.equal(sessionSerial(controller, 'box1'), first.serialNumber);
    assert.equal((await call(controller, 'POST', '/apis/crd.antrea.io/v1beta1/clusternetworkpolicies', acnp('enrolled'))).status, 200);
    await waitFor('the policy realized on box1', () => agent.realizer.last?.has('ClusterNetworkPolicy.crd.antrea.io//enrolled'));

    // Renewal at 2/3 of the lifetime; the session reconnects with the new certificate.
    let downSince: number | undefined;
    let longestGapMs = 0;
    const watch = setInterval(() => {
      if (!agent.sync.connected) downSince ??= Date.now();
      else if (downSince !== undefined) {
        longestGapMs = Math.max(longestGapMs, Date.now() - downSince);
        downSince = undefined;
      }
    }, 5);
    identity.onRenewed((tls) => agent.sync.reconnectWithTls(tls));
    identity.start();
    try {
      await waitFor('two renewals', () => identity.renewals >= 2, 3 * VALIDITY_SECONDS * 1000);
      await waitFor('the session on the newest certificate', () => agent.sync.connected && sessionSerial(controller, 'box1') === identity.certificate.serialNumber, 5000);
      // The first certificate has expired by now; the box still syncs.
      assert.ok(Date.parse(first.validTo) < Date.now(), 'the first certificate expired');
      assert.equal((await call(controller, 'POST', '/apis/crd.antrea.io/v1beta1/clusternetworkpolicies', acnp('after-renewal', 6))).status, 200);
      await waitFor('a policy realized after renewal', () => agent.realizer.last?.has('ClusterNetworkPolicy.crd.antrea.io//after-renewal'));
    } finally {
      clearInterval(watch);
    }
    assert.ok(longestGapMs < 1500, `the session was down ${longestGapMs} ms at a renewal`);
    assert.notEqual(identity.certificate.serialNumber, first.serialNumber);
    // The key changed with the certificate (a new CSR each time), and both are on disk.
    const onDisk = readFileSync(NodeIdentity.files(pkiDir('box1')).node, 'utf8');
    assert.ok(onDisk.includes(identity.tls.cert.toString().trim()));
  });

  it('a used, expired, unknown or foreign token is refused with its reason', async function () {
    const csr = await createKeyAndCsr(path.join(tmp.dir, 'probe.key'), 'box2');
    const ca = readFileSync(controller.config.tls!.caFile, 'utf8');
    const t = await addNode('box2');
    const ok = await enroll({ url: controller.restUrl }, ca, { nodeName: 'box2', token: t.token, csr });
    assert.equal(ok.node, 'box2');
    await assert.rejects(enroll({ url: controller.restUrl }, ca, { nodeName: 'box2', token: t.token, csr }), (e: EnrollmentError) => e.status === 403 && /already used/.test(e.message));

    const short = await addNode('box2', 1);
    await new Promise((r) => setTimeout(r, 1200));
    await assert.rejects(enroll({ url: controller.restUrl }, ca, { nodeName: 'box2', token: short.token, csr }), (e: EnrollmentError) => e.status === 403 && /expired/.test(e.message));

    const forged = `${t.token.split('.')[0]}.${'A'.repeat(32)}`;
    await assert.rejects(enroll({ url: controller.restUrl }, ca, { nodeName: 'box2', token: forged, csr }), (e: EnrollmentError) => e.status === 401 && /unknown join token/.test(e.message));

    const other = await addNode('box3');
    await assert.rejects(enroll({ url: controller.restUrl }, ca, { nodeName: 'box2', token: other.token, csr }), (e: EnrollmentError) => e.status === 403 && /for node box3/.test(e.message));
    // A CSR that is not one: 422 naming the field.
    const bad = await call(controller, 'POST', '/api/v1/enroll', { nodeName: 'box3', token: other.token, csr: 'hello' }, undefined);
    assert.equal(bad.status, 422);
    assert.equal(bad.body.details.causes[0].field, 'csr');
  });

  it('a wrong CA fingerprint is refused before the token is sent (the token stays usable)', async function () {
    const t = await addNode('box4');
    const wrong = `sha256:${'0'.repeat(64)}`;
    await assert.rejects(
      NodeIdentity.load({ node: 'box4', pkiDir: pkiDir('box4'), server: controller.restUrl, token: t.token, caFingerprint: wrong }),
      (e: EnrollmentError) => e instanceof EnrollmentError && e.message.includes(fingerprint) && /not the pinned/.test(e.message),
    );
    const identity = await NodeIdentity.load({ node: 'box4', pkiDir: pkiDir('box4'), server: controller.restUrl, token: t.token, caFingerprint: fingerprint });
    assert.equal(identity.certificate.subject, 'CN=box4');
    // Release downloads are node-scoped: the certificate opens them (404: no such release, past auth), no certificate does not.
    const releasePath = '/api/v1/node/releases/9.9.9/arm64/manifest';
    const withCert = await call(controller, 'GET', releasePath, undefined, undefined, identity.tls);
    assert.equal(withCert.status, 404, JSON.stringify(withCert.body));
    assert.match(withCert.body.message, /release 9\.9\.9 \(arm64\) not found/);
    assert.equal((await call(controller, 'GET', releasePath, undefined, undefined)).status, 401);
  });

  it('renewal needs a node certificate; delete node drops the session within 2 s and refuses the certificate afterwards', async function () {
    const ca = readFileSync(controller.config.tls!.caFile, 'utf8');
    const csr = await createKeyAndCsr(path.join(tmp.dir, 'probe5.key'), 'box5');
    // Renewal without a client certificate.
    await assert.rejects(renew({ url: controller.restUrl }, { ca, cert: '', key: '' }, csr), (e: EnrollmentError) => e.status === 401);

    const t = await addNode('box5');
    const identity = await NodeIdentity.load({ node: 'box5', pkiDir: pkiDir('box5'), server: controller.restUrl, token: t.token, caFingerprint: fingerprint });
    const agent = await startAgent({ node: 'box5', url: controller.brokerUrl, tls: identity.tls, dir: tmp.dir });
    agents.push(agent);
    await waitFor('box5 connected', () => agent.sync.connected);
    await waitFor('box5 realized its policies', () => agent.realizer.last?.has('ClusterNetworkPolicy.crd.antrea.io//enrolled'));
    const generationBefore = agent.sync.generation;
    await waitFor('box5 online', async () => (await call(controller, 'GET', '/api/v1/nodes')).body.some((n: { name: string; online: boolean }) => n.name === 'box5' && n.online));

    const t0 = Date.now();
    const del = await call(controller, 'DELETE', '/api/v1/nodes/box5');
    assert.equal(del.status, 200, JSON.stringify(del.body));
    assert.deepEqual(del.body.revokedSerials, [identity.certificate.serialNumber.toUpperCase()]);
    await waitFor('box5 session gone', () => !agent.sync.connected && sessionSerial(controller, 'box5') === undefined, 2000);
    assert.ok(Date.now() - t0 < 2000);
    assert.ok(!(await call(controller, 'GET', '/api/v1/nodes')).body.some((n: { name: string }) => n.name === 'box5'), 'not listed');

    // Its certificate is refused by the broker and by the node-scoped endpoint; its retained status is gone.
    await assert.rejects(tryConnect(controller.brokerUrl, { clientId: agentClientId('box5'), ...identity.tls }), /Not authorized|bad username|closed/i);
    await assert.rejects(identity.renew(), (e: EnrollmentError) => e.status === 403 && /revoked/.test(e.message));
    // Nothing retained under box5 any more (status, desired, reported), seen with the controller's own login.
    const watcher = await tryConnect(controller.brokerUrl, {
      username: CONTROLLER_USERNAME, password: controller.broker!.controllerSecret, ca: readFileSync(controller.config.tls!.caFile), rejectUnauthorized: false,
    });
    try {
      const retained: string[] = [];
      watcher.on('message', (topic, payload) => void (payload.length && retained.push(topic)));
      await watcher.subscribeAsync(nodeTopic('box5', 'status').replace(/status$/, '#'));
      await watcher.subscribeAsync(nodeTopic('box1', 'status'));
      await waitFor('box1\'s retained status (the subscription works)', () => retained.includes(nodeTopic('box1', 'status')));
      assert.deepEqual(retained.filter((t) => t.includes('/box5/')), []);
    } finally {
      watcher.end(true);
    }
    // The agent keeps retrying and is refused every time.
    await new Promise((r) => setTimeout(r, 700));
    assert.equal(agent.sync.connected, false);
    // More refused certificate logins than the per-node limit of failed logins (10 a minute): a
    // certificate costs no password check, so they are not rate-limited and cannot lock out the
    // node's re-enrolment below.
    for (let i = 0; i < 12; i++) await assert.rejects(tryConnect(controller.brokerUrl, { clientId: agentClientId('box5'), ...identity.tls }), /Not authorized|bad username|closed/i);
    assert.equal(controller.broker!.counters.loginsRateLimited, 0);

    // Added again: a new token in the config enrolls again (the old certificate stays revoked), and
    // the box takes the new desired documents (generations go on from where they were).
    await agent.stop();
    agents.splice(agents.indexOf(agent), 1);
    const again = await addNode('box5');
    const second = await NodeIdentity.load({ node: 'box5', pkiDir: pkiDir('box5'), server: controller.restUrl, token: again.token, caFingerprint: fingerprint });
    assert.notEqual(second.certificate.serialNumber, identity.certificate.serialNumber);
    const back = await startAgent({ node: 'box5', url: controller.brokerUrl, tls: second.tls, dir: tmp.dir });
    agents.push(back);
    // Its span is computed again from its new report: the policy comes back in a later generation.
    await waitFor('box5 back, realizing its policy again', () => back.sync.connected && back.sync.generation > generationBefore && back.realizer.last?.has('ClusterNetworkPolicy.crd.antrea.io//enrolled'));
    assert.equal(back.sync.rejected.stale, 0);
    // The same config again (same token) keeps the certificate it has.
    const reloaded = await NodeIdentity.load({ node: 'box5', pkiDir: pkiDir('box5'), server: controller.restUrl, token: again.token, caFingerprint: fingerprint });
    assert.equal(reloaded.certificate.serialNumber, second.certificate.serialNumber);
  });

  it('a deleted node leaves its Egress assignment: the IP moves to the other eligible node', async function () {
    const boxes = ['box7', 'box8'];
    for (const node of boxes) {
      const t = await addNode(node);
      const id = await NodeIdentity.load({ node, pkiDir: pkiDir(node), server: controller.restUrl, token: t.token, caFingerprint: fingerprint });
      agents.push(await startAgent({ node, url: controller.brokerUrl, tls: id.tls, dir: tmp.dir }));
    }
    await waitFor('box7 and box8 online', async () => (await call(controller, 'GET', '/api/v1/nodes')).body.filter((n: { name: string; online: boolean }) => boxes.includes(n.name) && n.online).length === 2);
    const applied = await call(controller, 'POST', '/api/v1/apply', {
      apiVersion: 'v1', kind: 'List', items: [
        { apiVersion: 'crd.antrea.io/v1beta1', kind: 'ExternalIPPool', metadata: { name: 'pool' }, spec: { ipRanges: [{ start: '172.31.250.200', end: '172.31.250.201' }], nodeSelector: { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: boxes }] } } },
        { apiVersion: 'crd.antrea.io/v1beta1', kind: 'Egress', metadata: { name: 'web-egress' }, spec: { appliedTo: { podSelector: { matchLabels: { app: 'web' } } }, externalIPPool: 'pool' } },
      ],
    });
    assert.equal(applied.status, 200, JSON.stringify(applied.body));
    const egressNode = async () => (await call(controller, 'GET', '/apis/crd.antrea.io/v1beta1/egresses/web-egress')).body.status?.egressNode as string | undefined;
    const first = await waitFor('an egress node', async () => { const n = await egressNode(); return n && boxes.includes(n) ? n : undefined; });
    assert.equal((await call(controller, 'DELETE', `/api/v1/nodes/${first}`)).status, 200);
    const other = boxes.find((b) => b !== first)!;
    await waitFor(`the Egress IP on ${other}`, async () => (await egressNode()) === other, 5000);
  });

  it('seinectl node add, node disable and delete node', async function () {
    const env = ['--server', controller.restUrl, '--token', ADMIN, '--certificate-authority', controller.config.tls!.caFile];
    const add = await seinectl(...env, 'node', 'add', 'box6', '--ttl', '2h');
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, /join token: +[0-9a-f]{16}\.\S+ +\(one use, expires /);
    assert.ok(add.stdout.includes(`CA fingerprint: ${fingerprint}`));
    assert.match(add.stdout, /joinToken: /);
    const bad = await seinectl(...env, 'node', 'add', 'box6', '--ttl', 'soon');
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /--ttl: expected a duration/);

    const disable = await seinectl(...env, 'node', 'disable', 'box6');
    assert.equal(disable.code, 0, disable.stderr);
    assert.match(disable.stdout, /node\/box6 disabled/);
    const listed = await seinectl(...env, 'get', 'nodes');
    assert.match(listed.stdout, /box6\s+Disabled/);

    const del = await seinectl(...env, 'delete', 'node', 'box6');
    assert.equal(del.code, 0, del.stderr);
    assert.match(del.stdout, /node\/box6 deleted/);
    assert.doesNotMatch((await seinectl(...env, 'get', 'nodes')).stdout, /box6/);
    const again = await seinectl(...env, 'delete', 'node', 'box6');
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /node box6 not found/);
  });
});
