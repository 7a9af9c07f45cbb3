// Signed releases and a staged rollout on a 3-box lab started with OTA (each agent runs from its
// box's `current` link under the launcher, as under systemd). box3 is set to fail its
// health check (update.failHealthCheck, the documented test hook): the canary (box1) updates,
// the last wave (box2, box3) starts, box3 rolls itself back, the rollout pauses, and
// `seinectl rollout status` says which box and why; box1 and box2 run the new version. An
// unsigned manifest and a tampered bundle are refused with nothing stored. Expiry (issue 17): a
// release signed valid for seconds reaches the canary only after its notAfter (the box was down);
// the box refuses it naming the expiry and stays on its version, the rollout pauses saying so, and
// the same version re-signed later replaces the stored one and rolls out to all three boxes.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import type { NodeInfo } from '../../src/api/controller-api.js';
import type { Rollout, StoredRelease } from '../../src/api/release.js';
import { AGENT_VERSION } from '../../src/agent/sync/index.js';
import { agentFiles } from '../../src/lab/agent-process.js';
import type { Lab } from '../../src/lab/lab.js';
import { labReleaseKeys, otaFiles } from '../../src/lab/ota.js';
import { specFromFlags } from '../../src/lab/spec.js';
import type { LabState } from '../../src/lab/state.js';
import { distProgram } from '../../src/lib/paths.js';
import { requirePrereqs } from '../helpers/prereqs.js';
import { spawnCollect } from '../helpers/spawn.js';
import { eventually, labApi, newLab, removeLab, seinectl } from './lab-fixture.js';

const NEXT = '0.99.0';
const seine = (args: string[]) => spawnCollect(process.execPath, [distProgram('cli/seine.js'), ...args]);

