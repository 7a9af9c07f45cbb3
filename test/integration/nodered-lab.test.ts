// The lab's Node-RED with the Seine nodes, end to end: `seine lab status --json` gives its URL
// and GET <url>/nodes lists the six node types; seine-traceflow runs a real Traceflow through the
// boxes' OVS (node-red-node-test-helper against the lab's controller); and headless Chromium
// (playwright-core + Debian's chromium) drives the real editor: import the first example from
// Import → Examples, deploy, see the policy node reach "Realized 2/2"; import and run the
// traceflow example and see the hop graph with the drop in the Seine sidebar; import the flow
// map example and see the map of real pings; the policy node's "Preview impact" lists the recorded
// pings its policy would deny. Screenshots of each step: test-output/nodered/.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import helper from 'node-red-node-test-helper';
import { chromium, type Browser, type Page } from 'playwright-core';

import type { Lab } from '../../src/lab/lab.js';
import { specFromFlags } from '../../src/lab/spec.js';
import type { LabState } from '../../src/lab/state.js';
import { distProgram, projectRoot } from '../../src/lib/paths.js';
import controllerNode from '../../nodes/seine-controller.js';
import traceflowNode from '../../nodes/seine-traceflow.js';
import type { ControllerConnection } from '../../nodes/lib/connection.js';
import { requirePrereqs } from '../helpers/prereqs.js';
import { spawnCollect } from '../helpers/spawn.js';
import { eventually, labAdmin, labApi, newLab, ping, reachable, removeLab } from './lab-fixture.js';

const OUT = path.join(projectRoot, 'test-output', 'nodered');
const SIX = ['seine-controller', 'seine-policy', 'seine-traceflow', 'seine-flows', 'seine-events', 'seine-nodes'];
const CHROMIUM_FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

