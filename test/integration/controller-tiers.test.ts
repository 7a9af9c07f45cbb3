// The built-in tiers, as Antrea serves them: GET of the Tier list holds the six static tiers with
// Antrea's priorities plus custom ones, sorted by priority; a built-in tier is readable by name and
// cannot be changed or deleted (403 naming it), over REST and through the real seinectl binary.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import type { Controller } from '../../src/controller/main.js';
import { distProgram } from '../../src/lib/paths.js';
import { spawnCollect } from '../helpers/spawn.js';
import { api, clientFlags, startController, tempDir } from './controller-fixture.js';

const TIERS = '/apis/crd.antrea.io/v1beta1/tiers';
const BUILT_IN = [['emergency', 50], ['securityops', 100], ['networkops', 150], ['platform', 200], ['application', 250], ['baseline', 253]];
const tier = (name: string, priority: number) => ({ apiVersion: 'crd.antrea.io/v1beta1', kind: 'Tier', metadata: { name }, spec: { priority } });

describe('tiers: the built-in ones listed, readable, read-only', function () {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let controller: Controller;
  const seinectl = (args: string[]) =>
    spawnCollect(process.execPath, [distProgram('cli/seinectl.js'), ...clientFlags(controller.restUrl), ...args], { env: { PATH: process.env.PATH, HOME: tmp.dir } });

  before(async function () {
    tmp = await tempDir('seine-tiers-');
    controller = await startController(tmp.dir);
  });

  after(async function () {
    await controller?.stop();
    await tmp?.remove();
  });

  it('GET of the list holds the six built-in tiers with a fresh store, with Antrea priorities', async function () {
    const r = await api(controller.restUrl, 'GET', TIERS);
    assert.equal(r.status, 200);
    assert.equal(r.body.kind, 'TierList');
    assert.deepEqual(r.body.items.map((t: any) => [t.metadata.name, t.spec.priority]), BUILT_IN);
  });

  it('custom tiers join the list sorted by priority; seinectl get tiers shows them all', async function () {
    assert.equal((await api(controller.restUrl, 'POST', TIERS, tier('mytier', 120))).status, 200);
    assert.equal((await api(controller.restUrl, 'POST', TIERS, tier('first', 10))).status, 200);
    const r = await api(controller.restUrl, 'GET', TIERS);
    assert.deepEqual(r.body.items.map((t: any) => t.metadata.name), ['first', 'emergency', 'securityops', 'mytier', 'networkops', 'platform', 'application', 'baseline']);
    const out = await seinectl(['get', 'tiers']);
    assert.equal(out.code, 0, out.stderr);
    const rows = out.stdout.trim().split('\n').map((l) => l.split(/\s+/));
    assert.deepEqual(rows[0], ['NAME', 'PRIORITY', 'AGE']);
    assert.deepEqual(rows.slice(1).map((c) => [c[0], Number(c[1])]), [['first', 10], ['emergency', 50], ['securityops', 100], ['mytier', 120], ['networkops', 150], ['platform', 200], ['application', 250], ['baseline', 253]]);
  });

  it('a built-in tier is readable by name (REST, get and describe)', async function () {
    const r = await api(controller.restUrl, 'GET', `${TIERS}/securityops`);
    assert.equal(r.status, 200);
    assert.equal(r.body.kind, 'Tier');
    assert.equal(r.body.spec.priority, 100);
    const json = await seinectl(['get', 'tier', 'baseline', '-o', 'json']);
    assert.equal(json.code, 0, json.stderr);
    assert.equal(JSON.parse(json.stdout).spec.priority, 253);
    const described = await seinectl(['describe', 'tier', 'emergency']);
    assert.equal(described.code, 0, described.stderr);
    assert.match(described.stdout, /emergency/);
    assert.equal((await api(controller.restUrl, 'GET', `${TIERS}/nosuchtier`)).status, 404);
  });

  it('a built-in tier cannot be deleted or changed: 403 naming the tier, nothing changes', async function () {
    const del = await api(controller.restUrl, 'DELETE', `${TIERS}/emergency`);
    assert.equal(del.status, 403);
    assert.match(del.body.message, /tier emergency \(priority 50\) is built in and cannot be deleted/);
    const put = await api(controller.restUrl, 'PUT', `${TIERS}/application`, { ...tier('application', 250), spec: { priority: 250, description: 'mine' } });
    assert.equal(put.status, 403);
    assert.match(put.body.message, /tier application \(priority 250\) is built in and cannot be changed/);
    const bulk = await api(controller.restUrl, 'POST', '/api/v1/delete', { apiVersion: 'v1', kind: 'List', items: [tier('mytier', 120), tier('baseline', 253)] });
    assert.equal(bulk.status, 403);
    assert.match(bulk.body.message, /tier baseline \(priority 253\)/);
    const viaCli = await seinectl(['delete', 'tier', 'platform']);
    assert.equal(viaCli.code, 1);
    assert.match(viaCli.stderr, /tier platform \(priority 200\) is built in and cannot be deleted/);
    const manifest = path.join(tmp.dir, 'app.yaml');
    await writeFile(manifest, stringify(tier('networkops', 150)));
    const applied = await seinectl(['apply', '-f', manifest]);
    assert.equal(applied.code, 1);
    assert.match(applied.stderr, /tier networkops \(priority 150\) is built in and cannot be changed/);
    // Nothing was deleted on the way: the all-or-nothing delete kept mytier too.
    const r = await api(controller.restUrl, 'GET', TIERS);
    assert.equal(r.body.items.length, 8);
    assert.equal((await api(controller.restUrl, 'DELETE', `${TIERS}/mytier`)).status, 200, 'a custom tier can still be deleted');
  });
});
