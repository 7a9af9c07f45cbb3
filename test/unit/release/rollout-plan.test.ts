// The rollout's pure decisions: wave assignment, node states from reports, pause and advance.
import assert from 'node:assert/strict';
import type { NodeReported } from '../../../src/api/node-state.js';
import type { Rollout, UpdateStatus } from '../../../src/api/release.js';
import { RolloutEventFieldsSchema } from '../../../src/api/release.js';
import { rolloutEvents } from '../../../src/controller/releases/rollout-events.js';
import { assignWaves, evaluateRollout, targetedNodes } from '../../../src/controller/releases/rollout-plan.js';

const report = (node: string, update?: Partial<UpdateStatus>): NodeReported => ({
  node, observedGeneration: 1, objects: {}, errors: [], inventory: { pods: [] }, agentVersion: update?.running ?? '0.1.0', uptimeSeconds: 1,
  ...(update ? { update: { arch: 'amd64', running: '0.1.0', state: 'idle', previous: [], ts: 1, ...update } } : {}),
});

const rollout = (waves: string[][], maxFailures = 1): Rollout => ({
  name: 'r', release: '0.2.0', canaryPercent: 5, wavePercents: [25, 100], maxFailures, phase: 'Running', wave: 0, waves, nodes: {}, created: 't', updated: 't',
});

