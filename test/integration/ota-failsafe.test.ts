// Fail-safe updates (issue 17) on a 3-box lab started with OTA: every box runs its agent under
// the launcher (src/launcher/launcher.ts), as systemd does on a box. Releases broken on purpose —
// one whose entry point cannot even be imported, one that rejects the box's agent.yaml — are
// rolled back by the launcher without the release's help, and the rollout pauses naming the box
// and "did not start". Then power cuts: the launcher and its agent SIGKILLed after the download,
// after the unpack, right after the switch and before the health confirmation, with the state
// files truncated to 0 bytes while the box is down; every box comes back on a version that runs
// and the rollout says what happened.
import assert from 'node:assert/strict';
import { access, cp, mkdir, mkdtemp, readFile, readlink, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { NodeInfo } from '../../src/api/controller-api.js';
import type { Rollout } from '../../src/api/release.js';
import { AGENT_VERSION } from '../../src/agent/sync/index.js';
import { agentFiles } from '../../src/lab/agent-process.js';
import type { Lab } from '../../src/lab/lab.js';
import { labReleaseKeys, OTA_HEALTH_DEADLINE_SECONDS, otaFiles } from '../../src/lab/ota.js';
import { specFromFlags } from '../../src/lab/spec.js';
import type { BoxState, LabState } from '../../src/lab/state.js';
import { NATIVE_IN_CHECKOUT, NATIVE_IN_RELEASE } from '../../src/lib/netlink/native.js';
import { distProgram, projectRoot } from '../../src/lib/paths.js';
import { requirePrereqs } from '../helpers/prereqs.js';
import { spawnCollect } from '../helpers/spawn.js';
import { eventually, labApi, newLab, removeLab, seinectl } from './lab-fixture.js';

const seine = (args: string[]) => spawnCollect(process.execPath, [distProgram('cli/seine.js'), ...args]);
const STATE_FILES = ['pending.json', 'outcome.json', 'refused.json'];

describe('fail-safe updates on a 3-box OTA lab: the launcher rolls back, power cuts', function () {
  this.timeout(300_000);
  let lab: Lab | undefined;
  let state: LabState;
  let out: string;
  let server: string;

  before(async () => {
    requirePrereqs('root', 'ovs', 'ip', 'ethtool');
    out = await mkdtemp(path.join(tmpdir(), 'seine-failsafe-'));
    lab = await newLab('otafs');
    state = await lab.up(specFromFlags(3, 0, 'geneve', true));
    server = state.controller!.url;
  });

  after(async () => {
    if (lab) await removeLab(lab);
    await rm(out, { recursive: true, force: true });
  });

  const box = (name: string) => state.boxes.find((b) => b.name === name)!;
  const nodes = async () => new Map((await labApi<NodeInfo[]>(server, 'GET', '/api/v1/nodes')).body.map((n) => [n.name, n]));
  const rollout = async (name: string) => (await labApi<Rollout>(server, 'GET', `/api/v1/rollouts/${name}`)).body;
  const current = (b: BoxState) => readlink(path.join(otaFiles(b).root, 'current')).catch(() => '');
  const agentLog = (b: BoxState) => readFile(agentFiles(b).log, 'utf8').catch(() => '');

  /** Builds and uploads release `version` from a copy of this checkout's tree, changed by `mutate` first. */
  const release = async (version: string, mutate?: (tree: string) => Promise<void>) => {
    const tree = path.join(out, `tree-${version}`);
    await mkdir(tree, { recursive: true });
    await cp(path.join(projectRoot, 'dist'), path.join(tree, 'dist'), { recursive: true });
    await cp(path.join(projectRoot, 'package.json'), path.join(tree, 'package.json'));
    // A release carries the netlink addon built for its architecture (the image build does this for arm).
    await mkdir(path.dirname(path.join(tree, NATIVE_IN_RELEASE)), { recursive: true });
    await cp(path.join(projectRoot, NATIVE_IN_CHECKOUT), path.join(tree, NATIVE_IN_RELEASE));
    await mutate?.(tree);
    const built = await seine(['release', 'build', '--arch', 'amd64', '--version', version, '--from', tree, '--key', labReleaseKeys(lab!.dir).privateKey, '--out', path.join(out, version)]);
    assert.equal(built.code, 0, built.stderr);
    const up = await seinectl(server, ['release', 'upload', path.join(out, version, `seine-agent-${version}-amd64.manifest.json`)]);
    assert.equal(up.code, 0, up.stderr);
  };

  /** Creates a rollout; `all`: every box at once (canary 100%). */
  const roll = async (version: string, name: string, all = false) => {
    const r = await seinectl(server, ['rollout', 'create', version, '--canary', all ? '100%' : '5%', '--waves', '100%', '--max-failures', '1', '--name', name]);
    assert.equal(r.code, 0, r.stderr);
  };

  /**
   * The canary box1 takes `version`, which cannot run: the launcher must put the old version back
   * by itself, box1 reports online on it, and the rollout pauses naming box1 and "did not start".
   * Returns the measured times (ms) from the switch.
   */
  const brokenCanary = async (version: string, name: string) => {
    const box1 = box('box1');
    await roll(version, name);
    // The moment the launcher switches `current` (polled: the new version needs far longer to fail).
    const t0 = await new Promise<number>((resolve, reject) => {
      const end = Date.now() + 60_000;
      const poll = async () => {
        if ((await current(box1)) === `releases/${version}`) return resolve(Date.now());
        if (Date.now() > end) return reject(new Error(`box1 never switched to ${version}`));
        setTimeout(() => void poll(), 20);
      };
      void poll();
    });
    let back = 0;
    await eventually('box1 is switched back to the old version', async () => {
      back = Date.now();
      return (await current(box1)) === `releases/${AGENT_VERSION}`;
    }, (OTA_HEALTH_DEADLINE_SECONDS + 30) * 1000);
    let online = 0;
    await eventually('box1 reports online on the old version with the rollback', async () => {
      online = Date.now();
      const n = (await nodes()).get('box1');
      const r = await rollout(name);
      return n?.online === true && n.agentVersion === AGENT_VERSION && r.nodes.box1?.updateState === 'rolledBack';
    }, 60_000);
    await eventually(`rollout ${name} pauses`, async () => (await rollout(name)).phase === 'Paused', 30_000);
    const r = await rollout(name);
    assert.equal(r.nodes.box1!.state, 'failed');
    assert.equal(r.nodes.box1!.version, AGENT_VERSION);
    assert.match(r.reason ?? '', /box1: rolled back: did not start: exited 3 times without confirming health/);
    const status = await seinectl(server, ['rollout', 'status', name]);
    assert.match(status.stdout, /Reason: +paused: 1 failed \(max-failures 1\): box1: rolled back: did not start/);
    assert.match(status.stdout, new RegExp(`box1 +canary +failed +${AGENT_VERSION.replace(/\./g, '\\.')} +rolledBack`));
    // box2 and box3 were never told (the canary failed), and the failed version is gone from box1.
    assert.deepEqual(await readdir(path.join(otaFiles(box1).root, 'releases')), [AGENT_VERSION]);
    for (const b of ['box2', 'box3']) assert.equal(await current(box(b)), `releases/${AGENT_VERSION}`, b);
    const abort = await seinectl(server, ['rollout', 'abort', name]);
    assert.equal(abort.code, 0, abort.stderr);
    return { rolledBackMs: back - t0, onlineMs: online - t0 };
  };

  it('rolls back a release whose entry point throws at import, without running it, and the rollout pauses saying "did not start"', async () => {
    await release('0.98.1', async (tree) => {
      const entry = path.join(tree, 'dist', 'cli', 'seine.js');
      // A module missing from the build: the entry point cannot even be imported (after its #! line).
      const [shebang, ...rest] = (await readFile(entry, 'utf8')).split('\n');
      await writeFile(entry, [shebang, "import '../lib/left-out-of-this-build.js';", ...rest].join('\n'));
    });
    const t = await brokenCanary('0.98.1', 'broken-import');
    assert.ok(t.rolledBackMs < (OTA_HEALTH_DEADLINE_SECONDS + 3 * 2) * 1000, `rolled back within the deadline plus the restart budget: ${t.rolledBackMs} ms`);
    assert.match(await agentLog(box('box1')), /left-out-of-this-build/, 'the release really failed to import');
    console.log(`      release that cannot import: switch → current back ${(t.rolledBackMs / 1000).toFixed(1)} s, → online on the old version and reported ${(t.onlineMs / 1000).toFixed(1)} s`);
  });

  it('rolls back a release that rejects the box\'s existing agent.yaml, the same way', async () => {
    await release('0.98.2', async (tree) => {
      const file = path.join(tree, 'dist', 'api', 'config.js');
      const text = await readFile(file, 'utf8');
      const anchor = 'export const AgentConfigSchema = z.strictObject({';
      assert.ok(text.includes(anchor), 'the compiled config schema changed: update this test');
      // The next version requires a setting no box has yet.
      await writeFile(file, text.replace(anchor, `${anchor}\n    siteIdRequiredFromNowOn: z.string(),`));
    });
    const t = await brokenCanary('0.98.2', 'broken-config');
    assert.ok(t.rolledBackMs < (OTA_HEALTH_DEADLINE_SECONDS + 3 * 2) * 1000, `rolled back within the deadline plus the restart budget: ${t.rolledBackMs} ms`);
    assert.match(await agentLog(box('box1')), /siteIdRequiredFromNowOn/, 'the release really rejected agent.yaml, naming the field');
    console.log(`      release that rejects agent.yaml: switch → current back ${(t.rolledBackMs / 1000).toFixed(1)} s, → online on the old version and reported ${(t.onlineMs / 1000).toFixed(1)} s`);
  });

  /** Waits for the updater's halt (update.testHaltAt) at `step` in the box's agent log. */
  const halted = (b: BoxState, step: string) =>
    eventually(`${b.name} halts at ${step}`, async () => (await agentLog(b)).split('\n').some((l) => l.includes('update halted here') && l.includes(`"step":"${step}"`)), 60_000);
  /** The power cut: launcher and agent SIGKILLed, every state file that exists truncated to 0 bytes while down, then power back on. */
  const powerCut = (b: BoxState) =>
    lab!.restartAgent(b.name, {
      crash: true,
      whileDown: async () => {
        for (const f of STATE_FILES) {
          const file = path.join(otaFiles(b).stateDir, f);
          if (await access(file).then(() => true, () => false)) await truncate(file, 0);
        }
      },
    });
  const allOn = (version: string, name: string) =>
    eventually(`every box runs ${version}, committed, and the rollout completes`, async () => {
      const ns = await nodes();
      const r = await rollout(name);
      return ['box1', 'box2', 'box3'].every((n) => ns.get(n)?.online && ns.get(n)?.agentVersion === version && r.nodes[n]?.state === 'healthy') && r.phase === 'Completed';
    }, 120_000);
  const settledOn = async (version: string) => {
    for (const b of state.boxes) {
      const { root, stateDir } = otaFiles(b);
      assert.equal(await current(b), `releases/${version}`, b.name);
      await assert.rejects(readlink(path.join(root, 'previous')), /ENOENT/, `${b.name}: not on trial`);
      await assert.rejects(access(path.join(stateDir, 'pending.json')), /ENOENT/, `${b.name}: nothing pending`);
    }
  };

  it('power cuts after the download, after the unpack and right after the switch, state files emptied: every box comes back and updates', async () => {
    await release('0.99.0');
    // box1 and box2 stop for good at their step (the test hook), box3 is cut when its launcher switches.
    await lab!.restartAgent('box1', { update: { testHaltAt: 'downloaded' } });
    await lab!.restartAgent('box2', { update: { testHaltAt: 'unpacked' } });
    await roll('0.99.0', 'cuts', true);
    const box3 = box('box3');
    await eventually('box3 switches', async () => (await current(box3)) === 'releases/0.99.0', 60_000);
    await powerCut(box3);
    await halted(box('box1'), 'downloaded');
    assert.ok((await readdir(path.join(otaFiles(box('box1')).stateDir, 'downloads'))).some((f) => f.endsWith('.tar.gz')), 'box1: the bundle is downloaded');
    await powerCut(box('box1'));
    await halted(box('box2'), 'unpacked');
    assert.ok((await readdir(path.join(otaFiles(box('box2')).root, 'releases'))).includes('0.99.0'), 'box2: unpacked');
    assert.equal(await current(box('box2')), `releases/${AGENT_VERSION}`, 'box2: not switched yet');
    await powerCut(box('box2'));
    await allOn('0.99.0', 'cuts');
    await settledOn('0.99.0');
  });

  it('a power cut before the health confirmation, state files emptied: the launcher counts anew and the new version commits', async () => {
    await release('0.99.1');
    const box1 = box('box1');
    await lab!.restartAgent('box1', { update: { testHaltAt: 'confirming' } });
    await roll('0.99.1', 'cut-confirming', true);
    await halted(box1, 'confirming');
    assert.equal(await current(box1), 'releases/0.99.1');
    assert.equal(await readlink(path.join(otaFiles(box1).root, 'previous')), 'releases/0.99.0', 'on trial');
    await powerCut(box1);
    await allOn('0.99.1', 'cut-confirming');
    await settledOn('0.99.1');
    assert.match(await agentLog(box1), /the version on trial has no readable pending record/, 'the launcher saw the emptied record');
  });
});
