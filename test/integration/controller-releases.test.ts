// The controller's side of releases and rollouts through its real REST API, MQTT broker and
// SQLite store: uploads checked before they are kept (signed by the controller's release key,
// not expired, the bundle as the manifest says; no key configured: refused), ranged downloads,
// rollout validation, release targets in the desired documents of the waves reached, pause on a
// reported rollback, a controller restart in the middle (the rollout is in the store), resume
// and abort. The agents' sync modules report updater states over MQTT as the updater does; the
// last test runs the real updater behind each agent (its release layout in a temp dir, a
// "restart" is a new Updater on what `current` points to, as systemd would start it): an expired
// release is refused by the box, and a corrected re-upload of that version rolls out.
import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { mkdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { UpdateConfigSchema } from '../../src/api/config.js';
import type { SignedManifest, UpdateStatus } from '../../src/api/release.js';
import { Updater } from '../../src/agent/update/updater.js';
import { Launcher } from '../../src/launcher/launcher.js';
import type { Controller } from '../../src/controller/main.js';
import { buildRelease } from '../../src/release/bundle.js';
import { generateReleaseKeys, signManifest } from '../../src/release/signing.js';
import { api, startAgent, startController, tempDir, waitFor, type TestAgent } from './controller-fixture.js';
import { requirePrereqs } from '../helpers/prereqs.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

for (const store of ['sqlite', 'postgres'] as const) describe(`controller: releases and rollouts (${store} store)`, function () {
  this.timeout(90_000);
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let pgServer: TestPostgres | undefined;
  // Plain on purpose: this suite is about releases and rollouts (node passwords by REST, raw
  // fetch of bundles); HTTPS downloads with the CA are covered by the lab's OTA test.
  let storeExtra: { storeUrl?: string; insecure?: boolean; releaseKeys?: string[] } = { insecure: true };
  const boxes: Updater[] = [];
  let controller: Controller;
  const agents: TestAgent[] = [];
  const passwords = new Map<string, string>();
  let manifestText: string;
  let bundle: Buffer;

  const upload = (version: string, arch: string, body: Buffer, manifest: string) =>
    fetch(`${controller.restUrl}/api/v1/releases/${version}/${arch}`, { method: 'PUT', headers: { 'content-type': 'application/gzip', 'x-seine-manifest': Buffer.from(manifest).toString('base64') }, body });
  const report = (a: TestAgent, u: Partial<UpdateStatus>) => a.sync.reportUpdate({ arch: 'amd64', running: '0.1.0', state: 'idle', previous: [], ts: Date.now(), ...u });
  const rollout = async (name = 'r1') => (await api(controller.restUrl, 'GET', `/api/v1/rollouts/${name}`)).body;
  /** The controller's rollout events: [node, state] for a node's outcome, ['', phase, wave] for the rollout's. */
  const rolloutEvents = async (): Promise<unknown[][]> =>
    ((await api(controller.restUrl, 'GET', '/api/v1/events?type=rollout')).body.items as { node: string; type: string; fields: { phase: string; state?: string; wave: number } }[])
      .map((e) => (assert.equal(e.type, 'rollout'), e.node ? [e.node, e.fields.state] : ['', e.fields.phase, e.fields.wave]));

  before(async () => {
    tmp = await tempDir();
    if (store === 'postgres') {
      requirePrereqs('postgres');
      pgServer = await startPostgres();
      storeExtra = { ...storeExtra, storeUrl: await pgServer.createDatabase('releases') };
    }
    await generateReleaseKeys(path.join(tmp.dir, 'keys'));
    // Plain HTTP/MQTT (TLS is the controller's default; these tests are about releases).
    storeExtra = { ...storeExtra, insecure: true, releaseKeys: [path.join(tmp.dir, 'keys', 'release.pub')] };
    controller = await startController(tmp.dir, storeExtra);
    for (const node of ['n1', 'n2', 'n3']) {
      passwords.set(node, (await api(controller.restUrl, 'POST', `/api/v1/nodes/${node}/credentials`)).body.password);
      agents.push(await startAgent({ node, url: controller.brokerUrl, password: passwords.get(node)!, dir: tmp.dir }));
    }
    const tree = path.join(tmp.dir, 'tree');
    await mkdir(path.join(tree, 'dist', 'cli'), { recursive: true });
    await writeFile(path.join(tree, 'dist', 'cli', 'seine.js'), `// ${'x'.repeat(5000)}\n`);
    await writeFile(path.join(tree, 'package.json'), '{"name":"seine","version":"0.0.0"}');
    const built = await buildRelease({ version: '0.2.0', arch: 'amd64', keyFile: path.join(tmp.dir, 'keys', 'release.key'), outDir: path.join(tmp.dir, 'out'), from: tree });
    manifestText = await readFile(built.manifestFile, 'utf8');
    bundle = await readFile(built.bundle);
  });

  after(async () => {
    for (const b of boxes) b.stop();
    for (const a of agents) await a.stop();
    await controller?.stop();
    await pgServer?.stop();
    await tmp.remove();
  });

  it('keeps only signed uploads whose bundle matches, and serves them with byte ranges', async () => {
    const unsigned = JSON.stringify({ manifest: JSON.parse(manifestText).manifest });
    let res = await upload('0.2.0', 'amd64', bundle, unsigned);
    assert.equal(res.status, 422);
    assert.match(((await res.json()) as { message: string }).message, /refused \(unsigned\)/);
    const tampered = Buffer.from(bundle);
    tampered[10] ^= 1;
    res = await upload('0.2.0', 'amd64', tampered, manifestText);
    assert.equal(res.status, 422);
    assert.match(((await res.json()) as { message: string }).message, /refused \(shaMismatch\)/);
    res = await upload('0.2.0', 'arm64', bundle, manifestText);
    assert.equal(res.status, 422, 'the path and the manifest must agree');
    // Signed, but by a key the controller does not trust.
    await generateReleaseKeys(path.join(tmp.dir, 'other-keys'));
    const signed = JSON.parse(manifestText) as SignedManifest;
    const foreign = signManifest(signed.manifest, createPrivateKey(await readFile(path.join(tmp.dir, 'other-keys', 'release.key'))));
    res = await upload('0.2.0', 'amd64', bundle, JSON.stringify(foreign));
    assert.equal(res.status, 422);
    assert.equal(((await res.json()) as { message: string }).message, `refused (unknownKey): release 0.2.0 (amd64) is signed by key ${foreign.signature!.keyId}, which is not trusted (trusted: ${signed.signature!.keyId})`);
    // The trusted key's id on a manifest changed after signing.
    const forged = { ...signed, manifest: { ...signed.manifest, minVersion: '0.0.1' } };
    res = await upload('0.2.0', 'amd64', bundle, JSON.stringify(forged));
    assert.equal(res.status, 422);
    assert.match(((await res.json()) as { message: string }).message, /^refused \(badSignature\): release 0\.2\.0 \(amd64\): the signature by key [0-9a-f]{16} does not match the manifest/);
    // Expired before it was uploaded.
    const key = createPrivateKey(await readFile(path.join(tmp.dir, 'keys', 'release.key')));
    res = await upload('0.2.0', 'amd64', bundle, JSON.stringify(signManifest({ ...signed.manifest, notAfter: '2020-01-01T00:00:00Z' }, key)));
    assert.equal(res.status, 422);
    assert.match(((await res.json()) as { message: string }).message, /^refused \(expired\): release 0\.2\.0 \(amd64\) expired at 2020-01-01T00:00:00Z/);
    // More bytes than the manifest says.
    // Cut off before it is read: the body's declared length is over the manifest's size (413, rest-hardening covers a chunked body).
    res = await upload('0.2.0', 'amd64', Buffer.concat([bundle, Buffer.alloc(100_000)]), manifestText);
    assert.equal(res.status, 413);
    assert.equal(((await res.json()) as { message: string }).message, `the body (${bundle.length + 100_000} bytes) is larger than the manifest's bundle.size ${bundle.length}`);
    assert.deepEqual((await api(controller.restUrl, 'GET', '/api/v1/releases')).body.items, [], 'nothing was stored');

    assert.equal((await upload('0.2.0', 'amd64', bundle, manifestText)).status, 201);
    assert.equal((await upload('0.2.0', 'amd64', bundle, manifestText)).status, 200, 'the same release again is a no-op');
    const whole = await fetch(`${controller.restUrl}/api/v1/releases/0.2.0/amd64/bundle`);
    assert.deepEqual(Buffer.from(await whole.arrayBuffer()), bundle);
    const tail = await fetch(`${controller.restUrl}/api/v1/releases/0.2.0/amd64/bundle`, { headers: { range: 'bytes=100-' } });
    assert.equal(tail.status, 206);
    assert.equal(tail.headers.get('content-range'), `bytes 100-${bundle.length - 1}/${bundle.length}`);
    assert.deepEqual(Buffer.from(await tail.arrayBuffer()), bundle.subarray(100));
    const past = await fetch(`${controller.restUrl}/api/v1/releases/0.2.0/amd64/bundle`, { headers: { range: `bytes=${bundle.length}-` } });
    assert.equal(past.status, 416);
  });

  it('validates rollouts and names the field', async () => {
    let r = await api(controller.restUrl, 'POST', '/api/v1/rollouts', { release: '0.2.0', canaryPercent: 5, wavePercents: [25, 50] });
    assert.equal(r.status, 422);
    assert.match(r.body.message, /wavePercents\[1\]: the last wave must be 100/);
    r = await api(controller.restUrl, 'POST', '/api/v1/rollouts', { release: '0.3.0', canaryPercent: 5, wavePercents: [100] });
    assert.equal(r.status, 422);
    assert.match(r.body.message, /release 0.3.0 is not uploaded/);
  });

  it('tells each wave its target, pauses on a rollback with the reason, survives a controller restart, resumes and completes', async () => {
    for (const a of agents) await report(a, {});
    const created = await api(controller.restUrl, 'POST', '/api/v1/rollouts', { name: 'r1', release: '0.2.0', canaryPercent: 30, wavePercents: [100] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual(created.body.waves, [['n1'], ['n2', 'n3']]);
    assert.equal((await api(controller.restUrl, 'POST', '/api/v1/rollouts', { release: '0.2.0', canaryPercent: 30, wavePercents: [100] })).status, 409, 'one rollout at a time');

    const [n1, n2, n3] = agents as [TestAgent, TestAgent, TestAgent];
    await waitFor('the canary gets the release target', () => n1.sync.desiredDocument?.release?.release.manifest.version === '0.2.0');
    assert.equal(n1.sync.desiredDocument?.release?.rollout, 'r1');
    assert.ok(n1.sync.desiredDocument?.release?.release.signature, 'the signed manifest travels');
    assert.equal(n2.sync.desiredDocument?.release, undefined, 'the next wave waits');

    await report(n1, { running: '0.2.0', state: 'committed', target: '0.2.0', rollout: 'r1' });
    await waitFor('the last wave gets the target', () => n2.sync.desiredDocument?.release && n3.sync.desiredDocument?.release);
    await report(n2, { running: '0.2.0', state: 'committed', target: '0.2.0', rollout: 'r1' });
    await report(n3, { state: 'rolledBack', target: '0.2.0', rollout: 'r1', reason: 'health check failed: the controller broker is not reached' });
    const paused = await waitFor('the rollout pauses', async () => ((await rollout()).phase === 'Paused' ? rollout() : undefined));
    assert.equal(paused.reason, 'paused: 1 failed (max-failures 1): n3: rolled back: health check failed: the controller broker is not reached');
    assert.deepEqual(await rolloutEvents(), [['', 'Running', 0], ['n1', 'healthy'], ['', 'Running', 1], ['n2', 'healthy'], ['n3', 'failed'], ['', 'Paused', 1]]);
    const failed = (await api(controller.restUrl, 'GET', '/api/v1/events?type=rollout&node=n3')).body.items;
    assert.equal(failed.length, 1);
    assert.equal(failed[0].severity, 'error');
    assert.equal(failed[0].fields.reason, 'rolled back: health check failed: the controller broker is not reached');

    // Restart the controller on the same store: the rollout is where it was.
    await controller.stop();
    controller = await startController(tmp.dir, { ...storeExtra, listen: `127.0.0.1:${new URL(controller.restUrl).port}`, brokerListen: `127.0.0.1:${new URL(controller.brokerUrl).port}` });
    const again = await rollout();
    assert.equal(again.phase, 'Paused');
    assert.equal(again.reason, paused.reason);

    const resumed = await api(controller.restUrl, 'POST', '/api/v1/rollouts/r1/resume');
    assert.equal(resumed.status, 200);
    const done = await waitFor('completed with n3 accepted', async () => ((await rollout()).phase === 'Completed' ? rollout() : undefined));
    assert.equal(done.nodes.n3.acknowledged, true);
    assert.match(done.reason, /2 of 3 nodes run 0.2.0/);
    // The restarted controller's event ring starts empty: the resume and the completion.
    assert.deepEqual(await rolloutEvents(), [['', 'Running', 1], ['', 'Completed', 1]]);
    assert.equal((await api(controller.restUrl, 'POST', '/api/v1/rollouts/r1/abort')).status, 409);
  });

  it('a box refuses an expired release saying why; the controller will not start it again; a corrected re-upload of that version rolls out', async () => {
    const key = createPrivateKey(await readFile(path.join(tmp.dir, 'keys', 'release.key')));
    const built = await buildRelease({ version: '0.3.0', arch: 'amd64', outDir: path.join(tmp.dir, 'out3'), from: path.join(tmp.dir, 'tree') });
    const bundle3 = await readFile(built.bundle);
    // Valid for 4 s: long enough to upload it and start the rollout, expired when the boxes come online.
    const expiring = signManifest({ ...built.signed.manifest, notAfter: new Date(Date.now() + 4000).toISOString() }, key);
    assert.equal((await upload('0.3.0', 'amd64', bundle3, JSON.stringify(expiring))).status, 201);
    const r2 = await api(controller.restUrl, 'POST', '/api/v1/rollouts', { name: 'r2', release: '0.3.0', canaryPercent: 30, wavePercents: [100] });
    assert.equal(r2.status, 201, JSON.stringify(r2.body));
    await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(expiring.manifest.notAfter!) - Date.now() + 100)));

    // The boxes come online: each runs the real updater on its release layout (0.2.0 installed).
    const boxStart = async (a: TestAgent, running: string): Promise<void> => {
      const root = path.join(tmp.dir, 'boxes', a.node);
      const cfg = UpdateConfigSchema.parse({ root: path.join(root, 'opt'), stateDir: path.join(root, 'update'), publicKey: path.join(tmp.dir, 'keys', 'release.pub'), healthDeadlineSeconds: 20 });
      let off = () => {};
      const u: Updater = new Updater({
        cfg, running, arch: 'amd64', server: controller.restUrl, underLauncher: true,
        // What the launcher does on exit 75: settle (switch when asked), then start that version.
        restart: async () => {
          u.stop();
          off();
          const plan = await new Launcher({ root: cfg.root, stateDir: cfg.stateDir, args: ['agent'], maxStarts: 3, deadlineSeconds: 20, restartDelayMs: 0, node: process.execPath }).settle();
          void boxStart(a, plan.version!);
        },
      });
      boxes.push(u);
      if ((await u.beforeStart()) === 'restart') return u.ctx.restart();
      if ((await u.afterStart((st) => a.sync.reportUpdate(st), () => undefined)) === 'restart') return u.ctx.restart();
      off = () => void unsubscribe();
      const unsubscribe = a.sync.onDesired((d) => u.onTarget(d.release));
      u.onTarget(a.sync.desiredDocument?.release);
    };
    for (const a of agents) {
      const release = path.join(tmp.dir, 'boxes', a.node, 'opt', 'releases', '0.2.0');
      await mkdir(path.join(release, 'dist', 'cli'), { recursive: true });
      await writeFile(path.join(release, 'dist', 'cli', 'seine.js'), '');
      await writeFile(path.join(release, 'package.json'), '{"name":"seine","version":"0.2.0"}');
      await symlink('releases/0.2.0', path.join(tmp.dir, 'boxes', a.node, 'opt', 'current'));
      await boxStart(a, '0.2.0');
    }
    const paused = await waitFor('r2 pauses on the canary\'s refusal', async () => ((await rollout('r2')).phase === 'Paused' ? rollout('r2') : undefined));
    assert.equal(paused.nodes.n1.state, 'failed');
    assert.ok(paused.reason.startsWith(`paused: 1 failed (max-failures 1): n1: refused: release 0.3.0 (amd64) expired at ${expiring.manifest.notAfter} (notAfter; now `), paused.reason);
    assert.ok(paused.reason.endsWith('): re-sign it with a later --not-after and upload it again'), paused.reason);
    assert.equal(await readlink(path.join(tmp.dir, 'boxes', 'n1', 'opt', 'current')), 'releases/0.2.0', 'nothing installed');

    // Not replaceable while a rollout uses it; not startable again once expired.
    const corrected = JSON.stringify(signManifest({ ...built.signed.manifest, notAfter: new Date(Date.now() + 3600_000).toISOString() }, key));
    let res = await upload('0.3.0', 'amd64', bundle3, corrected);
    assert.equal(res.status, 409);
    assert.match(((await res.json()) as { message: string }).message, /stored with another manifest and rollout r2 is paused with it \(seinectl rollout abort r2 first\)/);
    assert.equal((await api(controller.restUrl, 'POST', '/api/v1/rollouts/r2/abort')).status, 200);
    const again = await api(controller.restUrl, 'POST', '/api/v1/rollouts', { release: '0.3.0', canaryPercent: 30, wavePercents: [100] });
    assert.equal(again.status, 422);
    assert.match(again.body.message, /release 0\.3\.0 \(amd64\) expired at .*re-sign it with a later --not-after/);

    // The corrected upload: the same version and bundle, re-signed with a later notAfter (a new manifest digest).
    res = await upload('0.3.0', 'amd64', bundle3, corrected);
    assert.equal(res.status, 200, await res.text());
    const r3 = await api(controller.restUrl, 'POST', '/api/v1/rollouts', { name: 'r3', release: '0.3.0', canaryPercent: 30, wavePercents: [100] });
    assert.equal(r3.status, 201, JSON.stringify(r3.body));
    const done = await waitFor('r3 completes', async () => ((await rollout('r3')).phase === 'Completed' ? rollout('r3') : undefined), 30_000);
    assert.match(done.reason, /completed: 3 of 3 nodes run 0\.3\.0/);
    for (const node of ['n1', 'n2', 'n3']) assert.equal(await readlink(path.join(tmp.dir, 'boxes', node, 'opt', 'current')), 'releases/0.3.0', node);
  });
});

