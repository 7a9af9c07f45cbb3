// Impact preview and recommendation without a lab: distinct connections read back from a real
// SQLite flow store, before/after evaluation with the real evaluator, the controller's merge of
// two boxes' answers, and recommendations checked by the evaluator (every recorded connection
// still allowed, a new one denied) and by the manifest loader (they apply unchanged).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { FlowStore } from '../../../src/agent/flows/store.js';
import { recordedConnections } from '../../../src/agent/flows/connections.js';
import { ownedBy } from '../../../src/agent/flows/impact-rpc.js';
import { ImpactRequestSchema, ImpactRpcParamsSchema, RecommendRequestSchema, type ImpactNodeResult, type RecordedConnection } from '../../../src/api/impact.js';
import type { ManifestObject } from '../../../src/api/kinds.js';
import { parseManifests } from '../../../src/api/manifest.js';
import { mergeConnections, mergeImpact } from '../../../src/controller/impact/impact.js';
import { evaluatorFor, previewImpact, worldAfter } from '../../../src/policy/impact.js';
import { recommend, workloadLabels } from '../../../src/policy/recommend.js';
import { syntheticRecord } from '../../helpers/flow-records.js';
import { acnp, inventory, knp, pod } from '../policy/fixtures.js';

const pods = [
  pod('shop', 'web-1', { app: 'web', 'pod-template-hash': 'a1' }, '10.0.1.10', 'n1'),
  pod('shop', 'web-2', { app: 'web', 'pod-template-hash': 'b2' }, '10.0.2.10', 'n2'),
  pod('shop', 'db', { app: 'db' }, '10.0.2.20', 'n2'),
  pod('shop', 'client', { app: 'client' }, '10.0.1.30', 'n1'),
  pod('mon', 'scraper', { app: 'scraper' }, '10.0.1.40', 'n1'),
  pod('mon', 'alerts', { app: 'alerts' }, '10.0.2.40', 'n2'),
  pod('dev', 'tester', { app: 'tester' }, '10.0.2.50', 'n2'),
];
const inv = inventory(pods);
const P = (ns: string, name: string) => ({ ip: pods.find((p) => p.namespace === ns && p.name === name)!.ip!, namespace: ns, pod: name });
const conn = (source: RecordedConnection['source'], destination: RecordedConnection['destination'], protocol: RecordedConnection['protocol'], port: number): RecordedConnection =>
  ({ source, destination, protocol, port, lastSeen: 1_800_000_000, count: 1 });

/** What five workloads did: client → web:80, web → db:5432, both mon pods → web:9090, scraper pings db, an outside address → web:80. */
const recorded: RecordedConnection[] = [
  conn(P('shop', 'client'), P('shop', 'web-1'), 'TCP', 80),
  conn(P('shop', 'client'), P('shop', 'web-2'), 'TCP', 80),
  conn(P('shop', 'web-1'), P('shop', 'db'), 'TCP', 5432),
  conn(P('shop', 'web-2'), P('shop', 'db'), 'TCP', 5432),
  conn(P('mon', 'scraper'), P('shop', 'web-1'), 'TCP', 9090),
  conn(P('mon', 'alerts'), P('shop', 'web-1'), 'TCP', 9090),
  conn(P('mon', 'scraper'), P('shop', 'db'), 'ICMP', 0),
  conn({ ip: '192.0.2.7' }, P('shop', 'web-2'), 'TCP', 80),
];
const owned = (list: RecordedConnection[]) => list.map((connection) => ({ connection, owned: true }));

