// The six Node-RED nodes in Node-RED's own test runtime (node-red-node-test-helper) against a
// real controller started here, with two agents' real sync modules over its MQTT broker (their
// realizer is the boundary, as in the controller tests). Each node: good input, bad input ending
// in done(err) with the field named (what a Catch node gets), status changes, and close without
// leaks (no polling loop and no socket left on the config node's connection).
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import helper from 'node-red-node-test-helper';
import type { AggregatedFlow } from '../../src/api/flow-record.js';
import type { DesiredObject } from '../../src/api/node-state.js';
import type { RealizeOutcome, Realizer } from '../../src/agent/sync/realizers.js';
import type { Controller } from '../../src/controller/main.js';
import { freePort } from '../../src/lib/free-port.js';
import controllerNode from '../../nodes/seine-controller.js';
import policyNode from '../../nodes/seine-policy.js';
import traceflowNode from '../../nodes/seine-traceflow.js';
import flowsNode from '../../nodes/seine-flows.js';
import eventsNode from '../../nodes/seine-events.js';
import nodesNode from '../../nodes/seine-nodes.js';
import type { ControllerConnection } from '../../nodes/lib/connection.js';
import { syntheticRecord } from '../helpers/flow-records.js';
import { api, startAgent, startController, tempDir, trustOf, waitFor, type TestAgent } from './controller-fixture.js';

helper.init(createRequire(import.meta.url).resolve('node-red'));

const ALL = [controllerNode, policyNode, traceflowNode, flowsNode, eventsNode, nodesNode];

/** Realizes when let go: holds the policy at "Realizing 1/2" until the test releases it. */
class GatedRealizer implements Realizer {
  private release?: () => void;
  private gate: Promise<void> = Promise.resolve();
  hold(): void {
    this.gate = new Promise((r) => (this.release = r));
  }
  open(): void {
    this.release?.();
  }
  async realize(objects: ReadonlyMap<string, DesiredObject>): Promise<ReadonlyMap<string, RealizeOutcome>> {
    await this.gate;
    return new Map([...objects.keys()].map((k): [string, RealizeOutcome] => [k, { ok: true }]));
  }
}

interface Seen {
  statuses: string[];
  errors: { message: string; msg?: Record<string, unknown> }[];
}

/** Records a node's status texts and errors (done(err) arrives as node.error(err, msg)). */
function watchNode(id: string): Seen {
  const n = helper.getNode(id);
  const seen: Seen = { statuses: [], errors: [] };
  n.on('call:status', (call: { args: [{ text?: string }] }) => seen.statuses.push(call.args[0]?.text ?? ''));
  n.on('call:error', (call: { args: [unknown, Record<string, unknown>?] }) => {
    const e = call.args[0];
    seen.errors.push({ message: e instanceof Error ? e.message : String(e), msg: call.args[1] });
  });
  return seen;
}

function nextMessage(id: string, timeoutMs = 10_000): Promise<Record<string, any>> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no message on ${id} within ${timeoutMs} ms`)), timeoutMs);
    helper.getNode(id).once('input', (msg: Record<string, any>) => {
      clearTimeout(t);
      resolve(msg);
    });
  });
}

const connectionOf = (id = 'c1') => helper.getNode(id).connection as ControllerConnection;

/** Unloads the flow and checks the config node's connection kept no loop and no socket. */
async function unloadWithoutLeaks(): Promise<void> {
  const conn = connectionOf();
  assert.ok(conn, 'the config node has a connection');
  await helper.unload();
  assert.deepEqual(conn.resources(), { watches: 0, sockets: 0 }, 'after close: no polling loop, no socket');
}

const DENY_NS = `apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: deny-web}
spec:
  priority: 5
  appliedTo: [{podSelector: {matchLabels: {app: web}}}]
  ingress: [{action: Drop, from: [{namespaceSelector: {}}]}]
