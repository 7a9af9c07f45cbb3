// The controller's flow aggregator end to end in one process: two agents' sync modules publish
// the two sides of an inter-node connection over MQTT (the outbox path the agents use), the
// controller joins them, adds pod labels (from the nodes' reported pods) and throughput, and
// exports to an IPFIX collector on 127.0.0.1 with its own timeouts; tshark decodes the capture.
import assert from 'node:assert/strict';
import { freeUdpPort } from '../../src/lib/free-port.js';
import path from 'node:path';
import type { Controller } from '../../src/controller/main.js';
import { syntheticRecord } from '../helpers/flow-records.js';
import { requirePrereqs } from '../helpers/prereqs.js';
import { capture, decodeWithTshark, stop } from '../helpers/tshark.js';
import { rawRequest, startAgent, startController, tempDir, trustOf, waitFor, type TestAgent } from './controller-fixture.js';

const T = 1_800_000_000;

const num = (hex: string | undefined) => (hex ? Number(BigInt(`0x${hex}`)) : NaN);
const text = (hex: string | undefined) => Buffer.from(hex ?? '', 'hex').toString('utf8');

describe('flow aggregator: joined fleet flows exported over IPFIX', function () {
  this.timeout(60_000);
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let c: Controller;
  const agents: TestAgent[] = [];
  let port = 0;

  before(async function () {
    requirePrereqs('tshark');
    tmp = await tempDir('seine-agg-');
    port = await freeUdpPort();
    c = await startController(tmp.dir, {
      flowAggregator: { activeFlowRecordTimeoutSeconds: 1, inactiveFlowRecordTimeoutSeconds: 3, flowCollector: { address: `127.0.0.1:${port}:udp`, observationDomainID: 7 } },
    });
    for (const node of ['box1', 'box2']) {
      const password = await c.nodes.createCredentials(node, 'test');
      agents.push(await startAgent({ node, url: c.brokerUrl, password, dir: tmp.dir }));
    }
    await waitFor('both nodes reported their pods', async () => (await c.nodes.reports()).size === 2);
  });
  after(async function () {
    for (const a of agents) await a.stop();
    await c?.stop();
    await tmp?.remove();
  });

  const scrape = async (name: string) => {
    const t = (await rawRequest(`${c.restUrl}/metrics`, { headers: { authorization: `Bearer ${trustOf(c.restUrl).token}` } })).text;
    const line = t.split('\n').find((l) => l.startsWith(`${name} `));
    return line ? Number(line.split(' ')[1]) : NaN;
  };

  it('exports both sides\' counters, pod labels, throughput and end times; deltas add up to the totals', async function () {
    const file = path.join(tmp.dir, 'agg.pcap');
    const tshark = await capture(`udp port ${port}`, file);
    const rec = (t: number, octets: number, reverse: number) => syntheticRecord(1, t, {
      flowStartSeconds: T, octetTotalCount: octets, packetTotalCount: Math.ceil(octets / 1000), reverseOctetTotalCount: reverse, reversePacketTotalCount: 5,
      sourceIPv4Address: '10.42.1.2', destinationIPv4Address: '10.42.2.3', sourcePodNamespace: 'default', sourcePodName: 'web-box1',
      destinationPodNamespace: 'default', destinationPodName: 'db-box2', sourceNodeName: 'box1', destinationNodeName: 'box2',
    }).record;
    try {
      await agents[0]!.sync.publishFlows([rec(T + 5, 10_000, 1000)]);
      await agents[1]!.sync.publishFlows([{ ...rec(T + 6, 9_000, 900), egressNetworkPolicyName: '', ingressNetworkPolicyName: 'allow-db', ingressNetworkPolicyType: 1, ingressNetworkPolicyRuleAction: 1 }]);
      await waitFor('a first export', async () => (await scrape('seine_controller_flow_aggregator_records_exported_total')) >= 1, 10_000);
      await agents[0]!.sync.publishFlows([rec(T + 10, 60_000, 1500)]);
      await agents[1]!.sync.publishFlows([{ ...rec(T + 11, 50_000, 1400), egressNetworkPolicyName: '', ingressNetworkPolicyName: 'allow-db', ingressNetworkPolicyType: 1, ingressNetworkPolicyRuleAction: 1 }]);
      // Exported once more after the update, then forgotten after the inactive timeout (nothing new to export).
      await waitFor('the connection forgotten', async () => (await scrape('seine_controller_flow_aggregator_connections')) === 0 && (await scrape('seine_controller_flow_aggregator_records_exported_total')) >= 2, 15_000);
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      await stop(tshark);
    }
    // 63 elements: more than tshark's default bound of 60 per template.
    const flows = await decodeWithTshark(file, `udp.port==${port},cflow`, '-o', 'cflow.max_template_fields:100');
    assert.ok(flows.length >= 2, `at least two exports, got ${flows.length}`);
    const last = flows.at(-1)!;
    // The joined record: the source node's counters, the destination node's ingress rule.
    assert.equal(last.get('SrcAddr'), '10.42.1.2');
    assert.equal(last.get('Permanent Octets'), '60000');
    assert.equal(last.get('Flow End Reason'), 'Active timeout (2)');
    assert.equal(text(last.get('antrea:110')), 'allow-db');
    assert.equal(text(last.get('antrea:112')), 'allow-web');
    // Each side's totals.
    assert.equal(num(last.get('antrea:121')), 60_000, 'octetTotalCountFromSourceNode');
    assert.equal(num(last.get('antrea:125')), 1500, 'reverseOctetTotalCountFromSourceNode');
    assert.equal(num(last.get('antrea:129')), 50_000, 'octetTotalCountFromDestinationNode');
    assert.equal(num(last.get('antrea:133')), 1400, 'reverseOctetTotalCountFromDestinationNode');
    // Labels as the nodes reported them (the fixture's pods).
    assert.equal(text(last.get('antrea:143')), '{"app":"web"}');
    assert.equal(text(last.get('antrea:144')), '{"app":"db"}');
    // Throughput: bits/s since each node's previous record.
    assert.equal(num(last.get('antrea:147')), 80_000, 'throughputFromSourceNode: 50 kB in 5 s');
    assert.equal(num(last.get('antrea:148')), 65_600, 'throughputFromDestinationNode: 41 kB in 5 s');
    assert.equal(num(last.get('antrea:145')), 80_000, 'throughput: the source node\'s');
    assert.equal(num(last.get('antrea:149')), 800, 'reverseThroughputFromSourceNode');
    assert.equal(num(last.get('antrea:146')), 800, 'reverseThroughput');
    assert.equal(num(last.get('antrea:151')), T + 10, 'flowEndSecondsFromSourceNode');
    assert.equal(num(last.get('antrea:152')), T + 11, 'flowEndSecondsFromDestinationNode');
    // Deltas since the previous export add up to the totals, per side and for the record.
    const sum = (k: string) => flows.reduce((n, f) => n + num(f.get(k)), 0);
    assert.equal(sum('antrea:123'), 60_000, 'octetDeltaCountFromSourceNode');
    assert.equal(sum('antrea:131'), 50_000, 'octetDeltaCountFromDestinationNode');
    assert.equal(flows.reduce((n, f) => n + Number(f.get('Octets')), 0), 60_000, 'octetDeltaCount');
  });
});
