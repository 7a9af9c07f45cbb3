// Flow visibility on a 2-box lab: real TCP connections between pods on two boxes, through the
// real agents' userspace OVS and conntrack, land in each box's SQLite flow store with the
// counts docs/flows.md promises, enriched with pods, nodes and the policy rule that allowed them;
// a connection a Drop rule denies is recorded with that policy and action; `seinectl flows`
// reads the store; a kill -9 of an agent during ingest leaves a consistent database.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FlowRecordSchema, type AggregatedFlow, type FlowRecord } from '../../src/api/flow-record.js';
import { AGENT_API_PORT, agentFiles } from '../../src/lab/agent-process.js';
import { distProgram } from '../../src/lib/paths.js';
import { FlowStore } from '../../src/agent/flows/store.js';
import type { Lab } from '../../src/lab/lab.js';
import { specFromFlags } from '../../src/lab/spec.js';
import type { LabState, PodState } from '../../src/lab/state.js';
import { run } from '../../src/lib/exec.js';
import { sleep } from '../../src/lib/process.js';
import { requirePrereqs } from '../helpers/prereqs.js';
import { agentApiGet, eventually, newLab, reachable, removeLab, seinectl } from './lab-fixture.js';
import { Traffic } from './traffic.js';

const POLICIES = `apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: allow-web}
spec:
  priority: 5
  tier: application
  appliedTo: [{podSelector: {matchLabels: {app: demo}}}]
  ingress:
    - {action: Allow, name: web-in, ports: [{protocol: TCP, port: 5001}]}
  egress:
    - {action: Allow, name: web-out, ports: [{protocol: TCP, port: 5001}]}
---
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: drop-db}
spec:
  priority: 6
  tier: application
  appliedTo: [{podSelector: {matchLabels: {app: demo}}}]
  ingress:
    - {action: Drop, name: no-db, ports: [{protocol: TCP, port: 5002}]}
`;

/** Sends M bytes, reads the M-byte echo, closes; prints its local port. */
const CLIENT_PY = String.raw`
import socket, sys
host, port, m = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.create_connection((host, port), timeout=10)
print(s.getsockname()[1], flush=True)
s.sendall(b'x' * m)
got = 0
while got < m:
    d = s.recv(65536)
    if not d: break
    got += len(d)
s.close()
assert got == m, got
`;

const N = 4;
const M = 200_000;
/** IPv4 + TCP headers with options are 52-60 bytes; 80 leaves room for SACK blocks. */
const HEADER_MAX = 80;

