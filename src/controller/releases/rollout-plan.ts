// The rollout's decisions as pure functions (unit-tested without a controller): which nodes go
// in which wave, and — from the nodes' reports — each node's state, when the rollout pauses and
// when it moves on to the next wave.
import type { NodeReported } from '../../api/node-state.js';
import type { ReleaseArch, Rollout, RolloutNode } from '../../api/release.js';

/**
 * Waves are cumulative shares of the nodes, in name order: the canary takes ceil(canary% × N)
 * (at least one), each wave tops up to ceil(wave% × N). A wave with nothing new is left empty
 * (and skipped).
 */
export function assignWaves(nodes: readonly string[], canaryPercent: number, wavePercents: readonly number[]): string[][] {
  const sorted = [...nodes].sort();
  const waves: string[][] = [];
  let taken = 0;
  for (const pct of [canaryPercent, ...wavePercents]) {
    const upTo = Math.min(sorted.length, Math.max(waves.length === 0 ? 1 : 0, Math.ceil((pct / 100) * sorted.length - 1e-9)));
    waves.push(sorted.slice(taken, Math.max(taken, upTo)));
    taken = Math.max(taken, upTo);
  }
  return waves;
}

/**
 * What one node's report says about the rollout's release. A refusal or rollback counts when it
 * is about this rollout (or names none): one left from an earlier rollout of the same version —
 * e.g. of a manifest since corrected and uploaded again — is the past, not this rollout's outcome.
 */
export function nodeState(release: string, wave: number, reported: NodeReported | undefined, arches: ReadonlySet<ReleaseArch>, previous?: RolloutNode, rollout?: string): RolloutNode {
  const base = { wave, ...(previous?.acknowledged ? { acknowledged: true } : {}) };
  const u = reported?.update;
  if (!reported) return { ...base, state: 'pending', reason: 'no report from the node yet' };
  if (!u) return { ...base, state: 'pending', version: reported.agentVersion, reason: 'the node reports no updater state (not running from a release layout, or starting)' };
  const info = { version: u.running, updateState: u.state };
  const ours = u.target === release && (!u.rollout || !rollout || u.rollout === rollout);
  // First: the new version itself says it is rolling back (its last report before the switch back).
  if (ours && (u.state === 'refused' || u.state === 'rolledBack')) {
    return { ...base, ...info, state: 'failed', reason: `${u.state === 'rolledBack' ? 'rolled back' : 'refused'}: ${u.reason ?? 'no reason given'}` };
  }
  if (u.running === release) {
    // Healthy: the new version runs and confirmed its health (committed), or runs with nothing pending.
    if (u.state === 'confirming' || u.state === 'restarting') return { ...base, ...info, state: 'updating' };
    return { ...base, ...info, state: 'healthy' };
  }
  if (!arches.has(u.arch)) return { ...base, ...info, state: 'failed', reason: `no release ${release} uploaded for ${u.arch}` };
  return { ...base, ...info, state: 'updating', ...(ours && u.reason ? { reason: u.reason } : {}) };
}

/**
 * One evaluation step of a Running or Paused rollout: node states from the reports, then pause
 * on the failure threshold, or move to the next non-empty wave when every node of the current
 * one is healthy (or its failure was acknowledged), or complete. Returns a new object.
 */
export function evaluateRollout(r: Rollout, reports: ReadonlyMap<string, NodeReported>, arches: ReadonlySet<ReleaseArch>, now = new Date().toISOString()): Rollout {
  if (r.phase !== 'Running' && r.phase !== 'Paused') return r;
  const next: Rollout = structuredClone(r);
  for (let w = 0; w <= next.wave && w < next.waves.length; w++) {
    for (const node of next.waves[w]!) next.nodes[node] = nodeState(next.release, w, reports.get(node), arches, next.nodes[node], next.name);
  }
  const failed = Object.entries(next.nodes).filter(([, n]) => n.state === 'failed' && !n.acknowledged);
  if (next.phase === 'Running' && failed.length >= next.maxFailures) {
    next.phase = 'Paused';
    next.reason = `paused: ${failed.length} failed (max-failures ${next.maxFailures}): ${failed.map(([name, n]) => `${name}: ${n.reason}`).join('; ')}`;
  }
  while (next.phase === 'Running') {
    const current = next.waves[next.wave] ?? [];
    const done = current.every((n) => next.nodes[n]?.state === 'healthy' || (next.nodes[n]?.state === 'failed' && next.nodes[n]?.acknowledged));
    if (!done) break;
    if (next.wave + 1 >= next.waves.length) {
      next.phase = 'Completed';
      const healthy = Object.values(next.nodes).filter((n) => n.state === 'healthy').length;
      next.reason = `completed: ${healthy} of ${Object.keys(next.nodes).length} nodes run ${next.release}`;
      break;
    }
    next.wave++;
    for (const n of next.waves[next.wave]!) next.nodes[n] = nodeState(next.release, next.wave, reports.get(n), arches, next.nodes[n], next.name);
  }
  if (JSON.stringify(next) !== JSON.stringify(r)) next.updated = now;
  return next;
}

/** The nodes that are told to run the release: every wave up to the current one, while the rollout is not aborted. */
export function targetedNodes(r: Rollout): string[] {
  if (r.phase === 'Aborted') return [];
  return r.waves.slice(0, r.wave + 1).flat();
}
