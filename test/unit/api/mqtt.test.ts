import assert from 'node:assert/strict';
import {
  FLEET_RELEASES_TOPIC,
  MessageError,
  NODE_CHANNELS,
  TopicError,
  allNodesTopic,
  nodeSubtree,
  nodeTopic,
  parseNodeMessage,
  parseNodeTopic,
  rpcTopic,
  topicChannel,
} from '../../../src/api/mqtt.js';

describe('api: MQTT topics', () => {
  it('builds the documented topics', () => {
    assert.equal(nodeTopic('box-17', 'status'), 'seine/v1/nodes/box-17/status');
    assert.equal(nodeTopic('box-17', 'desired'), 'seine/v1/nodes/box-17/desired');
    assert.equal(rpcTopic('box-17', 'req-1'), 'seine/v1/nodes/box-17/rpc/req-1');
    assert.equal(FLEET_RELEASES_TOPIC, 'seine/v1/fleet/releases');
    assert.equal(nodeSubtree('box-17'), 'seine/v1/nodes/box-17/#');
    assert.equal(allNodesTopic('reported'), 'seine/v1/nodes/+/reported');
    assert.equal(allNodesTopic('rpc'), 'seine/v1/nodes/+/rpc/+');
  });

  it('round-trips every channel through the parser', () => {
    for (const channel of NODE_CHANNELS) {
      if (channel === 'rpc') {
        assert.deepEqual(parseNodeTopic(rpcTopic('edge.site-1', 'abc_123')), { node: 'edge.site-1', channel: 'rpc', rpcId: 'abc_123' });
      } else {
        assert.deepEqual(parseNodeTopic(nodeTopic('edge.site-1', channel)), { node: 'edge.site-1', channel });
      }
    }
  });

  const wrongTopics = [
    'seine/v2/nodes/box-17/status',
    'seine/v1/node/box-17/status',
    'seine/v1/nodes/box-17/telemetry',
    'seine/v1/nodes/box-17',
    'seine/v1/nodes/box-17/status/extra',
    'seine/v1/nodes/+/status',
    'seine/v1/nodes/#',
    'seine/v1/nodes/Box_17/status',
    'seine/v1/nodes/box-17/rpc',
    'seine/v1/nodes/box-17/rpc/a/b',
    'seine/v1/fleet/releases',
    '',
  ];
  for (const topic of wrongTopics) {
    it(`rejects ${JSON.stringify(topic)}`, () => assert.throws(() => parseNodeTopic(topic), TopicError));
  }

  it('names a topic\'s channel without parsing it (the controller\'s listeners pick theirs)', () => {
    assert.equal(topicChannel(nodeTopic('box1', 'reported')), 'reported');
    assert.equal(topicChannel(rpcTopic('box1', 'abc')), 'rpc');
    assert.equal(topicChannel(FLEET_RELEASES_TOPIC), undefined);
    assert.equal(topicChannel('other/v1/nodes/box1/rpc/x'), undefined);
    assert.equal(topicChannel('seine/v1/nodes/box1'), undefined);
  });

  it('refuses to build topics that would escape a node subtree', () => {
    assert.throws(() => nodeTopic('a/b', 'status'), TopicError);
    assert.throws(() => nodeTopic('+', 'status'), TopicError);
    assert.throws(() => rpcTopic('box', 'x/y'), TopicError);
  });
});

