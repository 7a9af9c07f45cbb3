// The seine-nodes node's latency view (topic `latency`): NodeLatencyStats → rows and a matrix.
import assert from 'node:assert/strict';
import { latencyMatrix } from '../../../nodes/lib/latency-matrix.js';
import { NodeLatencyStatsSchema, type NodeLatencyStats } from '../../../src/api/node-config.js';

const stats = (name: string, peers: [string, string, number | undefined][]): NodeLatencyStats => NodeLatencyStatsSchema.parse({
  apiVersion: 'stats.antrea.io/v1alpha1', kind: 'NodeLatencyStats', metadata: { name },
  peerNodeLatencyStats: peers.map(([peer, ip, ns]) => ({ nodeName: peer, targetIPLatencyStats: [{ targetIP: ip, ...(ns === undefined ? {} : { lastMeasuredRTTNanoseconds: ns, lastRecvTime: '2026-12-07T17:00:00Z' }) }] })),
});

describe('Node-RED: latency matrix', () => {
  it('one row per directed pair, ms in the matrix, null where nothing came back', () => {
    const m = latencyMatrix([
      stats('box2', [['box1', '172.31.250.11', 250_000]]),
      stats('box1', [['box2', '172.31.250.12', 1_234_567], ['box3', '172.31.250.13', undefined]]),
    ]);
    assert.deepEqual(m.nodes, ['box1', 'box2', 'box3']);
    assert.equal(m.rows.length, 3);
    assert.deepEqual(m.matrix.box1, { box2: 1.235, box3: null });
    assert.deepEqual(m.matrix.box2, { box1: 0.25, box3: null });
    assert.deepEqual(m.rows.find((r) => r.to === 'box3'), { from: 'box1', to: 'box3', targetIP: '172.31.250.13', rttMs: null, lastRecvTime: null });
  });
});
