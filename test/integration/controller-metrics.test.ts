// The controller's /metrics on its REST listener (real controller, aedes, one agent's sync):
// Antrea's policy metric names count the span computations, seine_controller_* the fleet.
import assert from 'node:assert/strict';
import type { Controller } from '../../src/controller/main.js';
import { acnp, api, rawRequest, startAgent, startController, tempDir, waitFor, type TestAgent } from './controller-fixture.js';

const READER = 'reader-token-0123456789';
const ADMIN = 'admin-token-0123456789';

async function scrape(c: Controller, token?: string): Promise<{ status: number; text: string }> {
  return rawRequest(`${c.restUrl}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
}

/** The value of one sample line (`name{labels} value`), or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('controller /metrics', function () {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let c: Controller;
  let agent: TestAgent;

  before(async function () {
    tmp = await tempDir();
    c = await startController(tmp.dir, { auth: { adminTokens: [ADMIN], readOnlyTokens: [READER] } });
    const password = await c.nodes.createCredentials('box1', 'test');
    await c.nodes.createCredentials('box2', 'test'); // known, never connects
    agent = await startAgent({ node: 'box1', url: c.brokerUrl, password, dir: tmp.dir });
    await waitFor('box1 online', async () => (await c.nodes.list()).some((n) => n.name === 'box1' && n.online));
  });
  after(async function () {
    await agent?.stop();
    await c?.stop();
    await tmp?.remove();
  });

  it('needs a read token (401 without)', async function () {
    assert.equal((await scrape(c)).status, 401);
    const { status, text } = await scrape(c, READER);
    assert.equal(status, 200);
    assert.match(text, /# TYPE antrea_controller_network_policy_processed counter/);
  });

  it('counts policies processed and span sync durations, nodes by presence, node messages, MQTT', async function () {
    const before = sample((await scrape(c, READER)).text, 'antrea_controller_network_policy_processed') ?? 0;
    const syncsBefore = sample((await scrape(c, READER)).text, 'antrea_controller_network_policy_sync_duration_milliseconds_count') ?? 0;
    for (const name of ['m1', 'm2']) assert.equal((await api(c.restUrl, 'POST', '/apis/crd.antrea.io/v1beta1/clusternetworkpolicies', acnp(name), ADMIN)).status, 200);
    await waitFor('m1 and m2 realized on box1', () => agent.realizer.last?.has('ClusterNetworkPolicy.crd.antrea.io//m2'));
    const text = await waitFor('reported counted', async () => {
      const t = (await scrape(c, READER)).text;
      return (sample(t, 'seine_controller_node_messages_total{channel="reported"}') ?? 0) >= 1 ? t : undefined;
    });
    // Each new policy is computed at least once (the second apply recomputes only the new one).
    assert.ok(sample(text, 'antrea_controller_network_policy_processed')! >= before + 2, text);
    assert.ok(sample(text, 'antrea_controller_network_policy_sync_duration_milliseconds_count')! > syncsBefore);
    assert.ok(sample(text, 'antrea_controller_network_policy_sync_duration_milliseconds{quantile="0.5"}')! >= 0);
    assert.equal(sample(text, 'seine_controller_nodes{state="online"}'), 1);
    assert.equal(sample(text, 'seine_controller_nodes{state="offline"}'), 1);
    assert.ok(sample(text, 'seine_controller_node_messages_total{channel="status"}')! >= 1);
    assert.ok(sample(text, 'seine_controller_desired_published_total')! >= 2);
    assert.equal(sample(text, 'seine_controller_mqtt_connected'), 1);
    assert.equal(sample(text, 'seine_controller_embedded_broker_running'), 1);
    assert.equal(sample(text, 'seine_controller_node_messages_rejected_total{reason="malformed"}'), 0);
    // The memory gauge: the RSS holds the V8 heap, which holds what is live.
    const [rss, heapTotal, heapUsed] = ['rss', 'heapTotal', 'heapUsed'].map((k) => sample(text, `seine_controller_memory_bytes{kind="${k}"}`)!);
    assert.ok(heapUsed! > 1e6 && heapUsed! <= heapTotal! && heapTotal! < rss!, `rss ${rss} heapTotal ${heapTotal} heapUsed ${heapUsed}`);
  });

  it('shows the broker stopped and the controller disconnected', async function () {
    assert.equal((await api(c.restUrl, 'PUT', '/api/v1/broker', { running: false }, ADMIN)).status, 200);
    try {
      const text = await waitFor('disconnected', async () => {
        const t = (await scrape(c, READER)).text;
        return sample(t, 'seine_controller_mqtt_connected') === 0 ? t : undefined;
      });
      assert.equal(sample(text, 'seine_controller_embedded_broker_running'), 0);
    } finally {
      assert.equal((await api(c.restUrl, 'PUT', '/api/v1/broker', { running: true }, ADMIN)).status, 200);
    }
  });
});