describe('controller: release uploads without a release key', function () {
  this.timeout(30_000);
  it('refuses every upload and says what to configure', async () => {
    const tmp = await tempDir();
    const controller = await startController(tmp.dir, { insecure: true });
    try {
      await generateReleaseKeys(path.join(tmp.dir, 'keys'));
      const tree = path.join(tmp.dir, 'tree');
      await mkdir(path.join(tree, 'dist', 'cli'), { recursive: true });
      await writeFile(path.join(tree, 'dist', 'cli', 'seine.js'), '// x\n');
      await writeFile(path.join(tree, 'package.json'), '{"name":"seine","version":"0.0.0"}');
      const built = await buildRelease({ version: '0.2.0', arch: 'amd64', keyFile: path.join(tmp.dir, 'keys', 'release.key'), outDir: path.join(tmp.dir, 'out'), from: tree });
      const res = await fetch(`${controller.restUrl}/api/v1/releases/0.2.0/amd64`, { method: 'PUT', headers: { 'content-type': 'application/gzip', 'x-seine-manifest': Buffer.from(JSON.stringify(built.signed)).toString('base64') }, body: await readFile(built.bundle) });
      assert.equal(res.status, 409);
      assert.match(((await res.json()) as { message: string }).message, /release uploads are refused: this controller trusts no release key; set releaseKeys in its config/);
      assert.deepEqual((await api(controller.restUrl, 'GET', '/api/v1/releases')).body.items, []);
    } finally {
      await controller.stop();
      await tmp.remove();
    }
  });
});