describe('flow visibility on a 2-box lab (conntrack → SQLite, enrichment, denied, seinectl flows)', function () {
  this.timeout(240_000);
  let lab: Lab | undefined;
  let state: LabState;
  let server = '';
  let traffic: Traffic;
  const ports: number[] = [];
  const pod = (name: string) => state.pods.find((p) => p.name === name)!;
  const dbOf = (box: string) => path.join(agentFiles(state.boxes.find((b) => b.name === box)!).stateDir, 'flows.db');
  const latest = async (box: string): Promise<FlowRecord[]> => {
    const s = await FlowStore.open(dbOf(box));
    try {
      return await s.query({ limit: 10_000 });
    } finally {
      await s.close();
    }
  };

  before(async () => {
    requirePrereqs('root', 'ovs', 'ip', 'ethtool', 'ping');
    lab = await newLab('flows');
    await lab.up(specFromFlags(2, 2));
    state = await lab.current();
    server = state.controller!.url;
    await writeFile(path.join(lab.dir, 'policies.yaml'), POLICIES);
    await writeFile(path.join(lab.dir, 'client.py'), CLIENT_PY);
    const r = await seinectl(server, ['apply', '-f', path.join(lab.dir, 'policies.yaml')]);
    assert.equal(r.code, 0, r.stderr);
    await eventually('both policies Realized on 2 boxes', async () => {
      const g = await seinectl(server, ['get', 'acnp', '-o', 'json']);
      const items = (JSON.parse(g.stdout) as { items: { status?: { currentNodesRealized?: number } }[] }).items;
      return items.length === 2 && items.every((i) => i.status?.currentNodesRealized === 2);
    }, 30_000);
    traffic = new Traffic(lab, 2);
    await traffic.install();
    await traffic.listen(pod('box2-pod1'), [5001, 5002], []);
    assert.ok(await reachable(pod('box1-pod1'), pod('box2-pod1').ip!), 'box1-pod1 reaches box2-pod1');
  });

  after(async () => {
    if (lab) await removeLab(lab);
  });

  const client = async (from: PodState, to: PodState, port: number, m: number) => {
    const r = await run('ip', ['netns', 'exec', from.netns, 'python3', path.join(lab!.dir, 'client.py'), to.ip!, String(port), String(m)]);
    return Number(r.stdout.trim().split('\n')[0]);
  };

  it(`records ${N} connections of ${M} bytes each way on both boxes within the stated tolerance, with pods, nodes and the allowing rule`, async () => {
    for (let i = 0; i < N; i++) ports.push(await client(pod('box1-pod1'), pod('box2-pod1'), 5001, M));
    const mine = (recs: FlowRecord[]) => recs.filter((r) => r.destinationTransportPort === 5001 && ports.includes(r.sourceTransportPort));
    const minPackets = Math.ceil(M / 1448);
    const complete = (r: FlowRecord) => r.octetTotalCount >= M && r.reverseOctetTotalCount >= M;
    // Counters settle within a poll (5 s) plus OVS's stats push (≤ 1 s); the tracker re-records a changed connection every 5 s.
    await eventually('every connection recorded with its full counts on both boxes', async () => {
      for (const box of ['box1', 'box2']) {
        const recs = mine(await latest(box));
        if (recs.length !== N || !recs.every(complete)) return false;
      }
      return true;
    }, 30_000);

    for (const box of ['box1', 'box2']) {
      const recs = mine(await latest(box));
      for (const r of recs) {
        const where = `${box} :${r.sourceTransportPort}`;
        const valid = FlowRecordSchema.safeParse(r);
        assert.ok(valid.success, `${where}: the stored record is a valid FlowRecord: ${JSON.stringify(valid.error?.issues)}`);
        assert.ok(r.packetTotalCount >= minPackets, `${where}: ${r.packetTotalCount} packets for ${M} bytes`);
        assert.ok(r.octetTotalCount <= M + HEADER_MAX * r.packetTotalCount, `${where}: ${r.octetTotalCount} octets > ${M} + headers of ${r.packetTotalCount} packets`);
        assert.ok(r.reverseOctetTotalCount <= M + HEADER_MAX * r.reversePacketTotalCount, `${where}: reverse ${r.reverseOctetTotalCount} octets`);
        assert.equal(r.sourceIPv4Address, pod('box1-pod1').ip);
        assert.equal(r.destinationIPv4Address, pod('box2-pod1').ip);
        assert.equal(r.protocolIdentifier, 6);
        assert.deepEqual([r.sourcePodNamespace, r.sourcePodName, r.sourceNodeName], ['default', 'box1-pod1', 'box1'], where);
        assert.deepEqual([r.destinationPodNamespace, r.destinationPodName, r.destinationNodeName], ['default', 'box2-pod1', 'box2'], where);
        assert.equal(r.flowType, 2, `${where}: inter-node`);
        assert.ok(r.flowStartSeconds <= r.flowEndSeconds);
      }
      // Egress is decided (and committed with the rule in ct_label) on the source box, ingress on the destination box.
      const [dir, rule] = box === 'box1' ? (['egress', 'web-out'] as const) : (['ingress', 'web-in'] as const);
      for (const r of recs) {
        assert.equal(r[`${dir}NetworkPolicyName`], 'allow-web');
        assert.equal(r[`${dir}NetworkPolicyRuleName`], rule);
        assert.equal(r[`${dir}NetworkPolicyRuleAction`], 1, 'Allow');
        assert.equal(r[`${dir}NetworkPolicyType`], 3, 'ACNP');
      }
    }
  });

  it('the controller joins both boxes\' records of each connection (egress rule from box1, ingress rule from box2, per-side counters)', async () => {
    let items: AggregatedFlow[] = [];
    const mine = () => items.filter((i) => i.record.destinationTransportPort === 5001 && ports.includes(i.record.sourceTransportPort));
    await eventually('the fleet store has every connection from both sides with full counts', async () => {
      const r = await seinectl(server, ['flows', '--pod', 'default/box2-pod1', '-o', 'json']);
      if (r.code !== 0) throw new Error(r.stderr);
      items = JSON.parse(r.stdout) as AggregatedFlow[];
      return mine().length === N && mine().every((i) => (i.fromSourceNode?.octetTotalCount ?? 0) >= M && (i.fromDestinationNode?.octetTotalCount ?? 0) >= M);
    }, 30_000);
    for (const i of mine()) {
      assert.equal(i.fromSourceNode!.node, 'box1');
      assert.equal(i.fromDestinationNode!.node, 'box2');
      assert.equal(i.record.egressNetworkPolicyName, 'allow-web');
      assert.equal(i.record.egressNetworkPolicyRuleName, 'web-out');
      assert.equal(i.record.ingressNetworkPolicyName, 'allow-web');
      assert.equal(i.record.ingressNetworkPolicyRuleName, 'web-in');
      assert.equal(i.record.octetTotalCount, i.fromSourceNode!.octetTotalCount, 'the connection counts as its source node saw it');
      assert.ok(FlowRecordSchema.safeParse(i.record).success);
    }
    // --since/--until go to the controller (connections last seen in the range).
    const ranged = async (...args: string[]) => {
      const r = await seinectl(server, ['flows', '--pod', 'default/box2-pod1', ...args, '-o', 'json']);
      assert.equal(r.code, 0, r.stderr);
      return (items = JSON.parse(r.stdout) as AggregatedFlow[], mine().length);
    };
    assert.equal(await ranged('--since', '1h'), N);
    assert.equal(await ranged('--until', String(Math.floor(Date.now() / 1000) - 3600)), 0);
    const table = await seinectl(server, ['flows', '--policy', 'allow-web']);
    assert.equal(table.code, 0, table.stderr);
    assert.ok(table.stdout.split('\n').filter((l) => /allow-web Allow\s+allow-web Allow/.test(l)).length >= N, table.stdout);
  });

  it('records a connection a Drop rule denies, with the policy, rule and action', async () => {
    const probe = await traffic.probe(pod('box1-pod1'), pod('box2-pod1'), 'tcp', 5002);
    assert.equal(probe.verdict, 'dropped', probe.detail);
    let denied: FlowRecord | undefined;
    await eventually('the denied connection in box2\'s store', async () => {
      denied = (await latest('box2')).find((r) => r.destinationTransportPort === 5002 && r.ingressNetworkPolicyName === 'drop-db');
      return denied !== undefined;
    }, 20_000);
    assert.equal(denied!.ingressNetworkPolicyRuleName, 'no-db');
    assert.equal(denied!.ingressNetworkPolicyRuleAction, 2, 'Drop');
    assert.equal(denied!.sourcePodName, 'box1-pod1');
    assert.equal(denied!.destinationPodName, 'box2-pod1');
    assert.ok(denied!.packetTotalCount >= 1, 'the denied SYNs were counted');
    assert.equal(denied!.reversePacketTotalCount, 0);
  });

  it('seinectl flows --db prints the store as JSON and as a table, filtered by policy and pod', async () => {
    const j = await seinectl(server, ['flows', '--db', dbOf('box2'), '--denied', '-o', 'json']);
    assert.equal(j.code, 0, j.stderr);
    const recs = JSON.parse(j.stdout) as FlowRecord[];
    assert.ok(recs.length >= 1 && recs.every((r) => r.ingressNetworkPolicyRuleAction === 2 || r.egressNetworkPolicyRuleAction === 2));
    const t = await seinectl(server, ['flows', '--db', dbOf('box1'), '--policy', 'allow-web', '--pod', 'default/box2-pod1']);
    assert.equal(t.code, 0, t.stderr);
    const lines = t.stdout.trim().split('\n');
    assert.match(lines[0]!, /^SOURCE\s+DESTINATION\s+PROTO\s+PACKETS\s+BYTES/);
    assert.equal(lines.length - 1, N, t.stdout);
    assert.ok(lines.slice(1).every((l) => /default\/box1-pod1:\d+\s+default\/box2-pod1:5001\s+TCP/.test(l) && /allow-web Allow/.test(l)), t.stdout);
    const bad = await seinectl(server, ['flows', '--db', dbOf('box1'), '--since', 'yesterday-ish']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /--since/);
  });

  it("the agent API: Antrea's metric names with this lab's values, edge health, and /flows for seinectl --agent", async () => {
    const box2 = state.boxes.find((b) => b.name === 'box2')!;
    const get = (p: string) => agentApiGet(box2, p);
    const text = await get('/metrics');
    const value = (name: string) => {
      const m = new RegExp(`^${name.replace(/[{}"]/g, (c) => `\\${c}`)} (\\S+)$`, 'm').exec(text);
      assert.ok(m, `${name} in /metrics:\n${text.slice(0, 3000)}`);
      return Number(m[1]);
    };
    assert.equal(value('antrea_agent_local_pod_count'), 2);
    assert.equal(value('antrea_agent_networkpolicy_count'), 2);
    assert.equal(value('antrea_agent_ingress_networkpolicy_rule_count'), 2);
    assert.ok(value('antrea_agent_denied_connection_count') >= 1, 'the denied connection');
    assert.ok(value('antrea_agent_ovs_total_flow_count') > 50);
    assert.ok(value(`antrea_agent_ovs_flow_count{table_id="0"}`) >= 1);
    assert.ok(value('antrea_agent_conntrack_max_connection_count') > 0);
    assert.ok(value('antrea_agent_conntrack_total_connection_count') >= value('antrea_agent_conntrack_antrea_connection_count'));
    assert.ok(value('seine_flow_records_total') >= N);
    assert.ok(value(`seine_edge_memory_bytes{state="total"}`) > 0);
    assert.ok(value('seine_edge_cpu_load_percent') >= 0);
    const flows = JSON.parse(await get('/flows?policy=drop-db&denied=true')) as { records: FlowRecord[] };
    assert.ok(flows.records.length >= 1 && flows.records.every((r) => r.ingressNetworkPolicyName === 'drop-db'));
    const cli = await run('ip', ['netns', 'exec', box2.netns, process.execPath, distProgram('cli/seinectl.js'), 'flows', '--agent', `http://127.0.0.1:${AGENT_API_PORT}`, '--policy', 'allow-web']);
    assert.equal(cli.stdout.trim().split('\n').length - 1, N, cli.stdout);
  });

  it('kill -9 of an agent during ingest leaves an intact database that keeps filling after the restart', async () => {
    const busy = (async () => {
      for (let i = 0; i < 12; i++) await client(pod('box1-pod1'), pod('box2-pod1'), 5001, 20_000).catch(() => 0);
    })();
    await sleep(1500);
    await lab!.restartAgent('box2', { crash: true });
    await busy;
    const s = await FlowStore.open(dbOf('box2'));
    try {
      assert.equal(await s.integrityCheck(), 'ok');
      const before = (await s.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM flow_records'))!.n;
      await eventually('the restarted agent writes again', async () => (await s.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM flow_records'))!.n > before, 20_000);
    } finally {
      await s.close();
    }
  });
});