describe('impact preview and recommendation (no lab)', () => {
  describe('distinct connections from the flow store', () => {
    let dir: string;
    beforeEach(async () => (dir = await mkdtemp(path.join(tmpdir(), 'seine-impact-'))));
    afterEach(async () => rm(dir, { recursive: true, force: true }));

    it('one row per source, destination, port and protocol: connections counted once, latest time, window, denied left out on request, limit', async () => {
      const s = await FlowStore.open(path.join(dir, 'flows.db'));
      try {
        const t0 = 1_800_000_000;
        // Connection c1 has three records (one per poll), c2 one: both client-1 → web:80.
        await s.insert([syntheticRecord(1, t0), syntheticRecord(51, t0 + 5)]);
        await s.insert([syntheticRecord(1, t0 + 10), syntheticRecord(1, t0 + 20)]);
        // client-2 → web:80 but long ago (outside the window).
        await s.insert([syntheticRecord(2, t0 - 10_000)]);
        // client-3 → web:5432, denied by an ingress Drop rule.
        await s.insert([syntheticRecord(3, t0 + 30, { destinationTransportPort: 5432, ingressNetworkPolicyName: 'no-db', ingressNetworkPolicyType: 3, ingressNetworkPolicyRuleAction: 2 })]);
        // client-4 pings web (ICMP: no port); and an outside source with no pod.
        await s.insert([syntheticRecord(4, t0 + 40, { protocolIdentifier: 1, sourceTransportPort: 0, destinationTransportPort: 0, tcpState: '' })]);
        await s.insert([syntheticRecord(5, t0 + 50, { sourceIPv4Address: '192.0.2.9', sourcePodNamespace: '', sourcePodName: '', sourceNodeName: '', flowType: 4 })]);

        const all = await recordedConnections(s.db, { since: t0 - 100, until: t0 + 100, limit: 100 });
        assert.equal(all.truncated, false);
        const rows = all.connections.map((c) => c.connection);
        assert.equal(rows.length, 4, JSON.stringify(rows));
        const web80 = rows.find((r) => r.source.pod === 'client-1' && r.port === 80)!;
        assert.deepEqual(web80, { source: { ip: '10.42.0.3', namespace: 'shop', pod: 'client-1' }, destination: { ip: '10.42.1.2', namespace: 'shop', pod: 'web' }, port: 80, protocol: 'TCP', lastSeen: t0 + 20, count: 2 });
        assert.deepEqual(rows.find((r) => r.protocol === 'ICMP')!.port, 0);
        const outside = all.connections.find((c) => c.connection.source.ip === '192.0.2.9')!;
        assert.deepEqual(outside.connection.source, { ip: '192.0.2.9' }, 'no pod fields for an address outside the pods');
        assert.deepEqual([outside.sourceNode, outside.destinationNode], ['', 'box2']);
        assert.equal(rows[0]!.lastSeen, t0 + 50, 'newest first');

        const allowed = (await recordedConnections(s.db, { since: t0 - 100, until: t0 + 100, limit: 100, allowedOnly: true })).connections;
        assert.deepEqual(allowed.map((c) => c.connection.port).sort(), [0, 80, 80], 'the denied :5432 connection is left out');
        const cut = await recordedConnections(s.db, { since: t0 - 100, until: t0 + 100, limit: 2 });
        assert.equal(cut.connections.length, 2);
        assert.equal(cut.truncated, true);
        assert.equal((await recordedConnections(s.db, { since: t0 - 20_000, until: t0 + 100, limit: 100 })).connections.length, 5, 'a wider window takes the old one too');
      } finally {
        await s.close();
      }
    });

    it('a box speaks for connections its pods started, and for outside sources reaching its pods', () => {
      const c = { connection: recorded[0]! };
      assert.equal(ownedBy('box1', { ...c, sourceNode: 'box1', destinationNode: 'box2' }), true);
      assert.equal(ownedBy('box2', { ...c, sourceNode: 'box1', destinationNode: 'box2' }), false);
      assert.equal(ownedBy('box2', { ...c, sourceNode: '', destinationNode: 'box2' }), true);
    });
  });

  describe('before and after', () => {
    const denyDb = knp('shop', 'db-from-web', { podSelector: { matchLabels: { app: 'db' } }, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: { matchLabels: { app: 'web' } } }], ports: [{ protocol: 'TCP', port: 5432 }] }] });

    it('lists exactly the connections a change cuts, with the deciding policy before and after', () => {
      const before = evaluatorFor([], inv);
      const after = evaluatorFor(worldAfter([], [denyDb]), inv);
      const out = previewImpact(owned(recorded), before, after, 100);
      assert.deepEqual(out.newlyDenied.map((e) => `${e.source.pod}>${e.destination.pod}:${e.protocol}/${e.port}`), ['scraper>db:ICMP/0'], 'only the ping from mon to db is cut; web → db stays allowed');
      assert.deepEqual(out.newlyDenied[0]!.before, { action: 'Allow', decidedBy: 'no-policy' });
      assert.equal(out.newlyDenied[0]!.after.action, 'Drop');
      assert.equal(out.newlyDenied[0]!.after.decidedBy, 'k8s-isolation');
      assert.match(out.newlyDenied[0]!.after.policy!, /^netpol\/shop\/db-from-web/);
      assert.deepEqual(out.counts, { connections: 8, newlyDenied: 1, newlyAllowed: 0, unchangedAllowed: 7, unchangedDenied: 0 });
      // The reverse change (deleting the policy) allows it again.
      const back = previewImpact(owned(recorded), after, evaluatorFor(worldAfter([denyDb], [], [denyDb]), inv), 100);
      assert.equal(back.counts.newlyAllowed, 1);
      assert.equal(back.counts.newlyDenied, 0);
    });

    it('a replaced object (same kind, namespace, name) replaces; lists are cut at the limit while counts stay whole', () => {
      const dropAll = acnp('drop-shop', { priority: 1, appliedTo: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'shop' } } }], ingress: [{ action: 'Drop', from: [{ namespaceSelector: {} }] }] });
      const allowAll = acnp('drop-shop', { priority: 1, appliedTo: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'shop' } } }], ingress: [{ action: 'Allow', from: [{ namespaceSelector: {} }] }] });
      assert.equal(worldAfter([dropAll], [allowAll]).length, 1);
      const cut = previewImpact(owned(recorded), evaluatorFor([], inv), evaluatorFor([dropAll], inv), 2);
      assert.equal(cut.counts.newlyDenied, 7, 'every pod-to-shop connection (the outside address is no pod of a namespace)');
      assert.equal(cut.newlyDenied.length, 2);
      assert.equal(cut.truncated, true);
      const none = previewImpact(owned(recorded), evaluatorFor([dropAll], inv), evaluatorFor(worldAfter([dropAll], [allowAll]), inv), 100);
      assert.equal(none.counts.newlyAllowed, 7);
    });

    it('a recorded pod that is gone is evaluated by its address', () => {
      const gone = conn({ ip: '10.0.9.9', namespace: 'shop', pod: 'old-client' }, P('shop', 'db'), 'TCP', 5432);
      const out = previewImpact(owned([gone]), evaluatorFor([], inv), evaluatorFor([denyDb], inv), 10);
      assert.equal(out.counts.newlyDenied, 1);
    });

    it('the controller merges two boxes: an inter-node connection once, counts from the box that owns it, every box named', () => {
      const e = { ...recorded[2]!, before: { action: 'Allow' as const, decidedBy: 'no-policy' }, after: { action: 'Drop' as const, decidedBy: 'policy', policy: 'acnp/x:r' } };
      const n1: ImpactNodeResult = { counts: { connections: 3, newlyDenied: 1, newlyAllowed: 0, unchangedAllowed: 2, unchangedDenied: 0 }, newlyDenied: [{ ...e, count: 2 }], newlyAllowed: [], truncated: false, ms: 1 };
      const n2: ImpactNodeResult = { counts: { connections: 1, newlyDenied: 0, newlyAllowed: 0, unchangedAllowed: 1, unchangedDenied: 0 }, newlyDenied: [{ ...e, lastSeen: e.lastSeen + 9 }], newlyAllowed: [], truncated: false, ms: 1 };
      const m = mergeImpact(new Map([['n1', n1], ['n2', n2]]));
      assert.equal(m.newlyDenied.length, 1);
      assert.deepEqual(m.newlyDenied[0]!.nodes, ['n1', 'n2']);
      assert.equal(m.newlyDenied[0]!.count, 2);
      assert.equal(m.newlyDenied[0]!.lastSeen, e.lastSeen + 9);
      assert.deepEqual(m.counts, { connections: 4, newlyDenied: 1, newlyAllowed: 0, unchangedAllowed: 3, unchangedDenied: 0 });
      // The owner (n1) did not answer: n2's listed row still counts.
      const only2 = mergeImpact(new Map([['n2', n2]]));
      assert.equal(only2.counts.newlyDenied, 1);
      assert.equal(mergeConnections([[recorded[0]!], [{ ...recorded[0]!, count: 3 }], [recorded[1]!]]).length, 2);
    });
  });

  describe('recommendation', () => {
    const apply = (items: Record<string, unknown>[]): ManifestObject[] => parseManifests(items.map((i) => stringify(i)).join('---\n'), 'recommended.yaml');
    const podsOf = (ns: string) => pods.filter((p) => p.namespace === ns).map((p) => ({ name: p.name, labels: p.labels }));

    for (const kind of ['netpol', 'acnp'] as const) {
      it(`${kind}: applies unchanged, keeps every recorded connection allowed, and denies a connection nobody made`, () => {
        const r = recommend({ namespace: 'shop', kind, connections: recorded, podsOf });
        const objects = apply(r.items);
        assert.equal(objects.length, kind === 'netpol' ? 3 : 4, 'web, db, client (+ the baseline deny)');
        const out = previewImpact(owned(recorded), evaluatorFor([], inv), evaluatorFor(objects, inv), 100);
        assert.deepEqual(out.newlyDenied, [], 'zero newly denied recorded connections');
        assert.equal(out.counts.unchangedAllowed, recorded.length);
        const after = evaluatorFor(objects, inv);
        const fresh = [
          conn(P('dev', 'tester'), P('shop', 'web-1'), 'TCP', 80),
          conn(P('shop', 'client'), P('shop', 'db'), 'TCP', 5432),
          conn(P('shop', 'web-1'), P('shop', 'db'), 'TCP', 22),
        ];
        for (const c of fresh) assert.notEqual(after.evaluate(c).action, 'Allow', `${c.source.pod} -> ${c.destination.pod}:${c.port} must be denied`);
        // Unrelated namespaces are untouched.
        assert.equal(after.evaluate(conn(P('dev', 'tester'), P('mon', 'scraper'), 'TCP', 80)).action, 'Allow');
      });
    }

    it('groups pods by workload label, a namespace whose pods all talked alike by namespace, outside addresses as /32', () => {
      const r = recommend({ namespace: 'shop', kind: 'netpol', connections: recorded, podsOf });
      const web = r.items.find((i) => (i.metadata as { name: string }).name === 'recommend-web') as { spec: { podSelector: unknown; ingress: { from: unknown[]; ports?: unknown[] }[]; egress: unknown[] } };
      assert.deepEqual(web.spec.podSelector, { matchLabels: { app: 'web' } }, 'both web pods, one workload (pod-template-hash ignored)');
      const froms = web.spec.ingress.flatMap((rule) => rule.from);
      assert.ok(froms.some((f) => JSON.stringify(f) === JSON.stringify({ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'mon' } } })), `mon collapses to a namespace peer: ${JSON.stringify(froms)}`);
      assert.ok(froms.some((f) => JSON.stringify(f) === JSON.stringify({ ipBlock: { cidr: '192.0.2.7/32' } })));
      assert.ok(froms.some((f) => JSON.stringify(f) === JSON.stringify({ podSelector: { matchLabels: { app: 'client' } } })), 'same-namespace peer by podSelector alone');
      // db was pinged by mon/scraper only (not alerts): a workload peer, and ICMP in K8s terms is a rule without ports.
      const db = r.items.find((i) => (i.metadata as { name: string }).name === 'recommend-db') as { spec: { ingress: { from: unknown[]; ports?: unknown[] }[] } };
      const icmpRule = db.spec.ingress.find((rule) => JSON.stringify(rule.from).includes('scraper'))!;
      assert.equal(icmpRule.ports, undefined);
      assert.deepEqual(workloadLabels({ 'pod-template-hash': 'x' }), undefined);
      assert.deepEqual(workloadLabels({ tier: 'be', 'pod-template-hash': 'x' }), { tier: 'be' });
      const acnpOut = recommend({ namespace: 'shop', kind: 'acnp', connections: recorded, podsOf });
      assert.ok(JSON.stringify(acnpOut.items).includes('"protocols":[{"icmp":{}}]'), 'ACNP names ICMP');
      assert.equal((acnpOut.items.at(-1)!.spec as { tier: string }).tier, 'baseline');
    });

    it('nothing recorded: no policies', () => {
      assert.deepEqual(recommend({ namespace: 'shop', kind: 'netpol', connections: [], podsOf }).items, []);
    });
  });

  describe('schemas', () => {
    it('name the field of a bad request', () => {
      const bad = ImpactRequestSchema.safeParse({ items: [], since: '3 days' });
      assert.equal(bad.success, false);
      assert.deepEqual(bad.error!.issues.map((i) => i.path.join('.')).sort(), ['items', 'since']);
      assert.equal(ImpactRequestSchema.parse({ items: [{}], since: '7d' }).since, 7 * 86_400);
      const rec = RecommendRequestSchema.safeParse({ namespace: 'Bad_NS', kind: 'cilium' });
      assert.deepEqual(rec.error!.issues.map((i) => i.path.join('.')).sort(), ['kind', 'namespace']);
      const rpc = ImpactRpcParamsSchema.safeParse({ current: [{ apiVersion: 'crd.antrea.io/v1beta1', kind: 'ClusterNetworkPolicy', metadata: { name: 'x' }, spec: { priority: 1, appliedTo: [{ podSelector: {} }], ingress: [{ action: 'Deny' }] } }], since: 5, until: 1 });
      assert.equal(rpc.success, false);
      assert.deepEqual(rpc.error!.issues.map((i) => i.path.join('.')), ['current.0.spec.ingress.0.action']);
      assert.deepEqual(ImpactRpcParamsSchema.safeParse({ current: [], since: 5, until: 1 }).error!.issues.map((i) => i.path.join('.')), ['until']);
      assert.deepEqual(ImpactRpcParamsSchema.safeParse({ current: [{ apiVersion: 'crd.antrea.io/v1beta1', kind: 'Egress', metadata: { name: 'e' }, spec: {} }], since: 1, until: 2 }).error!.issues.map((i) => i.path.join('.')), ['current.0.kind']);
    });
  });
});