describe('rollouts: plan', () => {
  it('assigns cumulative waves, the canary at least one node', () => {
    assert.deepEqual(assignWaves(['c', 'a', 'b'], 5, [25, 100]), [['a'], [], ['b', 'c']]);
    assert.deepEqual(assignWaves(['n1', 'n2', 'n3', 'n4'], 25, [50, 100]), [['n1'], ['n2'], ['n3', 'n4']]);
    assert.deepEqual(assignWaves(Array.from({ length: 20 }, (_, i) => `n${String(i).padStart(2, '0')}`), 5, [25, 100]).map((w) => w.length), [1, 4, 15]);
  });

  it('counts a refusal of its release only when it is about this rollout (not one left from an earlier rollout)', () => {
    const arches = new Set(['amd64'] as const);
    const stale = new Map([['a', report('a', { state: 'refused', target: '0.2.0', rollout: 'earlier', reason: 'release 0.2.0 (amd64) expired at …' })]]);
    let r = evaluateRollout(rollout([['a'], [], ['b']]), stale, arches);
    assert.equal(r.phase, 'Running');
    assert.deepEqual([r.nodes.a!.state, r.nodes.a!.reason], ['updating', undefined]);
    r = evaluateRollout(r, new Map([['a', report('a', { state: 'refused', target: '0.2.0', rollout: 'r', reason: 'refused earlier: expired' })]]), arches);
    assert.equal(r.phase, 'Paused');
    assert.equal(r.nodes.a!.reason, 'refused: refused earlier: expired');
  });

  it('moves to the next non-empty wave only when every node of the wave is healthy on the release', () => {
    const arches = new Set(['amd64'] as const);
    let r = rollout([['a'], [], ['b', 'c']]);
    r = evaluateRollout(r, new Map([['a', report('a', { state: 'downloading', target: '0.2.0' })]]), arches);
    assert.equal(r.wave, 0);
    assert.deepEqual(targetedNodes(r), ['a']);
    r = evaluateRollout(r, new Map([['a', report('a', { running: '0.2.0', state: 'confirming', target: '0.2.0' })]]), arches);
    assert.equal(r.wave, 0, 'confirming is not healthy yet');
    r = evaluateRollout(r, new Map([['a', report('a', { running: '0.2.0', state: 'committed', target: '0.2.0' })]]), arches);
    assert.equal(r.wave, 2, 'the empty wave is skipped');
    assert.deepEqual(targetedNodes(r), ['a', 'b', 'c']);
    const all = new Map(['a', 'b', 'c'].map((n) => [n, report(n, { running: '0.2.0', state: 'committed', target: '0.2.0' })]));
    r = evaluateRollout(r, all, arches);
    assert.equal(r.phase, 'Completed');
    assert.match(r.reason ?? '', /3 of 3 nodes run 0.2.0/);
  });

  it('pauses at the failure threshold and says which node failed and why', () => {
    const arches = new Set(['amd64'] as const);
    let r = rollout([['a', 'b'], ['c']]);
    const reports = new Map([
      ['a', report('a', { running: '0.2.0', state: 'committed', target: '0.2.0' })],
      ['b', report('b', { state: 'rolledBack', target: '0.2.0', reason: 'health check failed: forced' })],
    ]);
    r = evaluateRollout(r, reports, arches);
    assert.equal(r.phase, 'Paused');
    assert.equal(r.wave, 0);
    assert.equal(r.nodes.b!.state, 'failed');
    assert.match(r.reason ?? '', /1 failed \(max-failures 1\): b: rolled back: health check failed: forced/);
    // Resumed (the failure accepted): the wave completes without b.
    r = { ...r, phase: 'Running', nodes: { ...r.nodes, b: { ...r.nodes.b!, acknowledged: true } } };
    r = evaluateRollout(r, reports, arches);
    assert.equal(r.wave, 1);
    assert.equal(r.nodes.b!.acknowledged, true);
  });

  it('fails a node whose new version reports its own rollback (before the old one is back)', () => {
    const r = evaluateRollout(rollout([['a']]), new Map([['a', report('a', { running: '0.2.0', state: 'rolledBack', target: '0.2.0', reason: 'health check failed' })]]), new Set(['amd64'] as const));
    assert.equal(r.phase, 'Paused');
    assert.equal(r.nodes.a!.state, 'failed');
  });

  it('fails a node whose architecture has no release', () => {
    const r = evaluateRollout(rollout([['a']]), new Map([['a', report('a', { arch: 'armhf' })]]), new Set(['amd64'] as const));
    assert.equal(r.phase, 'Paused');
    assert.match(r.nodes.a!.reason ?? '', /no release 0.2.0 uploaded for armhf/);
  });

  it('turns each stored change into rollout events: created, node outcomes, waves, phases', () => {
    const arches = new Set(['amd64'] as const);
    const seen = (prev: Rollout | undefined, next: Rollout) => rolloutEvents(prev, next, 5).map((e) => [e.node, e.severity, e.fields?.phase, e.fields?.state ?? e.fields?.wave]);
    const r0 = rollout([['a'], ['b', 'c']]);
    assert.deepEqual(seen(undefined, r0), [['', 'info', 'Running', 0]]);
    const r1 = evaluateRollout(r0, new Map([['a', report('a', { running: '0.2.0', state: 'committed', target: '0.2.0' })]]), arches);
    assert.deepEqual(seen(r0, r1), [['a', 'info', 'Running', 'healthy'], ['', 'info', 'Running', 1]], 'a node outcome, then the wave it opened');
    const reports = new Map([['b', report('b', { state: 'rolledBack', target: '0.2.0', reason: 'health check failed' })], ['c', report('c', { state: 'downloading', target: '0.2.0' })]]);
    const r2 = evaluateRollout(r1, reports, arches);
    const events = rolloutEvents(r1, r2, 5);
    assert.deepEqual(events.map((e) => [e.node, e.severity, e.fields?.phase, e.fields?.state]), [['b', 'error', 'Paused', 'failed'], ['', 'warning', 'Paused', undefined]], 'c (updating) is no outcome');
    assert.match(events[0]!.message, /b failed to update to 0.2.0 \(rollout r\): rolled back: health check failed/);
    assert.equal(events[0]!.fields?.updateState, 'rolledBack');
    assert.match(events[1]!.message, /rollout r paused: paused: 1 failed/);
    for (const e of events) assert.equal(RolloutEventFieldsSchema.safeParse(e.fields).success, true, 'fields match the one schema');
    assert.deepEqual(seen(r2, evaluateRollout(r2, reports, arches)), [], 'no change, no event');
    const aborted = rolloutEvents(r2, { ...r2, phase: 'Aborted', reason: 'aborted by the operator' }, 5);
    assert.deepEqual(aborted.map((e) => [e.node, e.severity, e.fields?.phase, e.message]), [['', 'warning', 'Aborted', 'rollout r aborted: aborted by the operator']]);
  });
});
