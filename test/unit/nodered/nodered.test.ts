// The Node-RED package's static parts: the examples (valid policies, wired to the shared
// seine-controller, no secrets), the package's node-red section, and the flow map and phase
// summaries the nodes compute.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { parseManifests } from '../../../src/api/manifest.js';
import { FlowRecordSchema, type FlowRecordInput } from '../../../src/api/flow-record.js';
import { projectRoot } from '../../../src/lib/paths.js';
import { buildFlowGraph, chartPoints, flowMapSvg, topTalkers, verdictOf } from '../../../nodes/lib/flow-map.js';
import { phaseStatus } from '../../../nodes/lib/policy-status.js';
import { flowQuery } from '../../../nodes/lib/flow-query.js';
import { changedNodes, eventTopic, nodeStateEvents } from '../../../nodes/lib/fleet-changes.js';
import { initialFlows, LAB_CONTROLLER_NODE_ID } from '../../../src/lab/node-red-process.js';

const nodesDir = path.join(projectRoot, 'nodes');
const TYPES = ['seine-controller', 'seine-policy', 'seine-traceflow', 'seine-flows', 'seine-events', 'seine-nodes'];

const rec = (over: Partial<FlowRecordInput>) => FlowRecordSchema.parse({
  flowStartSeconds: 1, flowEndSeconds: 2, sourceIPv4Address: '10.42.0.2', destinationIPv4Address: '10.42.1.2', sourceTransportPort: 1000, destinationTransportPort: 80,
  protocolIdentifier: 6, packetTotalCount: 1, octetTotalCount: 100, packetDeltaCount: 1, octetDeltaCount: 100, reversePacketTotalCount: 1, reverseOctetTotalCount: 50,
  reversePacketDeltaCount: 1, reverseOctetDeltaCount: 50, sourcePodNamespace: 'a', sourcePodName: 'p1', destinationPodNamespace: 'b', destinationPodName: 'p2', flowType: 2, ...over,
});

