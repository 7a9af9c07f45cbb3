// Impact preview and recommendation on a 3-box lab with real traffic (issue 19, items 2-3):
// five workloads make real connections, the boxes' flow stores record them, and then
//  (a) a deny policy's preview (seinectl apply --dry-run=impact) lists exactly the recorded
//      connections it would cut, applies nothing (no object, no new desired generation, the
//      connections still work), and names a box whose agent was killed;
//  (b) seinectl recommend's YAML applies unchanged, its preview shows zero newly denied, and once
//      applied a connection nobody made before is denied while the recorded ones still work.
//
//   shop/web  box1 app=web   (TCP 80, 9090)     shop/client box1 app=client
//   shop/db   box2 app=db    (TCP 5432)         dev/tester  box2 app=tester (never talks)
//   mon/scraper box3 app=scraper
// Recorded: client → web:80, web → db:5432, scraper → web:9090, scraper → db ICMP.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { agentFiles } from '../../src/lab/agent-process.js';
import { FlowStore } from '../../src/agent/flows/store.js';
import { recordedConnections } from '../../src/agent/flows/connections.js';
import type { ImpactResult } from '../../src/api/impact.js';
import type { Lab } from '../../src/lab/lab.js';
import { parseLabSpec } from '../../src/lab/spec.js';
import type { LabState, PodState } from '../../src/lab/state.js';
import { requirePrereqs } from '../helpers/prereqs.js';
import { eventually, labApi, newLab, removeLab, seinectl } from './lab-fixture.js';
import { Traffic } from './traffic.js';

const LAB = {
  boxes: [{ name: 'box1' }, { name: 'box2' }, { name: 'box3' }],
  namespaces: [{ name: 'shop' }, { name: 'mon' }, { name: 'dev' }],
  pods: [
    { name: 'web', namespace: 'shop', box: 'box1', labels: { app: 'web' } },
    { name: 'client', namespace: 'shop', box: 'box1', labels: { app: 'client' } },
    { name: 'db', namespace: 'shop', box: 'box2', labels: { app: 'db' } },
    { name: 'tester', namespace: 'dev', box: 'box2', labels: { app: 'tester' } },
    { name: 'scraper', namespace: 'mon', box: 'box3', labels: { app: 'scraper' } },
  ],
};

const ISOLATE_DB = `apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: isolate-db}
spec:
  priority: 1
  tier: securityops
  appliedTo: [{podSelector: {matchLabels: {app: db}}}]
  ingress:
    - {action: Drop, name: no-db, from: [{namespaceSelector: {}}]}
`;

/** `src>dst proto/port` of a preview row or a recorded connection. */
const row = (e: { source: { pod?: string; ip: string }; destination: { pod?: string; ip: string }; protocol: string; port: number }) =>
  `${e.source.pod ?? e.source.ip}>${e.destination.pod ?? e.destination.ip} ${e.protocol}/${e.port}`;
const RECORDED = ['client>web TCP/80', 'web>db TCP/5432', 'scraper>web TCP/9090', 'scraper>db ICMP/0'];