`;

describe('Node-RED nodes against a real controller (node-red-node-test-helper)', function () {
  this.timeout(60_000);
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let controller: Controller;
  const agents: TestAgent[] = [];
  const gated = new GatedRealizer();
  let url = '';
  const passwords = new Map<string, string>();
  const startBox = async (node: string) =>
    startAgent({ node, url: controller.brokerUrl, password: passwords.get(node)!, dir: tmp.dir, ...(node === 'box2' ? { realizer: gated as never } : {}) });
  /** box2 goes offline (a clean stop says so) and comes back as a new agent process would. */
  const box2Offline = () => agents[1]!.stop();
  const box2Online = async () => void (agents[1] = await startBox('box2'));
  const cfg = (extra: Record<string, unknown> = {}) => ({ id: 'c1', type: 'seine-controller', url, ...extra });
  /** Loads a flow with the config node's credentials: the controller's admin token and CA (it is HTTPS). */
  const load = (nodes: unknown, flow: unknown[]) => {
    const t = trustOf(url);
    return helper.load(nodes as never, flow as never, { c1: { token: t.token, ca: t.ca?.toString('utf8') } } as never);
  };

  before(async () => {
    tmp = await tempDir('seine-nr-');
    controller = await startController(tmp.dir);
    url = controller.restUrl;
    for (const node of ['box1', 'box2']) {
      passwords.set(node, await controller.nodes.createCredentials(node, 'test'));
      agents.push(await startBox(node));
    }
    await waitFor('both agents reported', async () => (await controller.nodes.reports()).size === 2);
    await helper.startServer();
  });

  afterEach(async () => {
    await helper.unload();
  });

  after(async () => {
    await helper.stopServer();
    for (const a of agents) await a.stop();
    await controller?.stop();
    await tmp?.remove();
  });

  describe('seine-policy', () => {
    const flow = (extra: Record<string, unknown> = {}) => [
      cfg(),
      { id: 'p1', type: 'seine-policy', controller: 'c1', action: 'apply', policy: '', watch: 0.2, wires: [['out'], ['phase']], ...extra },
      { id: 'out', type: 'helper' },
      { id: 'phase', type: 'helper' },
    ];

    it('applies msg.payload and its status follows the phase live: Realizing 1/2, then Realized 2/2', async () => {
      await load(ALL, flow());
      const seen = watchNode('p1');
      const phases: string[] = [];
      helper.getNode('phase').on('input', (m: { payload: { text: string } }) => phases.push(m.payload.text));
      gated.hold();
      const result = nextMessage('out');
      helper.getNode('p1').receive({ payload: DENY_NS });
      assert.deepEqual((await result).payload.items.map((i: { name: string; outcome: string }) => `${i.name} ${i.outcome}`), ['deny-web created']);
      await waitFor('status Realizing 1/2', () => seen.statuses.includes('Realizing 1/2'));
      gated.open();
      await waitFor('status Realized 2/2', () => seen.statuses.at(-1) === 'Realized 2/2');
      assert.ok(phases.includes('Realizing 1/2') && phases.at(-1) === 'Realized 2/2', `phase messages: ${phases.join(', ')}`);
      assert.deepEqual(seen.errors, []);
      await unloadWithoutLeaks();
    });

    it('the editor\'s Preview impact asks the controller and names every box that did not answer; nothing is applied', async () => {
      await load(ALL, flow());
      // These test agents have no flow store: each box answers UnknownMethod, and the preview says so per box.
      const r = await helper.request().post('/seine/preview').send({ controller: 'c1', text: DENY_NS.replace('deny-web', 'preview-only'), since: '1h' }).expect(200);
      assert.equal(r.body.kind, 'ImpactPreview');
      assert.equal(r.body.window.until - r.body.window.since, 3600);
      assert.deepEqual(r.body.nodes.answered, []);
      assert.deepEqual(r.body.nodes.notHeard.map((n: { node: string }) => n.node), ['box1', 'box2']);
      for (const n of r.body.nodes.notHeard) assert.match(n.reason, /UnknownMethod|flows\.impact/);
      assert.equal((await api(url, 'GET', '/apis/crd.antrea.io/v1beta1/clusternetworkpolicies/preview-only')).status, 404, 'the preview applied nothing');
      const bad = await helper.request().post('/seine/preview').send({ controller: 'c1', text: DENY_NS.replace('Drop', 'Deny') }).expect(422);
      assert.match(bad.body.message, /spec\.ingress\[0\]\.action/);
      const noController = await helper.request().post('/seine/preview').send({ controller: 'nope', text: DENY_NS }).expect(400);
      assert.match(noController.body.message, /no seine-controller/);
      await unloadWithoutLeaks();
    });

    it('get sends the stored object with its status; delete removes it and stops following', async () => {
      await load(ALL, flow({ policy: DENY_NS }));
      const seen = watchNode('p1');
      let got = nextMessage('out');
      helper.getNode('p1').receive({ action: 'get' });
      const obj = (await got).payload;
      assert.equal(obj.metadata.name, 'deny-web');
      assert.equal(obj.status.phase, 'Realized');
      assert.equal(seen.statuses.at(-1), 'Realized 2/2');
      got = nextMessage('out');
      helper.getNode('p1').receive({ action: 'delete' });
      assert.deepEqual((await got).payload.items.map((i: { name: string }) => i.name), ['deny-web']);
      assert.equal(seen.statuses.at(-1), 'deleted ClusterNetworkPolicy deny-web');
      assert.equal((await api(url, 'GET', '/apis/crd.antrea.io/v1beta1/clusternetworkpolicies/deny-web')).status, 404);
      await unloadWithoutLeaks();
    });

    it('bad input: done(err) names the field, and nothing is applied', async () => {
      await load(ALL, flow());
      const seen = watchNode('p1');
      const bad = DENY_NS.replace('action: Drop', 'action: Deny');
      helper.getNode('p1').receive({ payload: bad, _msgid: 'm1' });
      await waitFor('an error', () => seen.errors.length > 0);
      assert.match(seen.errors[0]!.message, /^msg\.payload doc 1 \(ClusterNetworkPolicy deny-web\): spec\.ingress\[0\]\.action: /);
      assert.equal(seen.errors[0]!.msg?._msgid, 'm1', 'the error carries the message (a Catch node gets both)');
      assert.match(seen.statuses.at(-1)!, /spec\.ingress\[0\]\.action/);
      helper.getNode('p1').receive({ payload: DENY_NS, action: 'patch' });
      await waitFor('a second error', () => seen.errors.length > 1);
      assert.match(seen.errors[1]!.message, /^msg\.action: expected apply, delete or get, got "patch"/);
      helper.getNode('p1').receive({ payload: '' });
      await waitFor('a third error', () => seen.errors.length > 2);
      assert.match(seen.errors[2]!.message, /^policy: no manifest/);
      const list = await api(url, 'GET', '/apis/crd.antrea.io/v1beta1/clusternetworkpolicies');
      assert.deepEqual(list.body.items, [], 'nothing applied');
      await unloadWithoutLeaks();
    });

    it('without a controller, or with one that cannot be reached: the error names it and the status says so', async () => {
      await load(ALL, [{ id: 'p0', type: 'seine-policy', action: 'apply', wires: [[]] }]);
      const lone = watchNode('p0');
      helper.getNode('p0').receive({ payload: DENY_NS });
      await waitFor('an error', () => lone.errors.length > 0);
      assert.match(lone.errors[0]!.message, /^controller: no seine-controller configured/);
      await helper.unload();

      const closed = `http://127.0.0.1:${await freePort()}`;
      await load(ALL, [{ id: 'c1', type: 'seine-controller', url: closed }, { id: 'p1', type: 'seine-policy', controller: 'c1', action: 'apply', wires: [[], []] }]);
      const seen = watchNode('p1');
      helper.getNode('p1').receive({ payload: DENY_NS });
      await waitFor('an error', () => seen.errors.length > 0);
      assert.match(seen.errors[0]!.message, /^cannot reach the controller at http:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/);
      assert.ok(seen.statuses.includes('controller unreachable'), `statuses: ${seen.statuses.join(' | ')}`);
      await unloadWithoutLeaks();
    });

    it('a bad controller URL is reported by the config node, naming the url field', async () => {
      await load(ALL, [cfg({ url: 'ftp://x' }), { id: 'p1', type: 'seine-policy', controller: 'c1', wires: [[], []] }]);
      const seen = watchNode('p1');
      helper.getNode('p1').receive({ payload: DENY_NS });
      await waitFor('an error', () => seen.errors.length > 0);
      assert.match(seen.errors[0]!.message, /^controller: url: expected http:\/\/ or https:\/\//);
    });
  });

  describe('seine-nodes', () => {
    it('on input sends the fleet; on change follows a node going offline and back; closes without leaks', async () => {
      await load(ALL, [cfg(), { id: 'n1', type: 'seine-nodes', controller: 'c1', onChange: true, interval: 0.2, wires: [['out']] }, { id: 'out', type: 'helper' }]);
      const seen = watchNode('n1');
      const first = await nextMessage('out');
      assert.deepEqual(first.payload.map((n: { name: string; online: boolean }) => `${n.name} ${n.online}`), ['box1 true', 'box2 true']);
      await waitFor('status 2/2 online', () => seen.statuses.includes('2/2 online'));
      const changed = nextMessage('out');
      await box2Offline();
      const msg = await changed;
      assert.deepEqual(msg.changed, ['box2']);
      assert.equal(msg.payload.find((n: { name: string }) => n.name === 'box2').online, false);
      await waitFor('status 1/2 online', () => seen.statuses.at(-1) === '1/2 online');
      const back = nextMessage('out');
      await box2Online();
      assert.deepEqual((await back).changed, ['box2']);
      await waitFor('status 2/2 online again', () => seen.statuses.at(-1) === '2/2 online');
      const one = nextMessage('out');
      helper.getNode('n1').receive({ payload: 'box1' });
      assert.equal((await one).payload.name, 'box1');
      await unloadWithoutLeaks();
    });

    it('bad input: an unknown node name ends in done(err)', async () => {
      await load(ALL, [cfg(), { id: 'n1', type: 'seine-nodes', controller: 'c1', wires: [[]] }]);
      const seen = watchNode('n1');
      helper.getNode('n1').receive({ payload: 'box9' });
      await waitFor('an error', () => seen.errors.length > 0);
      assert.match(seen.errors[0]!.message, /^msg\.payload: no node named "box9" \(known: box1, box2\)/);
      await unloadWithoutLeaks();
    });
  });

  describe('seine-events', () => {
    it('streams the nodes\' events and node-offline/online; skips history unless asked; closes without leaks', async () => {
      await agents[0]!.sync.publishEvent({ severity: 'info', type: 'policy-log', message: 'old line' });
      await waitFor('the old event at the controller', async () => (await api(url, 'GET', '/api/v1/events')).body.items.length > 0);
      await load(ALL, [cfg(), { id: 'e1', type: 'seine-events', controller: 'c1', nodeState: true, interval: 0.2, wires: [['out']] }, { id: 'out', type: 'helper' }]);
      const seen = watchNode('e1');
      const got: Record<string, any>[] = [];
      helper.getNode('out').on('input', (m: Record<string, any>) => got.push(m));
      await waitFor('the first poll', () => seen.statuses.length > 0);
      await agents[0]!.sync.publishEvent({ severity: 'warning', type: 'deny', message: 'box1 dropped 10.42.1.2 -> 10.42.1.3', object: 'ClusterNetworkPolicy/deny-web', fields: { rule: 'r0' } });
      await waitFor('the deny event', () => got.some((m) => m.payload.type === 'deny'));
      const deny = got.find((m) => m.payload.type === 'deny')!;
      assert.equal(deny.topic, 'seine/events/box1/deny');
      assert.deepEqual([deny.payload.node, deny.payload.severity, deny.payload.fields], ['box1', 'warning', { rule: 'r0' }]);
      assert.ok(!got.some((m) => m.payload.message === 'old line'), 'history before deploy is not resent');
      await box2Offline();
      await waitFor('node-offline', () => got.some((m) => m.payload.type === 'node-offline' && m.payload.node === 'box2'));
      await box2Online();
      await waitFor('node-online', () => got.some((m) => m.payload.type === 'node-online' && m.payload.node === 'box2'));
      assert.match(seen.statuses.at(-1)!, /^\d+ events?/);
      await unloadWithoutLeaks();
    });

    it('replay sends the recent history first; a bad interval is refused naming the field', async () => {
      await load(ALL, [cfg(), { id: 'e1', type: 'seine-events', controller: 'c1', replay: true, eventType: 'policy-log', interval: 0.2, wires: [['out']] }, { id: 'out', type: 'helper' }]);
      const m = await nextMessage('out');
      assert.equal(m.payload.message, 'old line');
      await helper.unload();
      await load(ALL, [cfg(), { id: 'e1', type: 'seine-events', controller: 'c1', interval: 'soon', wires: [[]] }]);
      // Reported at deploy (the node has no input to fail): in the log, and no polling starts.
      const logged = helper.log().args.map((a: [{ msg?: unknown }]) => String(a[0]?.msg ?? ''));
      assert.ok(logged.some((m: string) => /^interval: expected seconds between 0\.2 and 3600, got "soon"/.test(m)), `log: ${logged.slice(-5).join(' | ')}`);
      assert.equal(connectionOf().resources().watches, 0, 'no polling with a bad interval');
    });
  });

  describe('seine-flows', () => {
    before(async () => {
      const now = Math.floor(Date.now() / 1000);
      const records = [
        syntheticRecord(1, now), syntheticRecord(2, now),
        syntheticRecord(3, now, { destinationPodName: 'db', egressNetworkPolicyName: 'deny-db', egressNetworkPolicyRuleAction: 2, octetTotalCount: 64, reverseOctetTotalCount: 0 }),
        syntheticRecord(4, now - 7200, { sourcePodName: 'old-client' }),
      ].map((r) => r.record);
      await agents[0]!.sync.publishFlows(records);
      await waitFor('records in the fleet store', async () => (await api(url, 'GET', '/api/v1/flows')).body.items.length === 4);
    });

    it('queries by namespace and time range, as records, top talkers, chart points and the flow map; the editor gets the map', async () => {
      const flow = [cfg(), { id: 'f1', type: 'seine-flows', controller: 'c1', namespace: 'shop', since: '1h', output: 'records', wires: [['out']] }, { id: 'out', type: 'helper' }];
      await load(ALL, flow);
      const seen = watchNode('f1');
      let m = nextMessage('out');
      helper.getNode('f1').receive({ payload: 'go' });
      assert.equal((await m).payload.length, 3, 'the 2 h old record is outside "since 1h"');
      assert.equal(seen.statuses.at(-1), '3 records, 3 connections');
      // The range goes to the server: with limit 1 only the old record is left, not the newest then filtered away.
      m = nextMessage('out');
      helper.getNode('f1').receive({ payload: { since: '', until: '1h', limit: 1 } });
      assert.deepEqual((await m).payload.map((r: { sourcePodName: string }) => r.sourcePodName), ['old-client']);
      m = nextMessage('out');
      helper.getNode('f1').receive({ payload: { output: 'top', top: 2 } });
      const top = (await m).payload;
      assert.deepEqual(top.map((e: { source: string; destination: string; bytes: number }) => `${e.source}>${e.destination} ${e.bytes}`), ['shop/client-1>shop/web 1500', 'shop/client-2>shop/web 1500']);
      m = nextMessage('out');
      helper.getNode('f1').receive({ payload: { output: 'chart', top: 1 } });
      assert.deepEqual((await m).payload, [{ x: 'shop/client-1 → shop/web', y: 1500, verdict: 'allowed' }]);
      m = nextMessage('out');
      helper.getNode('f1').receive({ payload: { output: 'map', group: 'namespace', since: '' } });
      const map = (await m).payload;
      assert.deepEqual(map.vertices.map((v: { id: string }) => v.id), ['shop']);
      assert.equal(map.edges[0].verdict, 'denied', 'a Drop on any record of the edge colours it denied');
      const view = await helper.request().get('/seine/views/f1').expect(200);
      assert.equal(view.body.kind, 'flow-map');
      assert.match(view.body.svg, /^<svg[^>]*>/);
      assert.match(view.body.svg, /shop/);
      await unloadWithoutLeaks();
    });

    it('GET /api/v1/flows filters by since/until (ms since the epoch); a bad value is a 400 naming the parameter', async () => {
      const hourAgo = Date.now() - 3_600_000;
      assert.equal((await api(url, 'GET', `/api/v1/flows?since=${hourAgo}`)).body.items.length, 3);
      const old = (await api(url, 'GET', `/api/v1/flows?until=${hourAgo}`)).body.items;
      assert.deepEqual(old.map((i: AggregatedFlow) => i.record.sourcePodName), ['old-client']);
      assert.equal((await api(url, 'GET', `/api/v1/flows?since=${hourAgo}&until=${Date.now() + 60_000}&namespace=shop&limit=2`)).body.items.length, 2);
      for (const [query, field] of [['since=yesterday', 'since'], ['until=1.5', 'until'], [`since=${Date.now()}&until=${hourAgo}`, 'until']] as const) {
        const r = await api(url, 'GET', `/api/v1/flows?${query}`);
        assert.equal(r.status, 400, query);
        assert.match(r.body.message, new RegExp(`^query ${field}: `), query);
        assert.equal(r.body.details.causes[0].field, field);
      }
      // GET /api/v1/events checks its query the same way.
      for (const [query, field] of [['since=yesterday', 'since'], ['limit=-1', 'limit']] as const) {
        const r = await api(url, 'GET', `/api/v1/events?${query}`);
        assert.equal(r.status, 400, query);
        assert.match(r.body.message, new RegExp(`^query ${field}: `), query);
      }
    });

    it('bad input: a bad time, output or unknown field ends in done(err) naming it', async () => {
      await load(ALL, [cfg(), { id: 'f1', type: 'seine-flows', controller: 'c1', wires: [[]] }]);
      const seen = watchNode('f1');
      const f1 = helper.getNode('f1');
      f1.receive({ payload: { since: 'yesterday' } });
      f1.receive({ payload: { output: 'pie' } });
      f1.receive({ payload: { podd: 'x' } });
      await waitFor('three errors', () => seen.errors.length === 3);
      const msgs = seen.errors.map((e) => e.message).sort();
      assert.match(msgs[0]!, /^msg\.payload\.output: expected records, top, chart, map, got "pie"/);
      assert.match(msgs[1]!, /^msg\.payload\.podd: unknown field/);
      assert.match(msgs[2]!, /^msg\.payload\.since: expected 15m, 2h, 7d/);
      await unloadWithoutLeaks();
    });

    it('stream mode sends at start and on change, then stops on close', async () => {
      await load(ALL, [cfg(), { id: 'f1', type: 'seine-flows', controller: 'c1', stream: true, interval: 0.2, output: 'records', wires: [['out']] }, { id: 'out', type: 'helper' }]);
      const first = await nextMessage('out');
      assert.equal(first.payload.length, 4);
      const next = nextMessage('out');
      await agents[0]!.sync.publishFlows([syntheticRecord(9, Math.floor(Date.now() / 1000)).record]);
      assert.deepEqual((await next).payload.map((r: { sourcePodName: string }) => r.sourcePodName), ['client-9'], 'only what changed');
      await unloadWithoutLeaks();
    });
  });

  describe('seine-traceflow', () => {
    it('bad input: a bad port or unknown field ends in done(err) naming it; nothing is created', async () => {
      await load(ALL, [cfg(), { id: 't1', type: 'seine-traceflow', controller: 'c1', source: 'default/web-box1', destination: 'default/db-box2', protocol: 'tcp', port: '70000', wires: [[]] }]);
      const seen = watchNode('t1');
      const t1 = helper.getNode('t1');
      t1.receive({ payload: 1 });
      await waitFor('an error', () => seen.errors.length === 1);
      assert.match(seen.errors[0]!.message, /^port 70000: expected 1-65535/);
      t1.receive({ payload: { port: 80, protocol: 'icmp' } });
      await waitFor('an error', () => seen.errors.length === 2);
      assert.match(seen.errors[1]!.message, /^port: needs protocol tcp or udp/);
      t1.receive({ payload: { sauce: 'x' } });
      await waitFor('an error', () => seen.errors.length === 3);
      assert.match(seen.errors[2]!.message, /^msg\.payload\.sauce: unknown field/);
      t1.receive({ payload: { source: 'a/b/c' } });
      await waitFor('an error', () => seen.errors.length === 4);
      assert.match(seen.errors[3]!.message, /^source a\/b\/c: expected NAMESPACE\/POD/);
      assert.deepEqual((await api(url, 'GET', '/apis/crd.antrea.io/v1beta1/traceflows')).body.items, []);
      await unloadWithoutLeaks();
    });

    it('a trace the controller fails (unknown Pod) ends in done(err) with its reason; status red; the Traceflow is deleted', async () => {
      await load(ALL, [cfg(), { id: 't1', type: 'seine-traceflow', controller: 'c1', source: 'default/nope', destination: 'default/db-box2', wires: [[]] }]);
      const seen = watchNode('t1');
      helper.getNode('t1').receive({ payload: 1 });
      await waitFor('an error', () => seen.errors.length === 1);
      assert.match(seen.errors[0]!.message, /Failed: source\.pod: Pod default\/nope is on no node/);
      assert.match(seen.statuses[0]!, /^tracing default\/nope → default\/db-box2/);
      assert.match(seen.statuses.at(-1)!, /Failed/);
      assert.deepEqual((await api(url, 'GET', '/apis/crd.antrea.io/v1beta1/traceflows')).body.items, []);
      await unloadWithoutLeaks();
    });
  });
});