describe('api: MQTT envelopes', () => {
  const desired = {
    v: 1,
    node: 'box-17',
    generation: 4,
    ts: 1_700_000_000_000,
    kind: 'desired',
    payload: {
      node: 'box-17',
      generation: 4,
      objects: {
        'ClusterNetworkPolicy.crd.antrea.io//web-allow': {
          generation: 2,
          spec: { priority: 5, appliedTo: [{ podSelector: {} }], ingress: [{ action: 'Allow' }] },
        },
      },
    },
  };

  it('parses a desired-state message and checks the spec of each object', () => {
    const msg = parseNodeMessage(nodeTopic('box-17', 'desired'), JSON.stringify(desired));
    assert.equal(msg.channel, 'desired');
    assert.equal(msg.node, 'box-17');
    if (msg.channel === 'desired') assert.equal(msg.envelope.payload.generation, 4);

    const bad = structuredClone(desired);
    bad.payload.objects['ClusterNetworkPolicy.crd.antrea.io//web-allow'].spec.ingress[0]!.action = 'Deny';
    assert.throws(() => parseNodeMessage(nodeTopic('box-17', 'desired'), JSON.stringify(bad)), {
      name: 'MessageError',
      message:
        'seine/v1/nodes/box-17/desired: payload.objects["ClusterNetworkPolicy.crd.antrea.io//web-allow"].spec.ingress[0].action: expected one of Allow|Drop|Reject|Pass, got "Deny"',
    });
  });

  it('rejects a message whose envelope names another node', () => {
    assert.throws(() => parseNodeMessage(nodeTopic('box-18', 'desired'), JSON.stringify(desired)), /envelope says "box-17", topic says "box-18"/);
  });

  it('rejects a message on the wrong channel or with a bad envelope', () => {
    assert.throws(() => parseNodeMessage(nodeTopic('box-17', 'status'), JSON.stringify(desired)), MessageError);
    assert.throws(() => parseNodeMessage(nodeTopic('box-17', 'status'), '{not json'), /payload is not JSON/);
    const status = { v: 2, node: 'box-17', ts: 1, kind: 'status', payload: { state: 'online' } };
    assert.throws(() => parseNodeMessage(nodeTopic('box-17', 'status'), JSON.stringify(status)), /: v: expected 1, got 2/);
  });

  it('parses rpc requests and responses with their id', () => {
    const req = { v: 1, node: 'box-17', ts: 5, kind: 'rpc-request', payload: { method: 'traceflow', params: { name: 'tf' } } };
    const msg = parseNodeMessage(rpcTopic('box-17', 'r1'), Buffer.from(JSON.stringify(req)));
    assert.equal(msg.channel === 'rpc' && msg.rpcId, 'r1');
    const res = { v: 1, node: 'box-17', ts: 6, kind: 'rpc-response', payload: { ok: false, error: { code: 'NotFound', message: 'no pod' } } };
    assert.equal(parseNodeMessage(rpcTopic('box-17', 'r1'), JSON.stringify(res)).channel, 'rpc');
  });

  describe('a newer agent\'s report (fields this side does not know)', () => {
    const reported = (extra: Record<string, unknown> = {}, podExtra: Record<string, unknown> = {}) => ({
      v: 1, node: 'box-17', ts: 9, kind: 'reported',
      payload: {
        node: 'box-17', observedGeneration: 4, objects: {}, errors: [], agentVersion: '9.0.0', uptimeSeconds: 5,
        inventory: { pods: [{ namespace: 'default', name: 'web', ips: ['10.0.0.5'], labels: {}, ...podExtra }] },
        ...extra,
      },
    });

    it('is taken with the unknown fields dropped and named, at any depth', () => {
      const msg = parseNodeMessage(nodeTopic('box-17', 'reported'), JSON.stringify(reported({ gpu: { count: 1 } }, { sandboxId: 'x' })));
      assert.deepEqual(msg.ignoredFields?.sort(), ['payload.gpu', 'payload.inventory.pods[0].sandboxId']);
      assert.ok(msg.channel === 'reported' && !('gpu' in msg.envelope.payload));
      assert.ok(msg.channel === 'reported' && !('sandboxId' in msg.envelope.payload.inventory.pods[0]!));
    });

    it('is still refused for a known field that is wrong, naming it', () => {
      assert.throws(() => parseNodeMessage(nodeTopic('box-17', 'reported'), JSON.stringify(reported({ gpu: 1, uptimeSeconds: -1 }))), /payload\.uptimeSeconds/);
    });

    it('a report the controller knows whole has nothing ignored', () => {
      assert.equal(parseNodeMessage(nodeTopic('box-17', 'reported'), JSON.stringify(reported())).ignoredFields, undefined);
    });

    it('a desired document (what a box enforces) with a field the agent does not know is refused, never trimmed', () => {
      const newer = structuredClone(desired) as typeof desired & { payload: { priorityClass?: string } };
      newer.payload.priorityClass = 'high';
      assert.throws(() => parseNodeMessage(nodeTopic('box-17', 'desired'), JSON.stringify(newer)), /priorityClass/);
    });
  });
});
