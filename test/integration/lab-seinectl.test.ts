// The newcomer's path (issue 24): right after a lab comes up, the real seinectl binary with no
// --server, token, CA or config file finds the lab's controller through the lab's admin file
// (as kubectl finds k3s through k3s.yaml) for `get nodes`, `get acnp`, `get tiers` and
// `traceflow`; after `lab down` it no longer points at the removed lab and says so, with how to
// name a controller. Its own SEINE_LAB_DIR under /tmp/sl-*, removed in `after` even on failure.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { Lab } from '../../src/lab/lab.js';
import { labAdminFile, labNames } from '../../src/lab/names.js';
import { listNetns } from '../../src/lab/netns.js';
import { distProgram } from '../../src/lib/paths.js';
import { requirePrereqs } from '../helpers/prereqs.js';
import { spawnCollect, type Collected } from '../helpers/spawn.js';

/** A user's shell: the lab dir and PATH, no SEINE_SERVER/TOKEN/CA, no config file (an empty XDG_CONFIG_HOME). */
const userEnv = (dir: string) => ({ PATH: process.env.PATH, HOME: dir, XDG_CONFIG_HOME: path.join(dir, 'no-config'), SEINE_LAB_DIR: dir });
const seine = (dir: string, args: string[]) => spawnCollect(process.execPath, [distProgram('cli/seine.js'), ...args], { env: userEnv(dir) });
const seinectl = (dir: string, args: string[]) => spawnCollect(process.execPath, [distProgram('cli/seinectl.js'), ...args], { env: userEnv(dir) });
const ok = (r: Collected, what: string) => assert.equal(r.code, 0, `${what} exited ${r.code}: ${r.stderr}`);

describe('seinectl with no flags: finds the lab, forgets it after lab down', function () {
  this.timeout(120_000);
  let dir = '';

  before(async function () {
    requirePrereqs('root', 'ovs', 'ip', 'ethtool', 'ping');
    dir = await mkdtemp('/tmp/sl-ctl-');
    ok(await seine(dir, ['lab', 'up', '--nodes', '2', '--pods-per-node', '1', '--no-node-red']), 'lab up');
  });

  after(async function () {
    if (!dir) return;
    await new Lab(dir).down();
    assert.deepEqual(await listNetns(`${labNames(dir).prefix}-`), [], 'network namespaces left behind');
    await rm(dir, { recursive: true, force: true });
  });

  it('get nodes, get acnp, get tiers and traceflow work right after lab up', async function () {
    assert.ok(existsSync(labAdminFile(dir)), 'lab up wrote the admin file');
    const nodes = await seinectl(dir, ['get', 'nodes', '-o', 'json']);
    ok(nodes, 'get nodes');
    assert.deepEqual((JSON.parse(nodes.stdout) as { name: string; online: boolean }[]).map((n) => [n.name, n.online]), [['box1', true], ['box2', true]]);
    const acnp = await seinectl(dir, ['get', 'acnp']);
    ok(acnp, 'get acnp');
    assert.equal(acnp.stderr, 'No resources found\n');
    const tiers = await seinectl(dir, ['get', 'tiers']);
    ok(tiers, 'get tiers');
    assert.deepEqual(tiers.stdout.trim().split('\n').slice(1).map((l) => l.split(/\s+/).slice(0, 2).join(' ')),
      ['emergency 50', 'securityops 100', 'networkops 150', 'platform 200', 'application 250', 'baseline 253']);
    const tf = await seinectl(dir, ['traceflow', '--source', 'default/box1-pod1', '--destination', 'default/box2-pod1', '-o', 'json']);
    assert.equal(tf.code, 0, `traceflow exited ${tf.code}: ${tf.stderr}${tf.stdout}`);
    const status = JSON.parse(tf.stdout) as { status?: { phase?: string; results?: { node: string }[] } };
    assert.equal(status.status?.phase, 'Succeeded', tf.stdout);
    assert.deepEqual([...new Set(status.status?.results?.map((r) => r.node))].sort(), ['box1', 'box2'], 'the trace crossed both boxes');
  });

  it('after lab down, seinectl says no controller is configured and how to set one', async function () {
    ok(await seine(dir, ['lab', 'down']), 'lab down');
    assert.ok(!existsSync(labAdminFile(dir)), 'lab down removed the admin file');
    const r = await seinectl(dir, ['get', 'nodes']);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 3, r.stderr);
    assert.ok(lines.every((l) => l.startsWith('seinectl: ')), r.stderr);
    assert.ok(!/\s+at /.test(r.stderr), 'no stack trace');
    assert.ok(lines[0]!.includes(`seinectl: no controller is configured: none of --server, SEINE_SERVER, the config file ${path.join(dir, 'no-config', 'seine', 'seinectl.yaml')}, the lab's admin file ${labAdminFile(dir)} (no lab is up there)`), lines[0]);
    assert.match(lines[1]!, /npm start \(or seine lab up\)/);
    assert.match(lines[2]!, /--server https:\/\/HOST:8443 --token TOKEN --certificate-authority CA\.crt/);
    assert.doesNotMatch(r.stderr, /cannot reach|ECONNREFUSED|127\.0\.0\.1/, 'no connection attempt to a guessed address');
  });
});