describe('releases and rollouts on a 3-box OTA lab', function () {
  this.timeout(240_000);
  let lab: Lab | undefined;
  let state: LabState;
  let out: string;
  let server: string;

  before(async () => {
    requirePrereqs('root', 'ovs', 'ip', 'ethtool');
    out = await mkdtemp(path.join(tmpdir(), 'seine-ota-'));
    lab = await newLab('ota');
    state = await lab.up(specFromFlags(3, 0, 'geneve', true));
    server = state.controller!.url;
  });

  after(async () => {
    if (lab) await removeLab(lab);
    await rm(out, { recursive: true, force: true });
  });

  const nodes = async () => (await labApi<NodeInfo[]>(server, 'GET', '/api/v1/nodes')).body;
  const rollout = async (name: string) => (await labApi<Rollout>(server, 'GET', `/api/v1/rollouts/${name}`)).body;

  it('refuses an unsigned manifest and a tampered bundle before storing anything', async () => {
    const unsigned = await seine(['release', 'build', '--arch', 'amd64', '--version', '0.98.0', '--out', path.join(out, 'unsigned')]);
    assert.equal(unsigned.code, 0, unsigned.stderr);
    assert.match(unsigned.stdout, /UNSIGNED/);
    const up = await seinectl(server, ['release', 'upload', path.join(out, 'unsigned', 'seine-agent-0.98.0-amd64.manifest.json')]);
    assert.notEqual(up.code, 0);
    assert.match(up.stderr, /release 0.98.0 \(amd64\) is unsigned/);

    const signed = await seine(['release', 'build', '--arch', 'amd64', '--version', '0.98.0', '--key', labReleaseKeys(lab!.dir).privateKey, '--out', path.join(out, 'tampered')]);
    assert.equal(signed.code, 0, signed.stderr);
    const bundle = path.join(out, 'tampered', 'seine-agent-0.98.0-amd64.tar.gz');
    const bytes = await readFile(bundle);
    bytes[bytes.length >> 1] ^= 0xff;
    await writeFile(bundle, bytes);
    const manifest = path.join(out, 'tampered', 'seine-agent-0.98.0-amd64.manifest.json');
    const verify = await seine(['release', 'verify', '--manifest', manifest, '--bundle', bundle, '--key', labReleaseKeys(lab!.dir).publicKey]);
    assert.equal(verify.code, 2, verify.stderr);
    assert.match(verify.stderr, /refused \(shaMismatch\)/);
    const up2 = await seinectl(server, ['release', 'upload', manifest]);
    assert.notEqual(up2.code, 0);
    assert.match(up2.stderr, /sha256 .* differs from the manifest's/);
    const list = await seinectl(server, ['get', 'releases']);
    assert.equal(list.code, 0, list.stderr);
    assert.doesNotMatch(list.stdout, /0\.98\.0/, 'nothing was stored');
  });

  it('rolls out in waves; the box forced to fail rolls back by itself and the rollout pauses saying why', async () => {
    // The documented test hook: box3's next version fails its health check.
    const box3 = state.boxes.find((b) => b.name === 'box3')!;
    const cfgFile = agentFiles(box3).config;
    const cfg = parse(await readFile(cfgFile, 'utf8')) as { update: Record<string, unknown> };
    cfg.update.failHealthCheck = true;
    await writeFile(cfgFile, stringify(cfg), { mode: 0o600 });

    const built = await seine(['release', 'build', '--arch', 'amd64', '--version', NEXT, '--key', labReleaseKeys(lab!.dir).privateKey, '--out', path.join(out, 'good')]);
    assert.equal(built.code, 0, built.stderr);
    const up = await seinectl(server, ['release', 'upload', path.join(out, 'good', `seine-agent-${NEXT}-amd64.manifest.json`)]);
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stdout, new RegExp(`release ${NEXT.replace(/\./g, '\\.')} \\(amd64\\) stored`));

    // Every box reports its updater before the rollout starts (arch, running version).
    await eventually('every box reports an idle updater on the old version', async () => {
      const ns = await nodes();
      return ns.length === 3 && ns.every((n) => n.agentVersion === AGENT_VERSION);
    }, 30_000);
    const created = await seinectl(server, ['rollout', 'create', NEXT, '--canary', '5%', '--waves', '25%,100%', '--max-failures', '1', '--name', 'r1']);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /rollout r1 created: canary box1; wave 1 \(empty\); wave 2 box2,box3/);

    await eventually('the rollout pauses on box3\'s rollback', async () => (await rollout('r1')).phase === 'Paused', 150_000);
    const r = await rollout('r1');
    assert.equal(r.wave, 2, 'the canary completed and the last wave started');
    assert.equal(r.nodes.box1!.state, 'healthy');
    assert.equal(r.nodes.box3!.state, 'failed');
    assert.match(r.reason ?? '', /box3: rolled back: health check failed: forced by update\.failHealthCheck/);

    const status = await seinectl(server, ['rollout', 'status', 'r1']);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /Phase: +Paused/);
    assert.match(status.stdout, /Reason: +paused: 1 failed \(max-failures 1\): box3: rolled back: health check failed/);
    assert.match(status.stdout, /box3 +wave 2 +failed/);
    const get = await seinectl(server, ['get', 'rollouts']);
    assert.match(get.stdout, /r1 +0\.99\.0 +Paused/);

    // box2 finishes its update meanwhile (the pause stops new waves, not the boxes already told).
    await eventually('box1 and box2 run the new version, box3 the old one', async () => {
      const ns = new Map((await nodes()).map((n) => [n.name, n]));
      return ns.get('box1')?.agentVersion === NEXT && ns.get('box2')?.agentVersion === NEXT && ns.get('box3')?.agentVersion === AGENT_VERSION && ns.get('box3')?.online === true;
    }, 60_000);
    for (const name of ['box1', 'box2']) {
      const { root } = otaFiles(state.boxes.find((b) => b.name === name)!);
      assert.equal(await readlink(path.join(root, 'current')), `releases/${NEXT}`, name);
      assert.deepEqual((await readdir(path.join(root, 'releases'))).sort(), [AGENT_VERSION, NEXT].sort(), `${name} keeps the previous version`);
    }
    const { root: root3 } = otaFiles(box3);
    assert.equal(await readlink(path.join(root3, 'current')), `releases/${AGENT_VERSION}`, 'box3 switched back');
    assert.deepEqual(await readdir(path.join(root3, 'releases')), [AGENT_VERSION], 'box3 removed the failed version');
  });

  it('a box that reaches a release after its notAfter refuses it saying so; the re-signed re-upload of that version rolls out to all 3', async () => {
    const EXPIRING = '0.99.5';
    const keys = labReleaseKeys(lab!.dir);
    const manifest = path.join(out, 'expiring', `seine-agent-${EXPIRING}-amd64.manifest.json`);
    const built = await seine(['release', 'build', '--arch', 'amd64', '--version', EXPIRING, '--key', keys.privateKey, '--out', path.join(out, 'expiring')]);
    assert.equal(built.code, 0, built.stderr);
    // The previous test leaves r1 paused and box3 forced to fail: neither belongs to this story.
    await seinectl(server, ['rollout', 'abort', 'r1']);
    const box3 = state.boxes.find((b) => b.name === 'box3')!;
    const cfg = parse(await readFile(agentFiles(box3).config, 'utf8')) as { update: Record<string, unknown> };
    delete cfg.update.failHealthCheck;
    await writeFile(agentFiles(box3).config, stringify(cfg), { mode: 0o600 });
    const before = new Map((await nodes()).map((n) => [n.name, n.agentVersion]));
    const box1 = state.boxes.find((b) => b.name === 'box1')!;
    const running1 = before.get('box1')!;

    // box1 (the canary) is down while the release is signed valid for 10 s, uploaded and rolled out;
    // it comes back only after notAfter, so its updater meets an expired manifest.
    let notAfter = '';
    await lab!.restartAgent('box1', {
      whileDown: async () => {
        const signed = await seine(['release', 'sign', '--manifest', manifest, '--key', keys.privateKey, '--valid-for', '10s']);
        assert.equal(signed.code, 0, signed.stderr);
        notAfter = (JSON.parse(await readFile(manifest, 'utf8')) as { manifest: { notAfter: string } }).manifest.notAfter;
        const up = await seinectl(server, ['release', 'upload', manifest]);
        assert.equal(up.code, 0, up.stderr);
        const created = await seinectl(server, ['rollout', 'create', EXPIRING, '--canary', '5%', '--waves', '100%', '--max-failures', '1', '--name', 'r-expiring']);
        assert.equal(created.code, 0, created.stderr);
        assert.match(created.stdout, /canary box1; wave 1 box2,box3/);
        await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(notAfter) - Date.now() + 500)));
      },
    });

    await eventually('r-expiring pauses on box1\'s refusal', async () => (await rollout('r-expiring')).phase === 'Paused', 30_000);
    const r = await rollout('r-expiring');
    assert.equal(r.wave, 0, 'still the canary wave');
    assert.equal(r.nodes.box1!.state, 'failed');
    assert.equal(r.nodes.box1!.updateState, 'refused');
    const why = `box1: refused: release ${EXPIRING} (amd64) expired at ${notAfter} (notAfter; now `;
    assert.ok(r.reason?.startsWith(`paused: 1 failed (max-failures 1): ${why}`), r.reason);
    assert.match(r.reason ?? '', /re-sign it with a later --not-after and upload it again$/);
    const status = await seinectl(server, ['rollout', 'status', 'r-expiring']);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /Phase: +Paused/);
    assert.ok(status.stdout.includes(`Reason:`) && status.stdout.includes(why), status.stdout);
    assert.match(status.stdout, new RegExp(`box1 +canary +failed +${running1.replace(/\./g, '\\.')} +refused`));
    // box1 stays online on what it ran, nothing unpacked; box2 and box3 were never told.
    const ns = new Map((await nodes()).map((n) => [n.name, n]));
    assert.equal(ns.get('box1')?.online, true);
    assert.equal(ns.get('box1')?.agentVersion, running1);
    assert.equal(await readlink(path.join(otaFiles(box1).root, 'current')), `releases/${running1}`);
    assert.ok(!(await readdir(path.join(otaFiles(box1).root, 'releases'))).includes(EXPIRING), 'nothing unpacked');
    for (const b of ['box2', 'box3']) assert.equal(ns.get(b)?.agentVersion, before.get(b), b);
    assert.match(await readFile(agentFiles(box1).log, 'utf8'), /expired at/, 'the box itself logged why');

    // Not startable again as it is; re-signed with a later notAfter it replaces the stored one once r-expiring is aborted.
    const abort = await seinectl(server, ['rollout', 'abort', 'r-expiring']);
    assert.equal(abort.code, 0, abort.stderr);
    const again = await seinectl(server, ['rollout', 'create', EXPIRING, '--canary', '100%', '--waves', '100%', '--name', 'r-again']);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, new RegExp(`release ${EXPIRING.replace(/\./g, '\\.')} \\(amd64\\) expired at`));
    const resigned = await seine(['release', 'sign', '--manifest', manifest, '--key', keys.privateKey, '--valid-for', '1h']);
    assert.equal(resigned.code, 0, resigned.stderr);
    const up = await seinectl(server, ['release', 'upload', manifest]);
    assert.equal(up.code, 0, up.stderr);
    const stored = (await labApi<{ items: StoredRelease[] }>(server, 'GET', '/api/v1/releases')).body.items.filter((x) => x.version === EXPIRING);
    assert.equal(stored.length, 1);
    assert.ok(Date.parse(stored[0]!.notAfter!) > Date.now() + 3000_000, `the stored manifest is the re-signed one: ${stored[0]!.notAfter}`);

    const created = await seinectl(server, ['rollout', 'create', EXPIRING, '--canary', '100%', '--waves', '100%', '--max-failures', '1', '--name', 'r-corrected']);
    assert.equal(created.code, 0, created.stderr);
    await eventually(`every box runs ${EXPIRING} and r-corrected completes`, async () => {
      const ns2 = new Map((await nodes()).map((n) => [n.name, n]));
      const rc = await rollout('r-corrected');
      return rc.phase === 'Completed' && ['box1', 'box2', 'box3'].every((n) => ns2.get(n)?.online && ns2.get(n)?.agentVersion === EXPIRING && rc.nodes[n]?.state === 'healthy');
    }, 90_000);
    assert.match((await rollout('r-corrected')).reason ?? '', new RegExp(`completed: 3 of 3 nodes run ${EXPIRING.replace(/\./g, '\\.')}`));
    for (const b of state.boxes) assert.equal(await readlink(path.join(otaFiles(b).root, 'current')), `releases/${EXPIRING}`, b.name);
  });
});