describe('impact preview and recommendation on recorded flows (3-box lab, real traffic)', function () {
  this.timeout(300_000);
  let lab: Lab | undefined;
  let state: LabState;
  let server = '';
  let traffic: Traffic;
  const pod = (name: string): PodState => state.pods.find((p) => p.name === name)!;
  const box = (name: string) => state.boxes.find((b) => b.name === name)!;

  /** Every box's recorded connections of the last hour, as rows. */
  const recordedRows = async (): Promise<Set<string>> => {
    const out = new Set<string>();
    const now = Math.floor(Date.now() / 1000);
    for (const b of state.boxes) {
      const s = await FlowStore.open(path.join(agentFiles(b).stateDir, 'flows.db'));
      try {
        for (const c of (await recordedConnections(s.db, { since: now - 3600, until: now + 60, limit: 1000 })).connections) out.add(row(c.connection));
      } finally {
        await s.close();
      }
    }
    return out;
  };
  const preview = async (file: string, ...args: string[]): Promise<ImpactResult> => {
    const r = await seinectl(server, ['apply', '--dry-run=impact', '-f', file, '--since', '1h', '-o', 'json', ...args]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as ImpactResult;
  };
  const generations = async () => {
    const r = await seinectl(server, ['get', 'nodes', '-o', 'json']);
    return (JSON.parse(r.stdout) as { name: string; desiredGeneration: number }[]).map((n) => `${n.name}:${n.desiredGeneration}`).sort();
  };

  before(async () => {
    requirePrereqs('root', 'ovs', 'ip', 'ethtool', 'ping');
    lab = await newLab('impact');
    await lab.up(parseLabSpec(LAB, 'impact'));
    state = await lab.current();
    server = state.controller!.url;
    traffic = new Traffic(lab, 2);
    await traffic.install();
    await traffic.listen(pod('web'), [80, 9090], []);
    await traffic.listen(pod('db'), [5432], []);
    const made = await Promise.all([
      traffic.probe(pod('client'), pod('web'), 'tcp', 80),
      traffic.probe(pod('web'), pod('db'), 'tcp', 5432),
      traffic.probe(pod('scraper'), pod('web'), 'tcp', 9090),
      traffic.probe(pod('scraper'), pod('db'), 'icmp', 0),
    ]);
    assert.deepEqual(made.map((m) => m.verdict), ['allowed', 'allowed', 'allowed', 'allowed'], JSON.stringify(made));
    await eventually('the flow stores recorded every connection', async () => {
      const rows = await recordedRows();
      return RECORDED.every((r) => rows.has(r));
    }, 40_000);
    await writeFile(path.join(lab.dir, 'isolate-db.yaml'), ISOLATE_DB);
  });

  after(async () => {
    if (lab) await removeLab(lab);
  });

  it('(a) a deny policy\'s preview lists exactly the recorded connections it cuts, and applies nothing', async () => {
    const gens = await generations();
    const r = await preview(path.join(lab!.dir, 'isolate-db.yaml'));
    assert.deepEqual(r.nodes.notHeard, [], 'every box answered');
    assert.deepEqual(r.nodes.answered, ['box1', 'box2', 'box3']);
    assert.deepEqual(r.newlyDenied.map(row).sort(), ['scraper>db ICMP/0', 'web>db TCP/5432']);
    for (const e of r.newlyDenied) {
      assert.equal(e.before.action, 'Allow');
      assert.equal(e.after.action, 'Drop');
      assert.equal(e.after.policy, 'acnp/isolate-db:no-db');
      assert.ok(e.count >= 1 && e.lastSeen > r.window.since, JSON.stringify(e));
    }
    assert.deepEqual(r.newlyAllowed, []);
    assert.equal(r.counts.newlyDenied, 2);
    assert.ok(r.counts.unchangedAllowed >= 2, JSON.stringify(r.counts));
    // The table names the same connections.
    const table = await seinectl(server, ['apply', '--dry-run=impact', '-f', path.join(lab!.dir, 'isolate-db.yaml'), '--since', '1h']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /Newly denied \(2\):/);
    assert.match(table.stdout, /shop\/web \(\S+\)\s+shop\/db \(\S+\)\s+5432\s+TCP\s+\S+\s+\d+\s+Allow \(no-policy\) -> Drop acnp\/isolate-db:no-db/);
    // Nothing applied: no object, no new desired state, and the connections still work.
    const got = await seinectl(server, ['get', 'acnp', '-o', 'json']);
    assert.deepEqual((JSON.parse(got.stdout) as { items: unknown[] }).items, []);
    assert.deepEqual(await generations(), gens);
    assert.equal((await traffic.probe(pod('web'), pod('db'), 'tcp', 5432)).verdict, 'allowed');
    assert.equal((await traffic.probe(pod('scraper'), pod('db'), 'icmp', 0)).verdict, 'allowed');
    // REST: a bad body names the field.
    const bad = await labApi(server, 'POST', '/api/v1/impact', { items: [{ apiVersion: 'crd.antrea.io/v1beta1', kind: 'ClusterNetworkPolicy', metadata: { name: 'x' }, spec: { priority: 1, appliedTo: [{ podSelector: {} }], ingress: [{ action: 'Deny' }] } }], since: '1h' });
    assert.equal(bad.status, 422);
    assert.match(JSON.stringify(bad.body), /items\[0\]\.spec\.ingress\[0\]\.action/);
  });

  it('(b) recommend: YAML that applies unchanged, zero newly denied in its preview, and a new connection denied once applied', async () => {
    const rec = await seinectl(server, ['recommend', '--namespace', 'shop', '--since', '1h']);
    assert.equal(rec.code, 0, rec.stderr);
    const file = path.join(lab!.dir, 'recommended.yaml');
    await writeFile(file, rec.stdout);
    const docs = rec.stdout.split(/^---$/m).map((d) => parse(d) as { kind: string; metadata: { name: string } });
    assert.deepEqual(docs.map((d) => `${d.kind}/${d.metadata.name}`).sort(), ['NetworkPolicy/recommend-client', 'NetworkPolicy/recommend-db', 'NetworkPolicy/recommend-web']);
    const p = await preview(file);
    assert.deepEqual(p.nodes.notHeard, []);
    assert.deepEqual(p.newlyDenied.map(row), [], 'the recommendation cuts no recorded connection');
    assert.ok(p.counts.unchangedAllowed >= RECORDED.length, JSON.stringify(p.counts));
    const before = await traffic.probe(pod('tester'), pod('web'), 'tcp', 80);
    assert.equal(before.verdict, 'allowed', 'tester reaches web before the policies');

    const applied = await seinectl(server, ['apply', '-f', file]);
    assert.equal(applied.code, 0, applied.stderr);
    await eventually('the new connection from dev/tester to web is denied', async () => (await traffic.probe(pod('tester'), pod('web'), 'tcp', 80)).verdict === 'dropped', 30_000);
    // The recorded connections still work (real traffic).
    assert.equal((await traffic.probe(pod('client'), pod('web'), 'tcp', 80)).verdict, 'allowed');
    assert.equal((await traffic.probe(pod('web'), pod('db'), 'tcp', 5432)).verdict, 'allowed');
    assert.equal((await traffic.probe(pod('scraper'), pod('web'), 'tcp', 9090)).verdict, 'allowed');
    assert.equal((await traffic.probe(pod('scraper'), pod('db'), 'icmp', 0)).verdict, 'allowed');
    // …and neither did a connection nobody made: client to db.
    assert.equal((await traffic.probe(pod('client'), pod('db'), 'tcp', 5432)).verdict, 'dropped');
  });

  it('(a) names a box whose agent was killed; the connections the other boxes recorded are still listed', async () => {
    const agent = box('box3').processes.find((p) => p.role === 'agent')!;
    process.kill(agent.pid, 'SIGKILL');
    const r = await preview(path.join(lab!.dir, 'isolate-db.yaml'), '--timeout', '3000');
    assert.deepEqual(r.nodes.notHeard.map((n) => n.node), ['box3']);
    assert.match(r.nodes.notHeard[0]!.reason, /offline|did not answer/);
    assert.deepEqual(r.nodes.answered, ['box1', 'box2']);
    assert.deepEqual(r.newlyDenied.map(row).sort(), ['scraper>db ICMP/0', 'web>db TCP/5432'], 'box2 recorded scraper → db too');
    const table = await seinectl(server, ['apply', '--dry-run=impact', '-f', path.join(lab!.dir, 'isolate-db.yaml'), '--since', '1h', '--timeout', '3000']);
    assert.match(table.stdout, /Boxes NOT heard from .*box3/);
  });
});
