// Policy status from node reports (Antrea's NetworkPolicyStatus): a node counts as realized
// when it reports this generation Realized; any node reporting this generation Failed fails the
// object; nobody realized yet is Pending, some is Realizing, all of the span (even none) Realized.
import type { NodeRealization, PolicyStatus } from './controller-api.js';
import { objectKey, type NodeReported, type ObjectRef } from './node-state.js';

type Reports = ReadonlyMap<string, Pick<NodeReported, 'objects'>>;
type Subject = ObjectRef & { generation: number };

export function computeStatus(record: Subject, spanNodes: readonly string[], reports: Reports): PolicyStatus {
  const key = objectKey(record);
  let realized = 0;
  const failures: string[] = [];
  for (const node of spanNodes) {
    const got = reports.get(node)?.objects[key];
    if (!got || got.generation !== record.generation) continue;
    if (got.phase === 'Realized') realized++;
    else failures.push(failureOf(node, got.reason));
  }
  return statusFromCounts(record.generation, realized, spanNodes.length, failures.length, failures.slice(0, MAX_FAILURES_SHOWN));
}

/** Failures named in the status message (the first ones, in span order). */
export const MAX_FAILURES_SHOWN = 5;

/** How a node's failure reads in the status message. */
export function failureOf(node: string, reason: string | undefined): string {
  return `${node}: ${reason ?? 'failed'}`;
}

/**
 * The status from counts over the span (the controller keeps them per object as reports come):
 * `realized` and `failed` nodes report this generation; `shown`: the first failures, in span order.
 */
export function statusFromCounts(generation: number, realized: number, desired: number, failed: number, shown: readonly string[]): PolicyStatus {
  // A policy that applies to no pod has nothing to realize: Realized with 0/0, as in Antrea.
  const phase = failed ? 'Failed' : realized === desired ? 'Realized' : realized > 0 ? 'Realizing' : 'Pending';
  return {
    phase,
    observedGeneration: generation,
    currentNodesRealized: realized,
    desiredNodesRealized: desired,
    ...(failed
      ? { conditions: [{ type: 'Realized', status: 'False' as const, reason: 'NodeFailure', message: shown.join('; ') }] }
      : {}),
  };
}

/** Per node of the span: what it reports for this object (describe shows it). */
export function nodeRealization(record: Subject, spanNodes: readonly string[], reports: Reports, online: (node: string) => boolean): NodeRealization[] {
  const key = objectKey(record);
  return spanNodes.map((node) => {
    const got = reports.get(node)?.objects[key];
    const current = got?.generation === record.generation;
    return {
      node,
      online: online(node),
      realizedGeneration: got?.generation ?? null,
      phase: got && current ? got.phase : 'Pending',
      ...(got?.reason ? { reason: got.reason } : !current && got ? { reason: `generation ${got.generation} realized, ${record.generation} pending` } : {}),
    };
  });
}
