// A rollout's changes as events of the controller's event stream (type `rollout`, shown by
// GET /api/v1/events, `seinectl get events` and the seine-events node): what changed between
// two stored states of one rollout — created, phase, wave started, a node's update outcome.
import type { Rollout, RolloutEventFields } from '../../api/release.js';
import type { NodeEvent } from '../events.js';

export const ROLLOUT_EVENT_TYPE = 'rollout';

/** The events from `prev` (undefined: just created) to `next`; fleet-wide ones have node ''. */
export function rolloutEvents(prev: Rollout | undefined, next: Rollout, ts = Date.now()): NodeEvent[] {
  const out: NodeEvent[] = [];
  const base = { rollout: next.name, release: next.release, phase: next.phase, wave: next.wave };
  const event = (severity: NodeEvent['severity'], message: string, fields: RolloutEventFields, node = ''): NodeEvent =>
    // No `object`: that is an objectKey() of a stored kind, and a rollout is not one (fields.rollout names it).
    ({ node, ts, severity, type: ROLLOUT_EVENT_TYPE, message, fields });
  if (!prev) out.push(event('info', `rollout ${next.name} of ${next.release} created: ${next.waves.length} waves`, base));
  // Node outcomes first: they are what made the phase move.
  for (const [node, n] of Object.entries(next.nodes)) {
    if (prev?.nodes[node]?.state === n.state || (n.state !== 'healthy' && n.state !== 'failed')) continue;
    const fields = { ...base, node, state: n.state, ...(n.updateState ? { updateState: n.updateState } : {}), ...(n.reason ? { reason: n.reason } : {}) };
    out.push(n.state === 'healthy'
      ? event('info', `${node} runs ${next.release} (rollout ${next.name})`, fields, node)
      : event('error', `${node} failed to update to ${next.release} (rollout ${next.name}): ${n.reason ?? 'no reason given'}`, fields, node));
  }
  const reason = next.reason ? { reason: next.reason } : {};
  if (prev && prev.phase !== next.phase) {
    const severity = next.phase === 'Paused' || next.phase === 'Aborted' ? 'warning' : 'info';
    out.push(event(severity, `rollout ${next.name} ${next.phase.toLowerCase()}${next.phase === 'Running' ? ' (resumed)' : ''}${next.reason ? `: ${next.reason}` : ''}`, { ...base, ...reason }));
  }
  // A later wave started (the canary, wave 0, starts with the creation).
  if (prev ? next.wave > prev.wave : next.wave > 0) out.push(event('info', `rollout ${next.name}: wave ${next.wave} started (${next.waves[next.wave]?.join(', ')})`, base));
  return out;
}
