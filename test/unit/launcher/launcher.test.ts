// The launcher (src/launcher/launcher.ts) on a release layout in a temp dir, as real processes:
// stand-in releases whose dist/cli/seine.js confirms (removes `previous`), throws at import or
// hangs; the launcher SIGKILLed mid-trial with pending.json truncated to 0 bytes; and every
// half-made step a power cut can leave, finished by settle().
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Launcher, parseArgs, type LauncherOptions } from '../../../src/launcher/launcher.js';
import { PendingSwitchSchema } from '../../../src/api/release.js';
import { AGENT_NODE_ENV, AGENT_NODE_FLAGS } from '../../../src/lib/small-box.js';

const LAUNCHER = new URL('../../../src/launcher/launcher.ts', import.meta.url).pathname;

/** Stand-in releases (CommonJS: no package.json says "module" in a release dir here). */
const SCRIPTS = {
  // Confirms like the agent: `previous` removed (the commit point), then keeps running.
  good: (root: string, events: string, v: string) => `const fs = require('fs');
fs.appendFileSync(${JSON.stringify(events)}, 'start ${v}\\n');
fs.writeFileSync(${JSON.stringify(events + '.launcher')}, String(process.env.SEINE_LAUNCHER));
fs.writeFileSync(${JSON.stringify(events + '.node')}, JSON.stringify({ execArgv: process.execArgv, arenas: process.env.MALLOC_ARENA_MAX }));
try { fs.unlinkSync(${JSON.stringify(path.join(root, 'previous'))}); fs.appendFileSync(${JSON.stringify(events)}, 'confirmed ${v}\\n'); } catch {}
process.on('SIGTERM', () => process.exit(0));
setInterval(() => {}, 1000);
`,
  broken: (_root: string, events: string, v: string) => `require('fs').appendFileSync(${JSON.stringify(events)}, 'start ${v}\\n');
throw new Error('cannot load: a module of ${v} is missing');
`,
  hangs: (_root: string, events: string, v: string) => `require('fs').appendFileSync(${JSON.stringify(events)}, 'start ${v}\\n');
process.on('SIGTERM', () => process.exit(0));
setInterval(() => {}, 1000);
`,
};

