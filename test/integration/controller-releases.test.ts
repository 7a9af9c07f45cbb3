// The controller's side of releases and rollouts through its real REST API, MQTT broker and
// SQLite store: uploads checked before they are kept, ranged downloads, rollout validation,
// release targets in the desired documents of the waves reached, pause on a reported rollback,
// a controller restart in the middle (the rollout is in the store), resume and abort. The
// agents' sync modules report updater states over MQTT as the updater does (the updater itself
// is tested in test/unit/release and on a lab in ota-rollout.test.ts).
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { UpdateStatus } from '../../src/api/release.js';
import type { Controller } from '../../src/controller/main.js';
import { buildRelease } from '../../src/release/bundle.js';
import { generateReleaseKeys } from '../../src/release/signing.js';
import { api, startAgent, startController, tempDir, waitFor, type TestAgent } from './controller-fixture.js';
import { requirePrereqs } from '../helpers/prereqs.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

for (const store of ['sqlite', 'postgres'] as const) describe(`controller: releases and rollouts (${store} store)`, function () {
  this.timeout(90_000);
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let pgServer: TestPostgres | undefined;
  let storeExtra: { storeUrl?: string } = {};
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
      storeExtra = { storeUrl: await pgServer.createDatabase('releases') };
    }
    controller = await startController(tmp.dir, storeExtra);
    for (const node of ['n1', 'n2', 'n3']) {
      passwords.set(node, (await api(controller.restUrl, 'POST', `/api/v1/nodes/${node}/credentials`)).body.password);
      agents.push(await startAgent({ node, url: controller.brokerUrl, password: passwords.get(node)!, dir: tmp.dir }));
    }
    await generateReleaseKeys(path.join(tmp.dir, 'keys'));
    const tree = path.join(tmp.dir, 'tree');
    await mkdir(path.join(tree, 'dist', 'cli'), { recursive: true });
    await writeFile(path.join(tree, 'dist', 'cli', 'seine.js'), `// ${'x'.repeat(5000)}\n`);
    await writeFile(path.join(tree, 'package.json'), '{"name":"seine","version":"0.0.0"}');
    const built = await buildRelease({ version: '0.2.0', arch: 'amd64', keyFile: path.join(tmp.dir, 'keys', 'release.key'), outDir: path.join(tmp.dir, 'out'), from: tree });
    manifestText = await readFile(built.manifestFile, 'utf8');
    bundle = await readFile(built.bundle);
  });

  after(async () => {
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
});