describe('Node-RED package', () => {
  it('package.json registers the six nodes, each with its .ts and .html; keyword node-red', () => {
    const pkg = JSON.parse(readFileSync(path.join(nodesDir, 'package.json'), 'utf8')) as { keywords: string[]; 'node-red': { nodes: Record<string, string> } };
    assert.ok(pkg.keywords.includes('node-red'));
    assert.deepEqual(Object.keys(pkg['node-red'].nodes), TYPES);
    for (const [type, file] of Object.entries(pkg['node-red'].nodes)) {
      assert.equal(file, `dist/nodes/${type}.js`);
      assert.ok(existsSync(path.join(nodesDir, `${type}.ts`)), `${type}.ts`);
      const html = readFileSync(path.join(nodesDir, `${type}.html`), 'utf8');
      assert.match(html, new RegExp(`registerType\\('${type}'`), `${type}.html registers the type`);
      assert.match(html, new RegExp(`data-help-name="${type}"`), `${type}.html has a help panel`);
    }
  });

  describe('examples', () => {
    const files = readdirSync(path.join(nodesDir, 'examples')).filter((f) => f.endsWith('.json'));
    it('the four flows of the issue', () => {
      assert.deepEqual(files.sort(), ['deny a namespace and watch it realize.json', 'flow map of a namespace.json', 'top talkers dashboard.json', 'trace a blocked connection.json']);
    });
    for (const f of files) {
      it(`${f}: valid policies, every Seine node on the lab's seine-controller, no credentials, wired within itself`, () => {
        const flow = JSON.parse(readFileSync(path.join(nodesDir, 'examples', f), 'utf8')) as Record<string, unknown>[];
        const ids = new Set(flow.map((n) => n.id));
        for (const n of flow) {
          if (n.type === 'seine-policy') assert.ok(parseManifests(n.policy as string, `${f} ${n.id}`).length > 0);
          if (typeof n.type === 'string' && n.type.startsWith('seine-') && n.type !== 'seine-controller') assert.equal(n.controller, LAB_CONTROLLER_NODE_ID, `${n.id}`);
          for (const out of (n.wires as string[][] | undefined) ?? []) for (const id of out) assert.ok(ids.has(id), `${n.id} is wired to ${id}, which is in the flow`);
          assert.equal(n.credentials, undefined, `${n.id} carries no credentials`);
        }
        // The config node is the lab's own (an import would otherwise stop at an id conflict).
        assert.ok(!flow.some((n) => n.type === 'seine-controller'), 'no config node in the example');
        assert.ok(initialFlows().some((n) => (n as { id: string; type: string }).type === 'seine-controller' && (n as { id: string }).id === LAB_CONTROLLER_NODE_ID));
      });
    }
  });

  describe('flow map', () => {
    it('groups by pod or namespace, sums both directions, colours by the strongest verdict', () => {
      const records = [
        rec({}),
        rec({ sourceTransportPort: 1001, ingressNetworkPolicyName: 'allow', ingressNetworkPolicyRuleAction: 1 }),
        rec({ sourceTransportPort: 1002, destinationPodName: 'p3', egressNetworkPolicyName: 'deny', egressNetworkPolicyNamespace: 'a', egressNetworkPolicyRuleAction: 2, octetTotalCount: 10, reverseOctetTotalCount: 0 }),
        rec({ sourceTransportPort: 1003, destinationPodNamespace: '', destinationPodName: '', destinationIPv4Address: '8.8.8.8' }),
      ];
      assert.deepEqual(records.map(verdictOf), ['no-policy', 'allowed', 'denied', 'no-policy']);
      const byPod = buildFlowGraph(records, 'pod');
      assert.deepEqual(byPod.edges.map((e) => `${e.source}>${e.destination} ${e.bytes} ${e.connections} ${e.verdict} ${e.policies.join(',')}`), [
        'a/p1>b/p2 300 2 allowed allow', 'a/p1>8.8.8.8 150 1 no-policy ', 'a/p1>b/p3 10 1 denied a/deny',
      ]);
      const byNs = buildFlowGraph(records, 'namespace');
      assert.deepEqual(byNs.vertices.map((v) => v.id), ['a', 'b', 'external']);
      assert.equal(byNs.edges.find((e) => e.destination === 'b')!.verdict, 'denied');
      assert.deepEqual(chartPoints(byPod, 1), [{ x: 'a/p1 → b/p2', y: 300, verdict: 'allowed' }]);
      // The table's policy cell is text: the names joined, "—" for none (an array prints as `[]`).
      assert.deepEqual(topTalkers(byPod, 3).map((t) => t.policyNames), ['allow', '—', 'a/deny']);
      const svg = flowMapSvg(byPod, 'Flow map: <all>');
      assert.match(svg, /^<svg /);
      assert.equal((svg.match(/class="vertex"/g) ?? []).length, 4);
      assert.equal((svg.match(/class="edge denied"/g) ?? []).length, 1);
      assert.ok(svg.includes('Flow map: &lt;all&gt;'), 'text is escaped');
    });
  });

  it('top talkers dashboard: bars start at zero, the policy column shows the readable cell', () => {
    const flow = JSON.parse(readFileSync(path.join(projectRoot, 'nodes/examples/top talkers dashboard.json'), 'utf8')) as { type: string; ymin?: string; columns?: { title: string; key: string }[] }[];
    const chart = flow.find((n) => n.type === 'ui-chart');
    assert.equal(chart?.ymin, '0', 'the y axis starts at 0, not at the smallest bar');
    const table = flow.find((n) => n.type === 'ui-table');
    assert.equal(table?.columns?.find((c) => c.title === 'policies')?.key, 'policyNames');
  });

  it('policy status: the worst phase, nodes summed', () => {
    const st = (phase: 'Realized' | 'Realizing' | 'Pending' | 'Failed', cur: number, want: number) => ({ phase, observedGeneration: 1, currentNodesRealized: cur, desiredNodesRealized: want });
    assert.deepEqual(phaseStatus([{ name: 'a', status: st('Realizing', 1, 3) }]), { fill: 'yellow', shape: 'ring', text: 'Realizing 1/3', phase: 'Realizing' });
    assert.equal(phaseStatus([{ name: 'a', status: st('Realized', 3, 3) }]).text, 'Realized 3/3');
    assert.equal(phaseStatus([{ name: 'a', status: st('Realized', 2, 2) }, { name: 'b', status: st('Failed', 1, 2) }]).text, 'Failed 3/4 (2 objects)');
  });

  it('flows query: settings overridden by msg.payload; errors name the field', () => {
    const now = Date.UTC(2026, 0, 1) ;
    const q = flowQuery({ id: 'x', type: 'seine-flows', namespace: 'web', since: '15m', limit: '10' }, { output: 'top', top: 3 }, now);
    assert.deepEqual(q, { pod: undefined, namespace: 'web', policy: undefined, since: now / 1000 - 900, until: undefined, limit: 10, top: 3, group: 'pod', output: 'top' });
    assert.throws(() => flowQuery({ id: 'x', type: 'seine-flows', limit: '0' }), /^Error: limit: expected a whole number 1-100000, got "0"/);
    assert.throws(() => flowQuery({ id: 'x', type: 'seine-flows' }, { group: 'box' }), /^Error: msg\.payload\.group: expected pod or namespace/);
  });

  it('nodes and events: what counts as a change', () => {
    const n = (name: string, online: boolean, lastSeen = 'x') => ({ name, online, agentVersion: '1', uptimeSeconds: 5, lastSeen, desiredGeneration: 1, realizedGeneration: 1, objectsRealized: 0, objectsFailed: 0 });
    const before = new Map([['a', JSON.stringify([true, '1', 1, 1, 0, 0])], ['gone', 'x']]);
    assert.deepEqual(changedNodes(before, [n('a', true, 'later')]), ['gone'], 'lastSeen alone is no change; a removed node is');
    assert.deepEqual(changedNodes(before, [n('a', false)]), ['a', 'gone']);
    assert.deepEqual(nodeStateEvents(undefined, [n('a', true)]), [], 'the first list only sets the mark');
    assert.deepEqual(nodeStateEvents(new Map([['a', true]]), [n('a', false), n('b', true)], 7).map((e) => `${e.node} ${e.type} ${e.ts}`), ['a node-offline 7', 'b node-online 7']);
    const rollout = { ts: 1, severity: 'info', type: 'rollout', message: 'm' } as const;
    assert.equal(eventTopic({ ...rollout, node: 'box1' }), 'seine/events/box1/rollout');
    assert.equal(eventTopic({ ...rollout, node: '' }), 'seine/events/fleet/rollout', 'a rollout phase is of no one node');
  });
});