describe('the launcher', function () {
  this.timeout(30_000);
  let dir: string;
  let root: string;
  let stateDir: string;
  let events: string;
  const running: ChildProcess[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'seine-launcher-'));
    root = path.join(dir, 'opt');
    stateDir = path.join(dir, 'update');
    events = path.join(dir, 'events');
    await writeFile(events, '');
  });

  afterEach(async () => {
    for (const c of running.splice(0)) {
      if (c.exitCode === null && c.signalCode === null) {
        c.kill('SIGTERM');
        await new Promise((r) => c.once('exit', r));
      }
    }
    await rm(dir, { recursive: true, force: true });
  });

  const release = async (v: string, kind: keyof typeof SCRIPTS) => {
    await mkdir(path.join(root, 'releases', v, 'dist', 'cli'), { recursive: true });
    await writeFile(path.join(root, 'releases', v, 'dist', 'cli', 'seine.js'), SCRIPTS[kind](root, events, v));
  };
  const pendingFile = () => path.join(stateDir, 'pending.json');
  const ask = async (from: string, to: string, deadlineSeconds = 20) => {
    await mkdir(stateDir, { recursive: true });
    const now = Date.now();
    await writeFile(pendingFile(), JSON.stringify({ from, to, rollout: 'r1', switchedAt: now, deadline: now + deadlineSeconds * 1000, boots: 0 }));
  };
  const pending = async () => PendingSwitchSchema.parse(JSON.parse(await readFile(pendingFile(), 'utf8')));
  const launch = (extra: string[] = []) => {
    const c = spawn(process.execPath, ['--import', 'tsx', LAUNCHER, '--root', root, '--state-dir', stateDir, '--restart-delay-ms', '50', ...extra, '--', 'agent'], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, SEINE_LOG_LEVEL: 'warn' } });
    running.push(c);
    return c;
  };
  const eventLines = async () => (await readFile(events, 'utf8')).split('\n').filter(Boolean);
  const until = async (what: string, check: () => Promise<boolean>, ms = 15_000) => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (await check()) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`timed out: ${what}; events: ${(await eventLines()).join(', ')}`);
  };
  const opts = (o: Partial<LauncherOptions> = {}): LauncherOptions => ({ root, stateDir, args: ['agent'], maxStarts: 3, deadlineSeconds: 120, restartDelayMs: 0, node: process.execPath, ...o });

  it('makes the switch the updater asked for and keeps the new version once it confirms', async () => {
    await release('0.1.0', 'good');
    await release('0.2.0', 'good');
    await symlink('releases/0.1.0', path.join(root, 'current'));
    await ask('0.1.0', '0.2.0');
    const l = launch();
    await until('0.2.0 confirms', async () => (await eventLines()).includes('confirmed 0.2.0'));
    assert.equal(await readFile(`${events}.launcher`, 'utf8'), String(l.pid), 'the agent learns it runs under a launcher (SEINE_LAUNCHER)');
    // The launcher keeps its own copy of the small-box settings (it imports nothing): they are src/lib/small-box.ts's.
    assert.deepEqual(JSON.parse(await readFile(`${events}.node`, 'utf8')), { execArgv: AGENT_NODE_FLAGS, arenas: process.env.MALLOC_ARENA_MAX ?? AGENT_NODE_ENV.MALLOC_ARENA_MAX });
    assert.equal(await readlink(path.join(root, 'current')), 'releases/0.2.0');
    await assert.rejects(readlink(path.join(root, 'previous')), /ENOENT/, 'confirmed: no longer on trial');
    assert.equal((await pending()).boots, 1, 'one start counted');
    assert.deepEqual(await eventLines(), ['start 0.2.0', 'confirmed 0.2.0'], 'the old version never ran again');
  });

  it('rolls back a release that throws at import after 3 starts, by itself, and records why', async () => {
    await release('0.1.0', 'good');
    await release('0.2.0', 'broken');
    await symlink('releases/0.1.0', path.join(root, 'current'));
    await ask('0.1.0', '0.2.0');
    const t0 = Date.now();
    launch();
    await until('0.1.0 runs again', async () => (await eventLines()).includes('start 0.1.0'));
    const ms = Date.now() - t0;
    assert.deepEqual(await eventLines(), ['start 0.2.0', 'start 0.2.0', 'start 0.2.0', 'start 0.1.0']);
    assert.equal(await readlink(path.join(root, 'current')), 'releases/0.1.0');
    await assert.rejects(readlink(path.join(root, 'previous')), /ENOENT/);
    const p = await pending();
    assert.equal(p.failure, 'did not start: exited 3 times without confirming health');
    assert.equal(p.rollout, 'r1', 'the record keeps the rollout for the report');
    console.log(`      broken release → previous version started: ${ms} ms (3 starts, 50 ms restart delay)`);
  });

  it('rolls back a release that hangs without confirming at its deadline', async () => {
    await release('0.1.0', 'good');
    await release('0.2.0', 'hangs');
    await symlink('releases/0.1.0', path.join(root, 'current'));
    await ask('0.1.0', '0.2.0', 1);
    launch();
    await until('0.1.0 runs again', async () => (await eventLines()).includes('start 0.1.0'));
    assert.deepEqual(await eventLines(), ['start 0.2.0', 'start 0.1.0'], 'one start, stopped at the deadline');
    assert.equal((await pending()).failure, 'did not confirm health within 1 s');
    assert.equal(await readlink(path.join(root, 'current')), 'releases/0.1.0');
  });

  it('survives a power cut mid-trial with pending.json truncated to 0 bytes: the starts are counted anew and the broken release still goes', async () => {
    await release('0.1.0', 'good');
    await release('0.2.0', 'broken');
    await symlink('releases/0.1.0', path.join(root, 'current'));
    await ask('0.1.0', '0.2.0');
    // A launcher whose restarts are slow, so it is killed between two starts of the broken version.
    const first = launch(['--restart-delay-ms', '5000']);
    await until('the first start of 0.2.0', async () => (await eventLines()).includes('start 0.2.0'));
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    await writeFile(pendingFile(), '');
    assert.equal(await readlink(path.join(root, 'previous')), 'releases/0.1.0', 'the switch was made before the cut');
    launch();
    await until('0.1.0 runs again', async () => (await eventLines()).includes('start 0.1.0'));
    assert.deepEqual(await eventLines(), ['start 0.2.0', 'start 0.2.0', 'start 0.2.0', 'start 0.2.0', 'start 0.1.0'], 'one start before the cut, three counted after it');
    assert.match((await pending()).failure ?? '', /did not start: exited 3 times/);
  });

  it('treats a pending.json that does not parse as no update in progress', async () => {
    await release('0.1.0', 'good');
    await symlink('releases/0.1.0', path.join(root, 'current'));
    await mkdir(stateDir, { recursive: true });
    for (const text of ['', '{"from":', '{"from":"0.1.0","to":"../../etc"}']) {
      await writeFile(pendingFile(), text);
      assert.deepEqual(await new Launcher(opts()).settle(), { version: '0.1.0' }, JSON.stringify(text));
    }
  });

  it('finishes every half-made step a power cut can leave', async () => {
    await release('0.1.0', 'good');
    await release('0.2.0', 'good');
    const l = new Launcher(opts());
    const links = async () => [await readlink(path.join(root, 'current')).catch(() => null), await readlink(path.join(root, 'previous')).catch(() => null)];

    // Cut between `previous` and `current` of a switch: previous = current is no trial; the switch is made again.
    await symlink('releases/0.1.0', path.join(root, 'current'));
    await symlink('releases/0.1.0', path.join(root, 'previous'));
    await ask('0.1.0', '0.2.0');
    assert.equal((await l.settle()).version, '0.2.0');
    assert.deepEqual(await links(), ['releases/0.2.0', 'releases/0.1.0']);
    assert.equal((await pending()).boots, 1);

    // Cut after the rollback reason was written, before `current` went back: the rollback is finished.
    await writeFile(pendingFile(), JSON.stringify({ ...(await pending()), failure: 'health check failed: x' }));
    assert.deepEqual(await l.settle(), { version: '0.1.0', rolledBack: 'health check failed: x' });
    assert.deepEqual(await links(), ['releases/0.1.0', null]);

    // Cut after `current` went back, before `previous` was removed: the leftover goes, nothing is switched again.
    await symlink('releases/0.1.0', path.join(root, 'previous'));
    assert.deepEqual(await l.settle(), { version: '0.1.0' });
    assert.deepEqual(await links(), ['releases/0.1.0', null]);
    assert.equal((await pending()).failure, 'health check failed: x', 'the reason stays for the previous version to report');

    // A switch to a version whose tree is not there (unpack lost) is not made.
    await ask('0.1.0', '0.3.0');
    assert.deepEqual(await l.settle(), { version: '0.1.0' });

    // A trial whose new tree lost its program (files lost in the cut): rolled back without a start.
    await ask('0.1.0', '0.2.0');
    assert.equal((await l.settle()).version, '0.2.0');
    await rm(path.join(root, 'releases', '0.2.0', 'dist'), { recursive: true });
    assert.deepEqual(await l.settle(), { version: '0.1.0', rolledBack: 'did not start: releases/0.2.0 has no dist/cli/seine.js' });
  });

  it('names a bad command line', () => {
    assert.throws(() => parseArgs(['--root', 'rel', '--state-dir', '/s', '--', 'agent']), /usage: launcher --root ABS_DIR/);
    assert.throws(() => parseArgs(['--root', '/r', '--state-dir', '/s', '--max-starts', '0', '--', 'agent']), /--max-starts: expected a number ≥ 1, got 0/);
    assert.deepEqual(parseArgs(['--root', '/r', '--state-dir', '/s', '--', 'agent', '--config', '/c']).args, ['agent', '--config', '/c']);
  });
});