describe('Node-RED in the lab: the six nodes, a real Traceflow, the real editor in headless Chromium', function () {
  this.timeout(240_000);
  let lab: Lab | undefined;
  let state: LabState;
  let redUrl = '';
  let browser: Browser | undefined;
  let page: Page;
  const pod = (name: string) => state.pods.find((p) => p.name === name)!;

  before(async () => {
    requirePrereqs('root', 'ovs', 'ip', 'ethtool', 'ping', 'chromium');
    await mkdir(OUT, { recursive: true });
    lab = await newLab('nr');
    await lab.up(specFromFlags(2, 2), { nodeRed: true });
    state = await lab.current();
    // Traffic for the flow map: every pod pings every other (once each: none is lost).
    for (const a of state.pods) for (const b of state.pods) if (a !== b) assert.ok(await reachable(a, b.ip!), `${a.name} reaches ${b.name}`);
    await ping(pod('box1-pod1'), pod('box2-pod2').ip!);
  });

  after(async () => {
    await browser?.close();
    if (lab) await removeLab(lab);
  });

  it('`seine lab status --json` gives nodeRed.url, and GET <url>/nodes lists the six Seine node types', async () => {
    const r = await spawnCollect(process.execPath, [distProgram('cli/seine.js'), 'lab', 'status', '--json'], { env: { ...process.env, SEINE_LAB_DIR: lab!.dir } });
    assert.equal(r.code, 0, r.stderr);
    const status = JSON.parse(r.stdout) as { nodeRed: { url: string; running: boolean } };
    assert.match(status.nodeRed.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(status.nodeRed.running, true);
    redUrl = status.nodeRed.url;
    const res = await fetch(`${redUrl}/nodes`, { headers: { accept: 'application/json' } });
    assert.equal(res.status, 200);
    const sets = (await res.json()) as { module: string; types: string[]; enabled: boolean; err?: string }[];
    const seine = sets.filter((s) => s.module === 'node-red-contrib-seine');
    assert.deepEqual(seine.flatMap((s) => s.types).sort(), [...SIX].sort());
    assert.ok(seine.every((s) => s.enabled && !s.err), JSON.stringify(seine));
  });

  it('seine-traceflow (node-red-node-test-helper, lab controller): a real trace is Delivered across two boxes; the editor view is its SVG', async () => {
    helper.init(createRequire(import.meta.url).resolve('node-red'));
    await helper.startServer();
    try {
      await helper.load([controllerNode, traceflowNode], [
        { id: 'c1', type: 'seine-controller', url: state.controller!.url },
        { id: 't1', type: 'seine-traceflow', controller: 'c1', source: 'default/box1-pod1', destination: 'default/box2-pod1', wires: [['out']] },
        { id: 'out', type: 'helper' },
      ], { c1: { token: labAdmin(state.controller!.url).token, ca: labAdmin(state.controller!.url).ca.toString('utf8') } });
      const statuses: string[] = [];
      helper.getNode('t1').on('call:status', (c: { args: [{ text?: string }] }) => statuses.push(c.args[0]?.text ?? ''));
      const got = new Promise<Record<string, any>>((resolve) => helper.getNode('out').once('input', resolve));
      helper.getNode('t1').receive({ payload: 'go' });
      const msg = await got;
      assert.equal(msg.topic, 'Delivered');
      assert.equal(msg.payload.status.phase, 'Succeeded');
      assert.deepEqual(msg.payload.status.results.map((r: { node: string; role: string }) => `${r.node} ${r.role}`), ['box1 Sender', 'box2 Receiver']);
      assert.deepEqual([statuses[0], statuses.at(-1)], ['tracing default/box1-pod1 → default/box2-pod1…', 'Delivered (2 nodes)']);
      const view = await helper.request().get('/seine/views/t1').expect(200);
      assert.match(view.body.svg, /box1 \(Sender\)[\s\S]*box2 \(Receiver\)/);
      const conn = helper.getNode('c1').connection as ControllerConnection;
      await helper.unload();
      assert.deepEqual(conn.resources(), { watches: 0, sockets: 0 });
    } finally {
      await helper.stopServer();
    }
  });

  describe('the real editor in headless Chromium', () => {
    const shot = (name: string) => page.screenshot({ path: path.join(OUT, name) });
    const statusOf = (id: string) => page.locator(`g[id="${id}"] .red-ui-flow-node-status-label`).textContent();
    const waitStatus = async (id: string, re: RegExp, ms = 30_000) => {
      let last: string | null = null;
      await eventually(`${id} status ${re}`, async () => re.test((last = await statusOf(id)) ?? ''), ms).catch((err: Error) => {
        throw new Error(`${err.message} (last status: ${JSON.stringify(last)})`);
      });
    };
    /** Import → Examples → node-red-contrib-seine → <name>, through the menus; then open its flow tab. */
    const importExample = async (name: string, tab: string) => {
      await page.click('#red-ui-header-button-sidemenu');
      await page.click('#menu-item-import');
      const library = page.locator('#red-ui-clipboard-dialog-import-tab-examples');
      // A click on the tab landing while the dialog still opens is lost (seen once in CI: the
      // library stayed hidden for 30 s): click until its panel shows.
      await eventually('the import dialog\'s Examples tab open', async () => {
        await page.locator('#red-ui-clipboard-dialog-import-tabs').getByText('Examples', { exact: true }).click();
        return library.isVisible();
      });
      // The tree remembers what was open: expand the package only when its examples are hidden.
      const example = library.getByText(name, { exact: true });
      const pkg = library.getByText('node-red-contrib-seine', { exact: true });
      await pkg.waitFor();
      if (!(await example.isVisible())) await pkg.click();
      await example.click();
      await page.click('#red-ui-clipboard-dialog-ok');
      await page.locator('#red-ui-clipboard-dialog').waitFor({ state: 'hidden' });
      // Node-RED draws only the active tab's nodes: click the new tab until it is the active one
      // (a click landing while the tab bar re-renders after the import is lost).
      await eventually(`tab ${tab} active`, async () => {
        await page.locator(`#red-ui-tab-${tab} a`).first().click();
        return page.evaluate((t) => (globalThis as any).RED.workspaces.active() === t, tab);
      });
    };
    const deploy = async () => {
      await page.click('#red-ui-header-button-deploy');
      await page.waitForFunction(() => !(globalThis as any).RED.nodes.dirty());
      await page.getByText('Successfully deployed').first().waitFor();
    };
    /** Clicks an inject node's button until the node it feeds shows a new status (flows may still be starting after a deploy). */
    const pressInject = async (id: string, target: string) => {
      const before = await statusOf(target);
      await eventually(`${id} triggers ${target}`, async () => {
        await page.locator(`g[id="${id}"] .red-ui-flow-node-button rect`).first().click({ force: true });
        for (let i = 0; i < 25; i++) {
          if ((await statusOf(target)) !== before) return true;
          await page.waitForTimeout(200);
        }
        return false;
      }, 20_000);
    };
    const select = (id: string) => page.locator(`g[id="${id}"] rect.red-ui-flow-node`).first().click({ force: true });
    const openSeineTab = async () => {
      const tab = page.locator('#red-ui-tab-seine a').first();
      if (await tab.isVisible()) await tab.click();
      else await page.evaluate(() => (globalThis as any).RED.sidebar.show('seine'));
      await page.locator('.seine-sidebar').waitFor({ state: 'visible' });
    };

    before(async () => {
      browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_FLAGS });
      page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
      await page.goto(redUrl);
      await page.waitForFunction(() => {
        const g = globalThis as any;
        return Boolean(g.RED?.nodes?.getType?.('seine-policy')) && g.document.querySelector('#red-ui-header-button-deploy') !== null;
      }, undefined, { timeout: 60_000 });
    });

    it('imports "deny a namespace and watch it realize", deploys, and the policy node reaches "Realized 2/2"', async () => {
      await importExample('deny a namespace and watch it realize', 'seine-ex1-tab');
      await page.locator('g[id="seine-ex1-policy"]').waitFor();
      await shot('01-imported.png');
      await deploy();
      await pressInject('seine-ex1-apply', 'seine-ex1-policy');
      await waitStatus('seine-ex1-policy', /^Realized 2\/2$/);
      await shot('02-policy-realized.png');
      await pressInject('seine-ex1-undo', 'seine-ex1-policy');
      await waitStatus('seine-ex1-policy', /^deleted ClusterNetworkPolicy isolate-default$/);
    });

    it('the policy node\'s "Preview impact" lists the recorded pings the policy would deny, before anything is deployed or applied', async () => {
      // The example's policy (isolate-default) was applied and deleted above: the preview's "before" has no policy.
      await page.locator('g[id="seine-ex1-policy"] rect.red-ui-flow-node').first().dblclick({ force: true });
      await page.locator('#node-input-preview').waitFor();
      await page.fill('#node-input-preview-since', '1h');
      const result = page.locator('#node-input-preview-result');
      // The boxes record a ping within a poll or two of it: ask until the pings are in.
      await eventually('the preview lists newly denied pings', async () => {
        await page.click('#node-input-preview');
        await page.waitForFunction(() => !/asking the boxes/.test((globalThis as any).document.querySelector('#node-input-preview-result')?.textContent ?? 'asking the boxes'));
        return /Newly denied \([1-9]\d*\)/.test((await result.textContent()) ?? '');
      }, 30_000);
      const text = (await result.textContent()) ?? '';
      assert.match(text, /^Nothing applied\./);
      assert.match(text, /default\/box1-pod1default\/box2-pod\d-ICMP/, text);
      assert.match(text, /Drop acnp\/isolate-default:deny-all-in/);
      assert.doesNotMatch(text, /Not heard from/);
      await result.scrollIntoViewIfNeeded();
      await shot('08-policy-preview.png');
      await page.click('#node-dialog-cancel');
      await page.locator('#node-input-preview').waitFor({ state: 'detached' });
      const stored = await labApi(state.controller!.url, 'GET', '/apis/crd.antrea.io/v1beta1/clusternetworkpolicies');
      assert.deepEqual(stored.body.items.map((o: { metadata: { name: string } }) => o.metadata.name).filter((n: string) => n === 'isolate-default'), [], 'the preview applied nothing');
    });

    it('runs "trace a blocked connection": the status names the dropping policy and the Seine sidebar shows the hop graph', async () => {
      await importExample('trace a blocked connection', 'seine-ex2-tab');
      await page.locator('g[id="seine-ex2-tf"]').waitFor();
      await deploy();
      await pressInject('seine-ex2-block', 'seine-ex2-policy');
      await waitStatus('seine-ex2-policy', /^Realized 2\/2$/);
      await pressInject('seine-ex2-trace', 'seine-ex2-tf');
      await waitStatus('seine-ex2-tf', /^Dropped by block-box1-pods, rule drop-from-box1 \(\d nodes?\)$/);
      await select('seine-ex2-tf');
      await openSeineTab();
      const view = page.locator('.seine-sidebar-view svg');
      await view.waitFor();
      const text = (await view.textContent()) ?? '';
      assert.match(text, /default\/box1-pod1 → default\/box2-pod1/);
      assert.match(text, /Dropped/);
      assert.ok(await page.locator('.seine-sidebar-view svg rect[stroke="#c00"]').count() >= 1, 'the drop is drawn in red');
      await shot('03-traceflow-graph.png');
      await page.click('.seine-sidebar-enlarge');
      await page.locator('.seine-view-dialog svg').waitFor();
      await shot('04-traceflow-graph-enlarged.png');
      await page.keyboard.press('Escape');
      await page.locator('.seine-view-dialog').waitFor({ state: 'detached' });
      await pressInject('seine-ex2-unblock', 'seine-ex2-policy');
      await waitStatus('seine-ex2-policy', /^deleted/);
    });

    it('opens "flow map of a namespace": the map of the pods\' real pings in the Seine sidebar', async () => {
      await importExample('flow map of a namespace', 'seine-ex4-tab');
      await page.locator('g[id="seine-ex4-flows"]').waitFor();
      await deploy();
      // The pings of before() reach the controller within the exporters' poll; ask until they are there.
      await eventually('the flow map has edges between the lab pods', async () => {
        await page.locator('g[id="seine-ex4-tick"] .red-ui-flow-node-button rect').first().click({ force: true });
        await page.waitForTimeout(1000);
        return /[1-9]\d* connections/.test((await statusOf('seine-ex4-flows')) ?? '');
      }, 60_000);
      await select('seine-ex4-flows');
      await openSeineTab();
      await page.locator('.seine-sidebar-view svg.seine-view-flow-map path.edge').first().waitFor();
      const svg = page.locator('.seine-sidebar-view svg.seine-view-flow-map');
      assert.ok(await svg.locator('circle.vertex').count() >= 2, 'at least two pods on the map');
      assert.match((await svg.textContent()) ?? '', /default\/box1-pod1/);
      await shot('05-flow-map.png');
      await page.click('.seine-sidebar-enlarge');
      await page.locator('.seine-view-dialog svg').waitFor();
      await shot('06-flow-map-enlarged.png');
      await page.keyboard.press('Escape');
    });

    it('"top talkers dashboard" runs on FlowFuse Dashboard 2.0 offline: the chart and the table of the busiest pairs', async () => {
      await importExample('top talkers dashboard', 'seine-ex3-tab');
      await page.locator('g[id="seine-ex3-chart"]').waitFor();
      await deploy();
      await waitStatus('seine-ex3-top-flows', /^[1-9]\d* records/);
      const dash = await browser!.newPage({ viewport: { width: 1280, height: 900 } });
      try {
        await dash.goto(`${redUrl}/dashboard/top-talkers`);
        await dash.locator('canvas').first().waitFor({ timeout: 30_000 });
        await dash.getByText(/default\/box\d-pod\d/).first().waitFor({ timeout: 30_000 });
        await dash.waitForTimeout(1000); // the chart's entry animation
        await dash.screenshot({ path: path.join(OUT, '07-dashboard.png') });
      } finally {
        await dash.close();
      }
    });
  });
});
